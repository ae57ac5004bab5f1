"""Item-item term: what users who had the history's items went on to have.

The towers read text and ids; neither sees which items are *had together*
across users. This term adds to an item's retrieval and ranking score

    scale * sum_{h in set(history)} B[h, item]

with ``B`` the EASE item-item model (Steck 2019) of the training log: the
closed-form ridge regression of each item's column of the user x item matrix on
the other columns, ``B = I - P / diag(P)``, ``P = (X'X + l2 I)^-1``. Only the
``model.item_item_max_items`` most-interacted items take part (the inversion is
cubic in their number), and each history item keeps its
``model.item_item_neighbours`` strongest weights, so the model holds
[items x neighbours] numbers and a request reads history length x neighbours of them. Items
without training interactions get nothing from it: cold-start items are left to
the text.

``scale`` is fitted after the towers are trained, like the other terms: the
grid point that maximises the full-catalogue softmax likelihood of the
validation examples, scale 0 (no term) included. ``B`` is learnt from the
training split, which holds none of the validation interactions (learnt with
them, it would predict them too well and the scale would come out too large).
"""
from __future__ import annotations

import dataclasses
from typing import List, Sequence

import numpy as np
import scipy.sparse
import tensorflow as tf

from trainer import likelihood

#: The grid ``fit`` searches.
SCALES = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0)


def ease(user_rows: np.ndarray, item_rows: np.ndarray, num_items: int, l2: float, max_items: int,
         neighbours: int):
    """The EASE weights of interactions (user, catalogue row), pruned: each row's
    ``neighbours`` largest weights as (columns [num_items, K] int64, weights
    [num_items, K] float32), K = min(neighbours, items taking part - 1). Rows of
    items that do not take part (no interactions, or beyond the ``max_items``
    most-interacted) have weight 0."""
    counts = np.bincount(item_rows, minlength=num_items)
    interacted = np.flatnonzero(counts)
    kept = interacted[np.argsort(-counts[interacted], kind="stable")][:max_items]
    k = max(0, min(neighbours, len(kept) - 1))
    columns = np.zeros((num_items, k), dtype=np.int64)
    weights = np.zeros((num_items, k), dtype=np.float32)
    if k == 0:
        return columns, weights
    position = np.full(num_items, -1)
    position[kept] = np.arange(len(kept))
    taking_part = position[item_rows] >= 0
    users, user_of = np.unique(user_rows[taking_part], return_inverse=True)
    # Binary user x item matrix: repeated interactions count once.
    x = scipy.sparse.csr_matrix(
        (np.ones(len(user_of), dtype=np.float64), (user_of, position[item_rows[taking_part]])),
        shape=(len(users), len(kept)),
    )
    x.data[:] = 1.0  # csr_matrix summed the duplicates
    gram = (x.T @ x).toarray()
    gram[np.diag_indices_from(gram)] += l2
    p = np.linalg.inv(gram)
    b = -p / np.diag(p)[np.newaxis, :]
    np.fill_diagonal(b, -np.inf)  # an item is not its own neighbour
    best = np.argpartition(-b, k - 1, axis=1)[:, :k]
    columns[kept] = kept[best]
    weights[kept] = np.take_along_axis(b, best, axis=1)
    return columns, weights


class ItemItem(tf.Module):
    """The item-item term of a history (see module docstring): pruned EASE
    weights ``columns`` / ``weights`` [N, K] over N catalogue rows, times ``scale``."""

    def __init__(self, columns: np.ndarray, weights: np.ndarray, scale: float = 1.0):
        super().__init__(name="item_item")
        self.num_items = len(columns)
        self.columns = tf.Variable(columns, trainable=False, dtype=tf.int64, name="columns")
        self.weights = tf.Variable(weights, trainable=False, dtype=tf.float32, name="weights")
        self.scale = tf.Variable(scale, trainable=False, dtype=tf.float32, name="scale")

    def __call__(self, history_rows: tf.RaggedTensor) -> tf.Tensor:
        """Scores [B, N] of every catalogue row under each history (ragged [B, None]
        catalogue rows; an item repeated in a history counts once). Costs
        history length x K, not N x K: only the history's rows are read."""
        n = tf.constant(self.num_items, tf.int64)
        # Distinct (example, history row) pairs, as example * N + row.
        pairs, _ = tf.unique(history_rows.value_rowids() * n + history_rows.flat_values)
        example, row = pairs // n, pairs % n
        columns = tf.gather(self.columns, row)  # [pairs, K]
        index = tf.stack([tf.broadcast_to(example[:, tf.newaxis], tf.shape(columns)), columns], axis=-1)
        shape = tf.stack([tf.cast(history_rows.nrows(), tf.int64), n])
        # scatter_nd sums the weights two history items give the same column.
        return self.scale * tf.scatter_nd(index, tf.gather(self.weights, row), shape)


def scores(columns: np.ndarray, weights: np.ndarray, histories: Sequence[np.ndarray], batch_size: int = 256) -> np.ndarray:
    """Unscaled item-item scores [M, N] of the M histories (catalogue rows)."""
    term = ItemItem(columns, weights)
    parts = [
        term(tf.ragged.constant([np.asarray(h, dtype=np.int64) for h in histories[i : i + batch_size]],
                                dtype=tf.int64, ragged_rank=1)).numpy()
        for i in range(0, len(histories), batch_size)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, len(columns)), dtype=np.float32)


@dataclasses.dataclass
class Fit:
    """The chosen scale, the mean log-likelihood with and without it, the
    log-likelihood of each grid point, and the chosen term [M, N]."""

    scale: float
    log_likelihood: float
    baseline_log_likelihood: float
    grid: List[dict]
    term: np.ndarray


def fit(unscaled: np.ndarray, scores_without: np.ndarray, excluded: np.ndarray, targets: np.ndarray) -> Fit:
    """The scale (from ``SCALES``) that maximises the mean log-likelihood of
    ``targets`` under a softmax over the whole catalogue of
    ``scores_without + scale * unscaled`` ([M, N] each; ``excluded`` and
    ``targets`` as in ``trainer.affinity.fit``)."""
    search = likelihood.grid_search(
        scores_without, (({"scale": s}, s * unscaled) for s in SCALES[1:]), excluded, targets
    )
    return Fit(scale=search.params.get("scale", 0.0), log_likelihood=search.log_likelihood,
               baseline_log_likelihood=search.baseline_log_likelihood, grid=search.grid, term=search.term)
