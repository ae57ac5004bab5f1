"""The likelihood the post-training fits maximise: a softmax over the whole
catalogue, with each example's history left out (as retrieval leaves it out)."""
from __future__ import annotations

from typing import Sequence

import numpy as np


def excluded_rows(num_items: int, histories: Sequence[np.ndarray], targets: np.ndarray) -> np.ndarray:
    """[M, num_items] True at each example's history rows, except its own target."""
    excluded = np.zeros((len(targets), num_items), dtype=bool)
    for b, rows in enumerate(histories):
        excluded[b, rows] = True
    excluded[np.arange(len(targets)), targets] = False
    return excluded


def log_softmax(scores: np.ndarray, excluded: np.ndarray) -> np.ndarray:
    """Log-probabilities [M, N] of scores [M, N] over the rows not ``excluded`` (-inf there)."""
    scores = np.where(excluded, -np.inf, scores)
    top = scores.max(axis=1, keepdims=True)
    return scores - top - np.log(np.exp(scores - top).sum(axis=1, keepdims=True))


def mean_log_likelihood(scores: np.ndarray, excluded: np.ndarray, targets: np.ndarray) -> float:
    """Mean log-probability of each example's target row."""
    return float(np.mean(log_softmax(scores, excluded)[np.arange(len(targets)), targets]))
