"""Popularity priors the model starts from, estimated from the training log."""
from __future__ import annotations

import numpy as np


def new_item_boost(item_index: np.ndarray, timestamps: np.ndarray, window_fraction: float) -> float:
    """How much more an item is interacted with while it is new, as a log ratio.

    An item the model never saw in training is, in a time-ordered log, usually a
    new release, and new releases draw more attention than their lifetime
    popularity. The last ``window_fraction`` of the training log (by time)
    stands in for the period the model will serve: the boost is the log of the
    mean interactions per item in that window of items first seen in it, over
    that of items seen before it. 0 when either group is empty.

    ``item_index`` and ``timestamps`` are the training interactions' item
    vocabulary indices and times.
    """
    if len(timestamps) == 0:
        return 0.0
    start = np.quantile(timestamps, 1.0 - window_fraction)
    before = np.unique(item_index[timestamps < start])
    in_window = item_index[timestamps >= start]
    is_new = ~np.isin(in_window, before)
    new_items, old_items = np.unique(in_window[is_new]), np.unique(in_window[~is_new])
    if len(new_items) == 0 or len(old_items) == 0:
        return 0.0
    return float(np.log((is_new.sum() / len(new_items)) / ((~is_new).sum() / len(old_items))))
