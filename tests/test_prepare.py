import os

import numpy as np
import pytest
import tensorflow as tf

from bertrec import features as F
from bertrec.config import DataConfig, GeneratorConfig
from bertrec.data import generate, prepare
from bertrec.data.csv_io import DataError
from conftest import held_out_leaks


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("data"))
    generate.write(generate.generate(GeneratorConfig(num_items=120, num_users=40, num_interactions=1500)), directory)
    return directory


def _examples(items, interactions, **config):
    for n, r in enumerate(interactions):
        r.setdefault("_row", n + 2)
    return prepare.build_examples(items, interactions, DataConfig(**config))


ITEMS = [{"item_id": f"i{n}", "title": f"Title {n}", "description": "", "tags": ""} for n in range(6)]


def test_history_holds_only_strictly_earlier_items_most_recent_first():
    interactions = [
        {"user_id": "u", "item_id": "i0", "rating": 5.0, "timestamp": 1},
        {"user_id": "u", "item_id": "i1", "rating": 4.0, "timestamp": 2},
        {"user_id": "u", "item_id": "i2", "rating": 3.0, "timestamp": 2},  # same time as i1
        {"user_id": "u", "item_id": "i3", "rating": 5.0, "timestamp": 3},
        {"user_id": "u", "item_id": "i0", "rating": 5.0, "timestamp": 4},  # re-consumed
    ]
    splits, _, _ = _examples(ITEMS, interactions, eval_fraction=0.01, validation_fraction=0.01, history_length=1,
                             max_history_items=2)
    # Only the last interaction is held out (eval); a validation one precedes it.
    assert [e[F.ITEM_ID] for e in splits[F.EVAL_SPLIT]] == ["i0"]
    assert [e[F.ITEM_ID] for e in splits[F.VALIDATION_SPLIT]] == ["i3"]
    rows = sorted(sum((splits[s] for s in F.CONTEXT_SPLITS), []), key=lambda e: (e[F.TIMESTAMP], e[F.ITEM_ID]))
    histories = [(e[F.ITEM_ID], e[F.HISTORY_ITEM_IDS]) for e in rows]
    assert histories == [("i0", ""), ("i1", "i0"), ("i2", "i0"), ("i3", "i2 i1"), ("i0", "i3 i2")]
    # The text reads only the history_length most recent of the ids.
    assert rows[3][F.HISTORY_TEXT] == "Title 2"


def test_split_is_by_time_and_catalogue_has_every_item(small_data):
    from bertrec.data import csv_io

    items = csv_io.read_items(os.path.join(small_data, "items.csv"))
    interactions = csv_io.read_interactions(os.path.join(small_data, "interactions.csv"), {i["item_id"] for i in items})
    splits, cutoff, _ = prepare.build_examples(items, interactions, DataConfig(eval_fraction=0.2, max_eval_examples=0))
    train, validation, test = (splits[s] for s in (F.TRAIN_SPLIT, F.VALIDATION_SPLIT, F.EVAL_SPLIT))
    assert max(e[F.TIMESTAMP] for e in validation) < cutoff <= min(e[F.TIMESTAMP] for e in test)
    # Validation is the end of the training period.
    assert max(e[F.TIMESTAMP] for e in train) < min(e[F.TIMESTAMP] for e in validation)
    assert abs(len(validation) - 0.15 * (len(train) + len(validation))) <= 2
    assert len(train) + len(validation) + len(test) == len(interactions)  # nothing dropped
    assert sorted(e[F.ITEM_ID] for e in splits[F.CATALOGUE_SPLIT]) == sorted(i["item_id"] for i in items)


def test_random_split_is_a_seeded_sample_and_histories_stay_in_the_past(small_data):
    from bertrec.data import csv_io

    items = csv_io.read_items(os.path.join(small_data, "items.csv"))
    interactions = csv_io.read_interactions(os.path.join(small_data, "interactions.csv"), {i["item_id"] for i in items})
    config = DataConfig(split="random", eval_fraction=0.2, split_seed=42, max_eval_examples=0)
    splits, _, _ = prepare.build_examples(items, interactions, config)
    again, _, _ = prepare.build_examples(items, interactions, config)
    other, _, _ = prepare.build_examples(
        items, interactions, DataConfig(split="random", eval_fraction=0.2, split_seed=7, max_eval_examples=0))

    def keys(rows):
        return sorted((e[F.USER_ID], e[F.ITEM_ID], e[F.TIMESTAMP]) for e in rows)

    assert sum(len(splits[s]) for s in F.CONTEXT_SPLITS) == len(interactions)
    assert abs(len(splits[F.EVAL_SPLIT]) - 0.2 * len(interactions)) <= 1
    assert keys(splits[F.EVAL_SPLIT]) == keys(again[F.EVAL_SPLIT]) != keys(other[F.EVAL_SPLIT])
    assert keys(splits[F.VALIDATION_SPLIT]) == keys(again[F.VALIDATION_SPLIT]) != keys(other[F.VALIDATION_SPLIT])
    # Not a time split: eval reaches back into train's period.
    assert min(e[F.TIMESTAMP] for e in splits[F.EVAL_SPLIT]) < max(e[F.TIMESTAMP] for e in splits[F.TRAIN_SPLIT])
    times = {}
    for r in interactions:
        times.setdefault(r["user_id"], {}).setdefault(r["item_id"], []).append(r["timestamp"])
    for e in splits[F.EVAL_SPLIT][:200]:
        for h in filter(None, e[F.HISTORY_ITEM_IDS].split()):
            assert min(times[e[F.USER_ID]][h]) < e[F.TIMESTAMP]


