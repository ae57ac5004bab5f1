"""Catalogue refresh (``bertrec index``): new, edited, withdrawn and unavailable
items go live as a new version without retraining, on the model the shared tiny
pipeline run pushed; a bad file pushes nothing."""
import csv
import json
import os
import shutil

import numpy as np
import pytest

from conftest import run_bertrec


def _read_items(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _write_items(path, rows):
    from bertrec.data.csv_io import write_rows

    write_rows(str(path), list(rows[0]), rows)


def _variable(model_dir, name):
    import tensorflow as tf

    return tf.train.load_checkpoint(os.path.join(model_dir, "variables", "variables")).get_tensor(
        f"{name}/.ATTRIBUTES/VARIABLE_VALUE")


def _answers(model, histories, signature):
    import tensorflow as tf

    out = model.signatures[signature](user_id=tf.constant(["u"] * len(histories)),
                                      history_item_ids=tf.constant(histories))
    return [[i.decode() for i in row] for row in out["item_ids"].numpy()]


#: Histories the tests ask both versions about.
HISTORIES = 60


@pytest.fixture(scope="module")
def refreshed(pipeline_run, tmp_path_factory):
    """A copy of the pushed model as version 1, refreshed by ``bertrec index``:
    (base dir, old version dir, new version dir, what changed, CLI output).
    The withdrawn and the unavailable item are the two the old version retrieves
    most often for ``HISTORIES`` random histories (``changes["histories"]``)."""
    from collections import Counter

    from serving.loader import load_model

    config_path, config, result = pipeline_run
    pushed = result.stdout.strip().splitlines()[-1]
    directory = tmp_path_factory.mktemp("index")
    base = directory / "models" / "bertrec"
    shutil.copytree(pushed, base / "1")
    items = _read_items(os.path.join(config.paths().data_dir, "items.csv"))
    twin = items[5]
    rng = np.random.RandomState(0)
    histories = [" ".join(rng.choice([i["item_id"] for i in items], 4, replace=False)) for _ in range(HISTORIES)]
    counts = Counter(i for row in _answers(load_model(str(base / "1")), histories, "retrieve") for i in row)
    often = [i for i, _ in counts.most_common() if i not in (twin["item_id"], items[7]["item_id"])]
    changes = {
        # A copy of an existing item's text under a new id: it must embed like its twin.
        "twin_of": twin["item_id"],
        "added": ["new-twin", "new-2", "new-3"],
        "edited": items[7]["item_id"],
        "withdrawn": often[0],
        "unavailable": often[1],
        "histories": histories,
    }
    rows = [dict(r) for r in items if r["item_id"] != changes["withdrawn"]]
    for row in rows:
        if row["item_id"] == changes["edited"]:
            row["description"] = "Rewritten: a story of deep space, starships and distant planets."
    rows.append({**twin, "item_id": "new-twin"})
    for i, item_id in enumerate(changes["added"][1:], 2):
        rows.append({**items[i * 10], "item_id": item_id, "title": f"Brand new {i}"})
    items_path = directory / "items.csv"
    _write_items(items_path, rows)
    unavailable = directory / "unavailable.txt"
    unavailable.write_text(f"# out of stock\n{changes['unavailable']}\n\n")
    out = run_bertrec(["index", "--items", str(items_path), "--unavailable", str(unavailable),
                       "--model", str(base / "1")], config_path)
    new = sorted((p for p in base.iterdir() if p.name.isdigit() and p.name != "1"), key=lambda p: int(p.name))
    assert len(new) == 1, list(base.iterdir())
    return base, str(base / "1"), str(new[0]), changes, out


def test_index_pushes_a_complete_new_version_and_says_what_changed(refreshed):
    base, old, new, changes, out = refreshed
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert (summary["added"], summary["edited"], summary["withdrawn"], summary["unavailable"]) == (3, 1, 1, 1)
    assert summary["version"] == int(os.path.basename(new)) > 1
    # Only the 3 added and the edited item, and a few unchanged ones to check the rebuild on.
    assert "embedded 4 new or edited items" in out.stdout and summary["embedded"] <= 4 + 16
    with open(os.path.join(new, "assets.extra", "training.json")) as f:
        assert json.load(f)["catalogue_refresh"]["from_version"] == "1"
    assert [p.name for p in base.iterdir() if not p.name.isdigit()] == []  # no partial version left


def test_unchanged_items_keep_their_embeddings_bit_for_bit_and_new_ones_embed_like_their_text(refreshed):
    from serving.loader import load_model

    _, old, new, changes, _ = refreshed
    ids_old = [i.decode() for i in load_model(old).catalogue_ids().numpy()]
    ids_new = [i.decode() for i in load_model(new).catalogue_ids().numpy()]
    # Rows only grow: the old rows in place (the withdrawn one too), the new items after them.
    assert ids_new[: len(ids_old)] == ids_old and ids_new[len(ids_old):] == changes["added"]
    before, after = _variable(old, "item_embeddings"), _variable(new, "item_embeddings")
    edited = ids_old.index(changes["edited"])
    same = np.ones(len(ids_old), bool)
    same[edited] = False
    np.testing.assert_array_equal(after[: len(ids_old)][same], before[same])
    assert not np.allclose(after[edited], before[edited], atol=1e-3)
    twin = after[ids_new.index("new-twin")]
    assert float(twin @ before[ids_old.index(changes["twin_of"])]) > 0.8
    assert np.isfinite(after).all()


def test_withdrawn_and_unavailable_items_are_never_returned_and_new_ones_can_be(refreshed):
    import tensorflow as tf

    from serving.loader import load_model

    _, old, new, changes, _ = refreshed
    model = load_model(new)
    ids = [i.decode() for i in model.catalogue_ids().numpy()]
    gone = {changes["withdrawn"], changes["unavailable"]}
    # The old version returned both for these histories (the fixture chose them so).
    histories = changes["histories"] + [changes["twin_of"]]
    returned = {i for row in _answers(model, histories, "retrieve") for i in row}
    returned |= {i for row in _answers(model, histories, "serving_default") for i in row}
    assert not returned & gone
    assert returned & set(changes["added"])
    # A history that names a gone item is still read.
    assert _answers(model, [f"{changes['withdrawn']} {ids[0]}"], "serving_default")[0][0]
    out = model.signatures["rank"](user_id=tf.constant(["u"]), history_item_ids=tf.constant([ids[0]]),
                                   candidate_ids=tf.constant([[changes["withdrawn"], "new-2", ids[1]]]))
    scores = out["scores"].numpy()[0]
    assert scores[0] == 0.0 and scores[1] > 0 and abs(scores.sum() - 1.0) < 1e-5


def test_availability_alone_embeds_nothing_and_an_empty_list_clears_it(refreshed, pipeline_run, tmp_path):
    from serving.loader import load_model

    base, _, new, changes, _ = refreshed
    empty = tmp_path / "none.txt"
    empty.write_text("")
    out = run_bertrec(["index", "--unavailable", str(empty), "--model", new], pipeline_run[0])
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert "new or edited items" not in out.stdout and summary["embedded"] == 0
    assert (summary["added"], summary["edited"], summary["unavailable"], summary["withdrawn"]) == (0, 0, 0, 1)
    cleared = os.path.join(str(base), str(summary["version"]))
    np.testing.assert_array_equal(_variable(cleared, "item_embeddings"), _variable(new, "item_embeddings"))
    returned = {i for row in _answers(load_model(cleared), changes["histories"], "retrieve") for i in row}
    # Available again; the withdrawn item stays withdrawn until a catalogue file lists it.
    assert changes["unavailable"] in returned and changes["withdrawn"] not in returned


@pytest.mark.parametrize("problem, expected", [
    ("duplicate", "items.csv, row 4, field 'item_id': duplicate id"),
    ("unknown", "unavailable.txt, line 2: unknown item id 'no-such-item'"),
    ("older", "is not the newest version"),
])
def test_a_bad_file_or_an_older_version_pushes_nothing_and_names_the_problem(refreshed, pipeline_run, tmp_path,
                                                                            problem, expected):
    from serving.model_versions import latest_version_dir

    base, old, _, _, _ = refreshed
    before = sorted(os.listdir(base))
    rows = _read_items(os.path.join(pipeline_run[1].paths().data_dir, "items.csv"))
    if problem == "duplicate":
        rows.insert(2, dict(rows[0]))
    items_path = tmp_path / "items.csv"
    _write_items(items_path, rows)
    unavailable = tmp_path / "unavailable.txt"
    unavailable.write_text(rows[0]["item_id"] + ("\nno-such-item\n" if problem == "unknown" else "\n"))
    source = old if problem == "older" else latest_version_dir(str(base))
    out = run_bertrec(["index", "--items", str(items_path), "--unavailable", str(unavailable), "--model", source],
                      pipeline_run[0], check=False)
    assert out.returncode == 2, out.stdout + out.stderr
    assert expected in out.stderr, out.stderr
    assert sorted(os.listdir(base)) == before


def test_a_model_without_a_kit_is_refused_with_a_clear_error(pipeline_run, tmp_path):
    pushed = pipeline_run[2].stdout.strip().splitlines()[-1]
    model = tmp_path / "models" / "bertrec" / "1"
    shutil.copytree(pushed, model)
    shutil.rmtree(model / "assets.extra" / "catalogue")
    empty = tmp_path / "none.txt"
    empty.write_text("")
    out = run_bertrec(["index", "--unavailable", str(empty), "--model", str(model)], pipeline_run[0], check=False)
    assert out.returncode == 2 and "carries no catalogue kit" in out.stderr and "retrain" in out.stderr, out.stderr
    assert os.listdir(model.parent) == ["1"]


def test_plan_sorts_items_into_added_edited_unchanged_and_withdrawn():
    from trainer.catalogue_refresh import plan

    changes = plan(["a", "b", "c"], np.array([b"1", b"2", b"3"]), ["c", "b", "d"], np.array([b"3", b"x", b"4"]))
    assert (changes.added, changes.edited, changes.unchanged, changes.withdrawn) == ([2], [1], [0], [0])


def test_item_item_weights_grow_with_zero_rows_for_new_items():
    from trainer.item_item import ItemItem

    term = ItemItem(np.array([[1], [0]], np.int64), np.array([[0.5], [0.25]], np.float32), scale=2.0)
    grown = term.extended(2)
    np.testing.assert_array_equal(grown.weights.numpy(), [[0.5], [0.25], [0.0], [0.0]])
    np.testing.assert_array_equal(grown.columns.numpy()[:2], [[1], [0]])
    assert float(grown.scale.numpy()) == 2.0
