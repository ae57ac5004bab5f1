"""Offline evaluation excludes what serving excludes: an item the user took earlier in the
evaluated period is not ranked against a later target, as the served model would not rank it
for a client sending its whole log; the context (what a model may read) stays leak-free."""
import os

import numpy as np

from bertrec.config import Config
from bertrec.data import csv_io
from bertrec.evaluation import offline

ITEMS = [{"item_id": f"i{n}", "title": f"Title {n}", "description": "", "tags": ""} for n in range(8)]
# u1 takes i0..i3 in the training period, then i4, i5, i4 again in the test period (the latest 3 of 12).
INTERACTIONS = (
    [{"user_id": "u1", "item_id": f"i{n}", "rating": 5, "timestamp": 10 + n} for n in range(4)]
    + [{"user_id": "u2", "item_id": f"i{n}", "rating": 5, "timestamp": 20 + n} for n in range(5)]
    + [{"user_id": "u1", "item_id": item, "rating": 5, "timestamp": t} for item, t in (("i4", 100), ("i5", 101),
                                                                                   ("i4", 102))]
)


def _data(tmp_path):
    csv_io.write_rows(os.path.join(tmp_path, "items.csv"), csv_io.ITEM_COLUMNS, ITEMS)
    csv_io.write_rows(os.path.join(tmp_path, "interactions.csv"), csv_io.INTERACTION_COLUMNS, INTERACTIONS)
    config = Config.from_dict({"data": {"data_dir": str(tmp_path), "eval_fraction": 0.25, "validation_fraction": 0.2,
                                        "max_eval_examples": 0}})
    return offline.EvalData(config)


def test_items_taken_earlier_in_the_test_period_are_excluded_but_not_read(tmp_path):
    held = _data(tmp_path).held_out["test"]
    by_target = {(int(t), int(time)): (list(c), list(x)) for t, time, c, x in
                 zip(held.targets, held.requests.times, held.requests.contexts, held.excluded)}
    assert sorted(by_target) == [(4, 100), (4, 102), (5, 101)]
    context, excluded = by_target[(5, 101)]
    assert 4 not in context and 4 in excluded  # i4 was taken at 100: excluded, never read
    assert set(context) <= set(excluded)
    # Re-consumption stays rankable: i4 again at 102 excludes i5 but not its own target.
    context, excluded = by_target[(4, 102)]
    assert 5 in excluded and 4 not in excluded and 5 not in context
    assert sorted(by_target[(4, 100)][1]) == sorted(by_target[(4, 100)][0])  # nothing earlier in the period


def test_an_earlier_test_item_ranked_first_does_not_count_against_the_target(tmp_path):
    held = _data(tmp_path).held_out["test"]

    def scores(chunk):
        # Every request ranks i4 first, then i5, then the rest.
        s = np.zeros((len(chunk), len(ITEMS)))
        s[:, 4], s[:, 5] = 2.0, 1.0
        return s

    ranks = dict(zip(zip(held.targets.tolist(), held.requests.times.tolist()), offline.ranks_of(scores, held)))
    assert ranks[(5, 101)] == 0  # i4 (taken at 100) is out of the ranking
    assert ranks[(4, 100)] == 0 and ranks[(4, 102)] == 0


def test_items_of_examples_the_cap_left_out_are_still_excluded(tmp_path):
    """The cap samples which examples are scored, not what the user did: an earlier test
    interaction that is not itself a scored example is excluded all the same."""
    rows = ([{"user_id": "u1", "item_id": f"i{n}", "rating": 5, "timestamp": 10 + n} for n in range(4)]
            + [{"user_id": "u2", "item_id": f"i{n}", "rating": 5, "timestamp": 20 + n} for n in range(8)]
            + [{"user_id": "u1", "item_id": f"i{4 + n}", "rating": 5, "timestamp": 100 + n} for n in range(4)])
    csv_io.write_rows(os.path.join(tmp_path, "items.csv"), csv_io.ITEM_COLUMNS, ITEMS)
    csv_io.write_rows(os.path.join(tmp_path, "interactions.csv"), csv_io.INTERACTION_COLUMNS, rows)
    config = Config.from_dict({"data": {"data_dir": str(tmp_path), "eval_fraction": 0.25, "max_eval_examples": 2}})
    held = offline.EvalData(config).held_out["test"]
    # An even sample of two of the four test interactions: i4 at 100 and i6 at 102.
    assert sorted(zip(held.targets.tolist(), held.requests.times.tolist())) == [(4, 100), (6, 102)]
    excluded = dict(zip(held.targets.tolist(), (set(x.tolist()) for x in held.excluded)))
    assert {4, 5} <= excluded[6] and 7 not in excluded[6]  # i5 (101, not scored) too; i7 is later
