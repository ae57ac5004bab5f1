"""Collaborative baselines that score the whole catalogue for a user.

- :class:`MostPopular`: training interaction counts, the same list for everyone.
- :class:`Ease`: EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse
  Data", WWW 2019): a closed-form item-item model,
  ``P = (X^T X + lambda I)^-1``, ``B = -P / diag(P)`` with a zero diagonal;
  a user's scores are ``x_u B`` for their interaction row ``x_u``.

Both know only item ids seen in training: items without training interactions
(cold start) score 0, below every seen item, which is the point of comparing
them with a text model.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np


class MostPopular:
    """Scores = number of training interactions of each item."""

    def __init__(self, num_items: int):
        self.counts = np.zeros(num_items, dtype=np.float64)

    def fit(self, item_rows: Iterable[int]) -> "MostPopular":
        """Counts training interactions (catalogue row indices)."""
        np.add.at(self.counts, np.fromiter(item_rows, dtype=np.int64), 1.0)
        return self

    def score(self, contexts: Sequence[Sequence[int]]) -> np.ndarray:
        """[B, N] scores; the context is ignored."""
        return np.tile(self.counts, (len(contexts), 1))


class Ease:
    """EASE item-item model over binary user x item interactions."""

    def __init__(self, num_items: int, l2: float = 500.0):
        self.num_items = num_items
        self.l2 = l2
        self.weights = np.zeros((num_items, num_items), dtype=np.float32)

    def fit(self, user_item_rows: Sequence[Sequence[int]]) -> "Ease":
        """Fits on each training user's set of catalogue rows."""
        x = np.zeros((len(user_item_rows), self.num_items), dtype=np.float32)
        for user, rows in enumerate(user_item_rows):
            x[user, list(rows)] = 1.0
        gram = (x.T @ x).astype(np.float64)
        gram[np.diag_indices_from(gram)] += self.l2
        p = np.linalg.inv(gram)
        b = -p / np.diag(p)[None, :]
        b[np.diag_indices_from(b)] = 0.0
        self.weights = b.astype(np.float32)
        return self

    def score(self, contexts: Sequence[Sequence[int]]) -> np.ndarray:
        """[B, N] scores for users given by their interacted catalogue rows."""
        x = np.zeros((len(contexts), self.num_items), dtype=np.float32)
        for row, items in enumerate(contexts):
            if len(items):
                x[row, list(items)] = 1.0
        return x @ self.weights
