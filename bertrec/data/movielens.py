"""MovieLens to bertrec's input format (items.csv, interactions.csv).

Two layouts are recognised in ``--source``:

- MovieLens 100K: ``u.data`` (tab-separated user, item, rating, timestamp) and
  ``u.item`` (``|``-separated, Latin-1: id, title, release date, video release
  date, IMDb URL, 19 genre flags; genre names from ``u.genre`` when present);
- ``ml-latest-small`` (and other ``ml-latest*``): ``ratings.csv``
  (userId, movieId, rating, timestamp) and ``movies.csv`` (movieId, title,
  ``|``-separated genres).

Item text is what MovieLens has: the title and the genres (description
"<title>. Genres: a, b." and the genres as tags). Every rating becomes an
interaction. Nothing of MovieLens is shipped with bertrec (its licence does not
allow redistribution): point this at your own download.
"""
from __future__ import annotations

import csv
import os
from datetime import datetime, timezone
from typing import Dict, List, Tuple

from bertrec.data.csv_io import INTERACTION_COLUMNS, ITEM_COLUMNS, DataError, write_rows

#: The genre flags of u.item, in order, when u.genre is absent.
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)


def _item(movie_id: str, title: str, genres: List[str], released: str = "") -> Dict[str, object]:
    genres = [g for g in genres if g and g not in ("unknown", "(no genres listed)")]
    description = f"{title}. Genres: {', '.join(genres)}." if genres else f"{title}."
    return {"item_id": f"m{movie_id}", "title": title, "description": description, "tags": "|".join(genres),
            "release_timestamp": released}


def _fail(path: str, row: int, field: str, problem: str) -> DataError:
    return DataError(f"{os.path.basename(path)}, row {row}, field {field!r}: {problem}")


def _interaction(path: str, row: int, user: str, movie: str, rating: str, timestamp: str, movies) -> Dict[str, object]:
    if movie not in movies:
        raise _fail(path, row, "item", f"unknown movie id {movie!r}")
    for field, value, kind in (("rating", rating, float), ("timestamp", timestamp, int)):
        try:
            kind(value)
        except ValueError:
            raise _fail(path, row, field, f"{value!r} is not a{'n integer' if kind is int else ' number'}") from None
    if not user:
        raise _fail(path, row, "user", "empty user id")
    return {"user_id": f"u{user}", "item_id": f"m{movie}", "rating": rating, "timestamp": timestamp}


def _read_100k(source: str) -> Tuple[List[dict], List[dict]]:
    genres = list(ML100K_GENRES)
    genre_path = os.path.join(source, "u.genre")
    if os.path.exists(genre_path):
        with open(genre_path, encoding="latin-1") as f:
            genres = [line.split("|")[0] for line in f if line.strip()]
    items_path = os.path.join(source, "u.item")
    items, movies = [], set()
    with open(items_path, encoding="latin-1") as f:
        for row, line in enumerate(f, 1):
            if not line.strip():
                continue
            fields = line.rstrip("\n").split("|")
            if len(fields) != 5 + len(genres):
                raise _fail(items_path, row, "columns",
                            f"expected {5 + len(genres)} '|'-separated fields, got {len(fields)}")
            movie, title, released = fields[0], fields[1].strip(), fields[2].strip()
            if not title:
                raise _fail(items_path, row, "title", "empty title")
            stamp = ""
            if released:
                try:
                    stamp = str(int(datetime.strptime(released, "%d-%b-%Y").replace(tzinfo=timezone.utc).timestamp()))
                except ValueError:
                    raise _fail(items_path, row, "release date", f"{released!r} is not a DD-Mon-YYYY date") from None
            flags = fields[5:]
            items.append(_item(movie, title, [g for g, flag in zip(genres, flags) if flag.strip() == "1"], stamp))
            movies.add(movie)
    ratings_path = os.path.join(source, "u.data")
    interactions = []
    with open(ratings_path, encoding="latin-1") as f:
        for row, line in enumerate(f, 1):
            if not line.strip():
                continue
            fields = line.split()
            if len(fields) != 4:
                raise _fail(ratings_path, row, "columns", f"expected 4 tab-separated fields, got {len(fields)}")
            interactions.append(_interaction(ratings_path, row, *fields, movies))
    return items, interactions


def _read_latest(source: str) -> Tuple[List[dict], List[dict]]:
    movies_path = os.path.join(source, "movies.csv")
    items, movies = [], set()
    with open(movies_path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        for column in ("movieId", "title", "genres"):
            if column not in (reader.fieldnames or []):
                raise DataError(f"movies.csv: missing column {column!r}")
        for row, record in enumerate(reader, 2):
            title = (record["title"] or "").strip()
            if not title:
                raise _fail(movies_path, row, "title", "empty title")
            items.append(_item(record["movieId"], title, (record["genres"] or "").split("|")))
            movies.add(record["movieId"])
    ratings_path = os.path.join(source, "ratings.csv")
    interactions = []
    with open(ratings_path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        for column in ("userId", "movieId", "rating", "timestamp"):
            if column not in (reader.fieldnames or []):
                raise DataError(f"ratings.csv: missing column {column!r}")
        for row, r in enumerate(reader, 2):
            interactions.append(_interaction(ratings_path, row, r["userId"], r["movieId"], r["rating"], r["timestamp"],
                                             movies))
    return items, interactions


def convert(source: str, out: str) -> Tuple[int, int, str]:
    """Converts the MovieLens folder ``source`` into ``out``/items.csv and
    interactions.csv; returns (items, interactions, layout name)."""
    if os.path.exists(os.path.join(source, "u.data")) and os.path.exists(os.path.join(source, "u.item")):
        layout, (items, interactions) = "MovieLens 100K", _read_100k(source)
    elif os.path.exists(os.path.join(source, "ratings.csv")) and os.path.exists(os.path.join(source, "movies.csv")):
        layout, (items, interactions) = "ml-latest", _read_latest(source)
    else:
        raise DataError(
            f"{source}: not a MovieLens folder (expected u.data + u.item, or ratings.csv + movies.csv)"
        )
    os.makedirs(out, exist_ok=True)
    write_rows(os.path.join(out, "items.csv"), ITEM_COLUMNS, items)
    write_rows(os.path.join(out, "interactions.csv"), INTERACTION_COLUMNS, interactions)
    return len(items), len(interactions), layout
