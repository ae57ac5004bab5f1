"""Reading and writing the user-facing CSV files, with errors that name file, row and field.

Input format (UTF-8, header row, comma-separated, RFC 4180 quoting):

``items.csv`` (required)
    ``item_id``            non-empty, unique
    ``title``              non-empty
    ``description``        may be empty
    ``tags``               tags separated by ``|``; may be empty
    ``release_timestamp``  optional column; integer seconds since the epoch when
                           the item became available (negative before 1970;
                           empty or absent: unknown); the model's freshness
                           term reads it

``interactions.csv`` (required)
    ``user_id``    non-empty
    ``item_id``    must exist in items.csv
    ``rating``     number (any scale; the built-in data uses 1-5)
    ``timestamp``  integer seconds since the epoch

``users.csv`` (optional)
    ``user_id``    non-empty, unique; when the file exists, every interaction's
                   user must be listed in it

Extra columns are ignored. Any invalid row stops preparation with an error such
as ``interactions.csv, row 17, field 'rating': 'abc' is not a number``: no row
is dropped silently.
"""
from __future__ import annotations

import csv
import math
import os
from typing import Dict, Iterable, List, Sequence

from bertrec.errors import UserError

ITEM_COLUMNS = ("item_id", "title", "description", "tags", "release_timestamp")
REQUIRED_ITEM_COLUMNS = ("item_id", "title", "description", "tags")
INTERACTION_COLUMNS = ("user_id", "item_id", "rating", "timestamp")
USER_COLUMNS = ("user_id",)


class DataError(UserError):
    """Invalid input data; the message names the file, row and field."""


def write_rows(path: str, columns: Sequence[str], rows: Iterable[Dict[str, object]]) -> str:
    """Writes ``rows`` as CSV with a header; returns the path."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _read(path: str, required: Sequence[str]) -> List[Dict[str, str]]:
    """Rows of a CSV file as dicts (row numbers count the header as row 1)."""
    name = os.path.basename(path)
    if not os.path.exists(path):
        raise DataError(f"{path}: file not found")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            raise DataError(f"{name}: file is empty (expected a header row)") from None
        header = [h.strip() for h in header]
        missing = [c for c in required if c not in header]
        if missing:
            raise DataError(
                f"{name}: missing column(s) {', '.join(repr(m) for m in missing)}; "
                f"found {', '.join(repr(h) for h in header)}"
            )
        rows = []
        for values in reader:
            row_number = reader.line_num
            if not values:
                continue  # blank line
            if len(values) != len(header):
                raise DataError(
                    f"{name}, row {row_number}: malformed row with {len(values)} fields, "
                    f"the header has {len(header)}"
                )
            row = dict(zip(header, values))
            row["_row"] = row_number
            rows.append(row)
    return rows


def _fail(name: str, row: Dict[str, str], field: str, problem: str) -> DataError:
    return DataError(f"{name}, row {row['_row']}, field {field!r}: {problem}")


def _require_text(name: str, row: Dict[str, str], field: str) -> str:
    value = row[field].strip()
    if not value:
        raise _fail(name, row, field, "is empty")
    return value


def _unique_id(name: str, row: Dict[str, str], field: str, seen: Dict[str, int]) -> str:
    """The row's non-empty ``field``, which must not repeat an earlier row's."""
    value = _require_text(name, row, field)
    if value in seen:
        raise _fail(name, row, field, f"duplicate id {value!r} (first at row {seen[value]})")
    seen[value] = row["_row"]
    return value


def _parse_number(name: str, row: Dict[str, str], field: str, kind) -> float:
    raw = row[field].strip()
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value):
        what = "an integer" if kind is int else "a finite number"
        raise _fail(name, row, field, f"{raw!r} is not {what}")
    return value


def read_items(path: str) -> List[Dict[str, object]]:
    """Validated items: item_id, title (whitespace collapsed), description, tags,
    release_timestamp (integer seconds; None where the optional column is absent or empty)."""
    name = os.path.basename(path)
    items, seen = [], {}
    for row in _read(path, REQUIRED_ITEM_COLUMNS):
        item_id = _unique_id(name, row, "item_id", seen)
        items.append({
            "item_id": item_id,
            "title": " ".join(_require_text(name, row, "title").split()),
            "description": " ".join(row["description"].split()),
            "tags": "|".join(t.strip() for t in row["tags"].split("|") if t.strip()),
            "release_timestamp": (
                _parse_number(name, row, "release_timestamp", int)
                if (row.get("release_timestamp") or "").strip() else None
            ),
        })
    if not items:
        raise DataError(f"{name}: no items")
    return items


def read_users(path: str) -> List[str]:
    """Validated, unique user ids."""
    name = os.path.basename(path)
    users, seen = [], {}
    for row in _read(path, USER_COLUMNS):
        users.append(_unique_id(name, row, "user_id", seen))
    return users


def read_interactions(path: str, item_ids, user_ids=None) -> List[Dict[str, object]]:
    """Validated interactions; ids must exist in the catalogue (and users.csv if given)."""
    name = os.path.basename(path)
    out = []
    for row in _read(path, INTERACTION_COLUMNS):
        user_id = _require_text(name, row, "user_id")
        item_id = _require_text(name, row, "item_id")
        if item_id not in item_ids:
            raise _fail(name, row, "item_id", f"unknown item id {item_id!r} (not in items.csv)")
        if user_ids is not None and user_id not in user_ids:
            raise _fail(name, row, "user_id", f"unknown user id {user_id!r} (not in users.csv)")
        out.append({
            "user_id": user_id,
            "item_id": item_id,
            "rating": _parse_number(name, row, "rating", float),
            "timestamp": _parse_number(name, row, "timestamp", int),
            "_row": row["_row"],
        })
    if not out:
        raise DataError(f"{name}: no interactions")
    return out
