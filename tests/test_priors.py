"""The new-item prior, estimated from a training log."""
import numpy as np
import pytest

from trainer.priors import new_item_boost


def _log(rows):
    """(item indices, timestamps) of (item, time) rows."""
    items, times = zip(*rows)
    return np.array(items), np.array(times)


def test_new_items_drawing_four_times_the_interactions_give_log_4():
    # Items 0..3 exist from the start; in the last quarter of the log (t >= 30)
    # each old item is interacted with once, new items 8 and 9 four times each.
    past = [(i, t) for t, i in enumerate([0, 1, 2, 3] * 5 + [0, 1, 2, 3, 0, 1, 2, 3, 0, 1])]
    window = [(i, 30 + k) for k, i in enumerate([0, 1, 2, 3] + [8] * 4 + [9] * 4)]
    items, times = _log(past + window)
    assert new_item_boost(items, times, window_fraction=12 / 42) == pytest.approx(np.log(4.0))


def test_no_new_items_or_an_empty_log_give_no_boost():
    items, times = _log([(i % 3, t) for t, i in enumerate(range(30))])
    assert new_item_boost(items, times, 0.2) == 0.0
    assert new_item_boost(np.array([], dtype=np.int64), np.array([], dtype=np.int64), 0.2) == 0.0
