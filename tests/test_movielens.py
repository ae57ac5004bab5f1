"""MovieLens conversion, on small files this test writes in both layouts
(MovieLens itself may not be redistributed)."""
import os

import pytest

from bertrec.data.csv_io import DataError, read_interactions, read_items
from bertrec.data.movielens import convert


def _flags(*on):
    genres = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
              "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"]
    return "|".join("1" if g in on else "0" for g in genres)


def _write_100k(folder, extra_rating=""):
    os.makedirs(folder, exist_ok=True)
    toy_story = _flags("Animation", "Children's", "Comedy")
    with open(os.path.join(folder, "u.item"), "w", encoding="latin-1") as f:
        f.write(f"1|Toy Story (1995)|01-Jan-1995||http://x|{toy_story}\n")
        f.write(f"2|GoldenEye (1995)|01-Jan-1995||http://x|{_flags('Action', 'Thriller')}\n")
        f.write(f"3|Café Society (1995)||||{_flags('unknown')}\n")
    with open(os.path.join(folder, "u.data"), "w") as f:
        f.write("196\t1\t3\t881250949\n186\t2\t5\t891717742\n196\t3\t1\t878887116\n" + extra_rating)


def test_100k_layout_becomes_items_and_interactions(tmp_path):
    _write_100k(tmp_path / "ml")
    assert convert(str(tmp_path / "ml"), str(tmp_path / "out"))[:2] == (3, 3)
    items = {i["item_id"]: i for i in read_items(str(tmp_path / "out" / "items.csv"))}
    assert items["m1"]["title"] == "Toy Story (1995)"
    assert items["m1"]["description"] == "Toy Story (1995). Genres: Animation, Children's, Comedy."
    assert items["m3"]["title"] == "Café Society (1995)" and items["m3"]["description"] == "Café Society (1995)."
    interactions = read_interactions(str(tmp_path / "out" / "interactions.csv"), set(items))
    assert {(r["user_id"], r["item_id"], r["rating"]) for r in interactions} == {
        ("u196", "m1", 3.0), ("u186", "m2", 5.0), ("u196", "m3", 1.0)}


def test_latest_small_layout(tmp_path):
    source = tmp_path / "ml-latest-small"
    source.mkdir()
    (source / "movies.csv").write_text('movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n'
                                       '2,"Heat, The (1995)",(no genres listed)\n')
    (source / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,2,3.5,964981247\n")
    assert convert(str(source), str(tmp_path / "out"))[:2] == (2, 2)
    items = {i["item_id"]: i for i in read_items(str(tmp_path / "out" / "items.csv"))}
    assert items["m1"]["tags"] == "Adventure|Animation" and items["m2"]["tags"] == ""
    assert items["m2"]["title"] == "Heat, The (1995)"


def test_bad_rows_name_file_row_and_field(tmp_path):
    _write_100k(tmp_path / "ml", extra_rating="5\t99\t4\t881250949\n")
    with pytest.raises(DataError, match=r"u.data, row 4, field 'item': unknown movie id '99'"):
        convert(str(tmp_path / "ml"), str(tmp_path / "out"))
    _write_100k(tmp_path / "ml2", extra_rating="5\t1\tfive\t881250949\n")
    with pytest.raises(DataError, match=r"u.data, row 4, field 'rating': 'five' is not a number"):
        convert(str(tmp_path / "ml2"), str(tmp_path / "out"))
    with pytest.raises(DataError, match="not a MovieLens folder"):
        convert(str(tmp_path), str(tmp_path / "out"))


def test_cli_converts_and_says_where(tmp_path):
    from conftest import run_bertrec

    _write_100k(tmp_path / "ml")
    out = run_bertrec(["data", "movielens", "--source", str(tmp_path / "ml"), "--out", str(tmp_path / "out")])
    assert "MovieLens 100K: wrote 3 items and 3 interactions" in out.stdout
    assert os.path.exists(tmp_path / "out" / "interactions.csv")
