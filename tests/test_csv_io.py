import pytest

from bertrec.data import csv_io
from bertrec.data.csv_io import DataError


def _write(path, text):
    path.write_text(text)
    return str(path)


def test_reads_valid_files(tmp_path):
    items = csv_io.read_items(_write(tmp_path / "items.csv",
                                     'item_id,title,description,tags\ni1,"A  Title",d,"a| b"\n'))
    assert items == [{"item_id": "i1", "title": "A Title", "description": "d", "tags": "a|b",
                      "release_timestamp": None}]
    # Before 1970 and the epoch itself are real release times; only an empty field is unknown.
    text = "item_id,title,description,tags,release_timestamp\ni1,t,d,x,86400\ni2,t,d,x,\ni3,t,d,x,-1000\ni4,t,d,x,0\n"
    assert ([i["release_timestamp"] for i in csv_io.read_items(_write(tmp_path / "dated.csv", text))]
            == [86400, None, -1000, 0])
    rows = csv_io.read_interactions(
        _write(tmp_path / "interactions.csv", "user_id,item_id,rating,timestamp\nu,i1,4.5,10\n"), {"i1"})
    assert rows[0]["rating"] == 4.5 and rows[0]["timestamp"] == 10


@pytest.mark.parametrize("text, message", [
    ("item_id,title,tags\ni1,t,x\n", r"items\.csv: missing column\(s\) 'description'"),
    ("item_id,title,description,tags\ni1,t,d\n", r"items\.csv, row 2: malformed row with 3 fields, the header has 4"),
    ("item_id,title,description,tags\ni1,t,d,x\ni1,u,d,x\n",
     r"items\.csv, row 3, field 'item_id': duplicate id 'i1' \(first at row 2\)"),
    ("item_id,title,description,tags\ni1, ,d,x\n", r"items\.csv, row 2, field 'title': is empty"),
    ("", r"items\.csv: file is empty"),
    ("item_id,title,description,tags,release_timestamp\ni1,t,d,x,2020-01-01\n",
     r"items\.csv, row 2, field 'release_timestamp': '2020-01-01' is not an integer"),
])
def test_item_errors_name_file_row_and_field(tmp_path, text, message):
    with pytest.raises(DataError, match=message):
        csv_io.read_items(_write(tmp_path / "items.csv", text))


@pytest.mark.parametrize("row, message", [
    ("u,i9,4,10", r"row 2, field 'item_id': unknown item id 'i9' \(not in items\.csv\)"),
    ("u,i1,abc,10", r"row 2, field 'rating': 'abc' is not a finite number"),
    ("u,i1,nan,10", r"row 2, field 'rating': 'nan' is not a finite number"),
    ("u,i1,4,yesterday", r"row 2, field 'timestamp': 'yesterday' is not an integer"),
    (",i1,4,10", r"row 2, field 'user_id': is empty"),
    ("stranger,i1,4,10", r"row 2, field 'user_id': unknown user id 'stranger' \(not in users\.csv\)"),
])
def test_interaction_errors_name_file_row_and_field(tmp_path, row, message):
    path = _write(tmp_path / "interactions.csv", f"user_id,item_id,rating,timestamp\n{row}\n")
    with pytest.raises(DataError, match=r"interactions\.csv, " + message):
        csv_io.read_interactions(path, {"i1"}, user_ids={"u"})