@pytest.mark.parametrize("split", ["time", "random"])
def test_no_held_out_pair_reaches_any_input(split):
    # Users never take an item twice here, so a (user, item) pair is one interaction.
    data = generate.generate(GeneratorConfig(num_items=400, num_users=80, num_interactions=3000, seed=3))
    for n, r in enumerate(data.interactions):
        r["_row"] = n + 2
    splits, _, _ = prepare.build_examples(data.items, data.interactions, DataConfig(split=split, max_eval_examples=0))
    assert len(splits[F.EVAL_SPLIT]) > 300 and len(splits[F.VALIDATION_SPLIT]) > 300
    assert held_out_leaks(splits) == []
    # The history text is the titles of the history's first ids: it leaks nothing the ids do not.
    titles = {i["item_id"]: i["title"] for i in data.items}
    for e in sum(splits.values(), []):
        ids = e[F.HISTORY_ITEM_IDS].split()[: DataConfig().history_length]
        assert e[F.HISTORY_TEXT] == F.join_history_text(titles[i] for i in ids)
    # Held-out examples still have a context to go on: the user's training interactions.
    assert np.mean([bool(e[F.HISTORY_ITEM_IDS]) for e in splits[F.EVAL_SPLIT]]) > 0.9
    # The check itself can fail: under the old rule (every earlier interaction is
    # history) both held-out splits leak.
    times = {(r["user_id"], r["item_id"]): r["timestamp"] for r in data.interactions}
    leaky = {name: [dict(e) for e in rows] for name, rows in splits.items()}
    for name in (F.VALIDATION_SPLIT, F.EVAL_SPLIT):
        for e in leaky[name]:
            earlier = sorted((t, i) for (u, i), t in times.items() if u == e[F.USER_ID] and t < e[F.TIMESTAMP])
            e[F.HISTORY_ITEM_IDS] = " ".join(i for _, i in reversed(earlier))
    assert {(F.VALIDATION_SPLIT, F.VALIDATION_SPLIT), (F.EVAL_SPLIT, F.EVAL_SPLIT)} <= {
        (split, held) for split, held, _ in held_out_leaks(leaky)}


def test_splits_that_would_be_empty_are_an_error_naming_the_cause():
    same_time = [{"user_id": f"u{n}", "item_id": "i1", "rating": 1.0, "timestamp": 5} for n in range(8)]
    with pytest.raises(DataError, match="leaves train, validation empty.*cut-off timestamps"):
        _examples(ITEMS, same_time)
    with pytest.raises(DataError, match="2 interactions"):
        _examples(ITEMS, same_time[:2])
    # A random split always has all three.
    splits, _, _ = _examples(ITEMS, [dict(r) for r in same_time], split="random")
    assert all(splits[s] for s in F.CONTEXT_SPLITS)


def test_prepare_writes_splits_and_skips_when_unchanged(small_data, tmp_path):
    out = str(tmp_path / "examples")
    caps = DataConfig(max_eval_examples=50, max_validation_examples=80)
    first = prepare.prepare(small_data, out, caps, log=lambda m: None)
    # Each held-out split has its own cap: test bounds the Evaluator, validation the fits.
    assert not first.skipped and first.counts[F.EVAL_SPLIT] == 50 and first.counts[F.VALIDATION_SPLIT] == 80
    records = list(tf.data.TFRecordDataset(os.path.join(out, "eval", prepare.DATA_FILE), compression_type="GZIP"))
    assert len(records) == 50
    example = tf.train.Example.FromString(records[0].numpy())
    assert set(example.features.feature) == set(F.RAW_FEATURES)
    mtime = os.path.getmtime(os.path.join(out, "train", prepare.DATA_FILE))
    second = prepare.prepare(small_data, out, caps, log=lambda m: None)
    assert second.skipped and os.path.getmtime(os.path.join(out, "train", prepare.DATA_FILE)) == mtime


def test_bad_input_leaves_previous_output_intact(small_data, tmp_path):
    out = str(tmp_path / "examples")
    prepare.prepare(small_data, out, DataConfig(), log=lambda m: None)
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("items.csv", "users.csv"):
        (bad / name).write_text(open(os.path.join(small_data, name)).read())
    (bad / "interactions.csv").write_text("user_id,item_id,rating,timestamp\nu00001,i00001,5,1\nu00001,nope,5,2\n")
    with pytest.raises(DataError, match=r"interactions\.csv, row 3, field 'item_id': unknown item id 'nope'"):
        prepare.prepare(str(bad), out, DataConfig(), log=lambda m: None)
    assert prepare.prepare(small_data, out, DataConfig(), log=lambda m: None).skipped
