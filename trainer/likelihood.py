"""The likelihood the post-training fits maximise: a softmax over the whole
catalogue, with each example's history left out (as retrieval leaves it out)."""
from __future__ import annotations

import dataclasses
from typing import Iterable, List, Sequence, Tuple

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


@dataclasses.dataclass
class GridSearch:
    """The best grid point's parameters ({} when none beat the scores alone) and
    term (0 then), its mean log-likelihood and the scores' own, and every point's."""

    params: dict
    term: np.ndarray
    log_likelihood: float
    baseline_log_likelihood: float
    grid: List[dict]


def grid_search(scores: np.ndarray, candidates: Iterable[Tuple[dict, np.ndarray]], excluded: np.ndarray,
                targets: np.ndarray) -> GridSearch:
    """The (params, term [M, N]) among ``candidates`` under which ``scores + term``
    gives ``targets`` the highest mean log-likelihood, if it beats ``scores`` alone."""
    scores = np.asarray(scores, dtype=np.float32)
    baseline = mean_log_likelihood(scores, excluded, targets)
    best = GridSearch({}, np.zeros_like(scores), baseline, baseline, [])
    for params, term in candidates:
        value = mean_log_likelihood(scores + term, excluded, targets)
        best.grid.append({**params, "log_likelihood": round(value, 4)})
        if value > best.log_likelihood:
            best.params, best.term, best.log_likelihood = params, term, value
    return best
