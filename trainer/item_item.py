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

``scale`` and the ridge ``l2`` are fitted after the towers are trained, like
the other terms: the grid point (``model.item_item_l2_grid`` x ``SCALES``) that
maximises the full-catalogue softmax likelihood of the validation examples,
scale 0 (no term) included; EASE is learnt once per ridge of the grid. ``B`` is learnt from the
training split, which holds none of the validation interactions (learnt with
them, it would predict them too well and the scale would come out too large).
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import scipy.sparse
import tensorflow as tf

from trainer import likelihood, score_terms

#: The grid ``fit`` searches.
SCALES = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0)


def taking_part(item_rows: np.ndarray, num_items: int, max_items: int) -> np.ndarray:
    """The catalogue rows EASE learns weights for: the at most ``max_items``
    most-interacted of the interactions' ``item_rows``."""
    counts = np.bincount(item_rows, minlength=num_items)
    interacted = np.flatnonzero(counts)
    return interacted[np.argsort(-counts[interacted], kind="stable")][:max_items]


def neighbour_count(item_rows: np.ndarray, num_items: int, max_items: int, neighbours: int) -> int:
    """K, the weights each row keeps: ``neighbours``, at most the other items taking part."""
    return max(0, min(neighbours, len(taking_part(item_rows, num_items, max_items)) - 1))


def ease_grid(user_rows: np.ndarray, item_rows: np.ndarray, num_items: int, l2_values: Sequence[float],
              max_items: int, neighbours: int) -> Dict[float, Tuple[np.ndarray, np.ndarray]]:
    """``ease`` for every ridge of ``l2_values`` ({l2: (columns, weights)}),
    building the Gram matrix once."""
    kept = taking_part(item_rows, num_items, max_items)
    k = neighbour_count(item_rows, num_items, max_items, neighbours)
    empty = (np.zeros((num_items, k), dtype=np.int64), np.zeros((num_items, k), dtype=np.float32))
    if k == 0:
        return {l2: empty for l2 in l2_values}
    position = np.full(num_items, -1)
    position[kept] = np.arange(len(kept))
    in_kept = position[item_rows] >= 0
    users, user_of = np.unique(user_rows[in_kept], return_inverse=True)
    # Binary user x item matrix: repeated interactions count once.
    x = scipy.sparse.csr_matrix(
        (np.ones(len(user_of), dtype=np.float64), (user_of, position[item_rows[in_kept]])),
        shape=(len(users), len(kept)),
    )
    x.data[:] = 1.0  # csr_matrix summed the duplicates
    gram = (x.T @ x).toarray()
    out = {}
    for l2 in l2_values:
        p = np.linalg.inv(gram + l2 * np.eye(len(kept)))
        b = -p / np.diag(p)[np.newaxis, :]
        np.fill_diagonal(b, -np.inf)  # an item is not its own neighbour
        best = np.argpartition(-b, k - 1, axis=1)[:, :k]
        columns, weights = empty[0].copy(), empty[1].copy()
        columns[kept] = kept[best]
        weights[kept] = np.take_along_axis(b, best, axis=1)
        out[l2] = (columns, weights)
    return out


def ease(user_rows: np.ndarray, item_rows: np.ndarray, num_items: int, l2: float, max_items: int,
         neighbours: int) -> Tuple[np.ndarray, np.ndarray]:
    """The EASE weights of interactions (user, catalogue row), pruned: each row's
    ``neighbours`` largest weights as (columns [num_items, K] int64, weights
    [num_items, K] float32), K = ``neighbour_count``. Rows of items that do not
    take part (no interactions, or beyond the ``max_items`` most-interacted)
    have weight 0."""
    return ease_grid(user_rows, item_rows, num_items, [l2], max_items, neighbours)[l2]


def history_scores(columns: tf.Tensor, weights: tf.Tensor, history_rows: tf.RaggedTensor) -> tf.Tensor:
    """Unscaled scores [B, N] of every catalogue row under each history (ragged
    [B, None] catalogue rows; an item repeated in a history counts once), from
    pruned weights ``columns`` / ``weights`` [N, K]. Costs history length x K,
    not N x K: only the history's rows are read."""
    n = tf.shape(columns, out_type=tf.int64)[0]
    # Distinct (example, history row) pairs, as example * N + row.
    pairs, _ = tf.unique(history_rows.value_rowids() * n + history_rows.flat_values)
    example, row = pairs // n, pairs % n
    neighbours = tf.gather(columns, row)  # [pairs, K]
    index = tf.stack([tf.broadcast_to(example[:, tf.newaxis], tf.shape(neighbours)), neighbours], axis=-1)
    shape = tf.stack([tf.cast(history_rows.nrows(), tf.int64), n])
    # scatter_nd sums the weights two history items give the same column.
    return tf.scatter_nd(index, tf.gather(weights, row), shape)


def scores(columns: np.ndarray, weights: np.ndarray, histories: Sequence[np.ndarray],
           batch_size: int = 256) -> np.ndarray:
    """Unscaled item-item scores [M, N] of the M histories (catalogue rows)."""
    parts = [
        history_scores(tf.constant(columns), tf.constant(weights),
                       tf.ragged.constant([np.asarray(h, dtype=np.int64) for h in histories[i : i + batch_size]],
                                          dtype=tf.int64, ragged_rank=1)).numpy()
        for i in range(0, len(histories), batch_size)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, len(columns)), dtype=np.float32)


@dataclasses.dataclass
class _Log:
    """The training interactions the term learns EASE from (a plain object: a
    tf.Module would wrap a tuple or dict of them for saving)."""

    users: np.ndarray
    items: np.ndarray
    num_items: int
    model_config: object


class ItemItem(score_terms.ScoreTerm):
    """The item-item term (see module docstring): pruned EASE weights ``columns`` /
    ``weights`` [N, K] over N catalogue rows, times ``scale``."""

    def __init__(self, columns: np.ndarray, weights: np.ndarray, scale: float = 0.0):
        super().__init__(name="item_item")
        self.columns = tf.Variable(columns, trainable=False, dtype=tf.int64, name="columns")
        self.weights = tf.Variable(weights, trainable=False, dtype=tf.float32, name="weights")
        self.scale = tf.Variable(scale, trainable=False, dtype=tf.float32, name="scale")
        self._log: Optional[_Log] = None

    @classmethod
    def from_log(cls, users: np.ndarray, items: np.ndarray, num_items: int, model_config) -> "ItemItem":
        """The unfitted term of training interactions (user ids, catalogue rows);
        ``fit`` learns EASE for each ridge of ``model_config.item_item_l2_grid``
        and keeps the best."""
        m = model_config
        k = neighbour_count(items, num_items, m.item_item_max_items, m.item_item_neighbours)
        term = cls(np.zeros((num_items, k), np.int64), np.zeros((num_items, k), np.float32))
        term._log = _Log(users, items, num_items, m)
        return term

    @property
    def active(self) -> bool:
        return float(self.scale.numpy()) != 0.0

    def prepare_fit(self, data: score_terms.FitData) -> Dict[float, tuple]:
        """{ridge: (columns, weights, unscaled scores [M, N] of the examples)}."""
        if self._log is None:
            raise ValueError("the item-item term is fitted from a training log: build it with ItemItem.from_log")
        log, m = self._log, self._log.model_config
        weights = ease_grid(log.users, log.items, log.num_items, m.item_item_l2_grid, m.item_item_max_items,
                            m.item_item_neighbours)
        return {l2: (columns, values, scores(columns, values, data.histories))
                for l2, (columns, values) in weights.items()}

    def fit(self, others: np.ndarray, data: score_terms.FitData, candidates) -> Tuple[np.ndarray, dict]:
        """The (ridge, scale) of ``candidates`` x ``SCALES`` that maximises the mean
        log-likelihood of the targets under a softmax over the whole catalogue of
        ``others + scale * unscaled``; scale 0 (no term) when none beats ``others`` alone."""
        search = likelihood.grid_search(
            others,
            (({"l2": l2, "scale": s}, s * unscaled)
             for l2, (_, _, unscaled) in candidates.items() for s in SCALES[1:]),
            data.excluded, data.targets,
        )
        chosen = {"scale": 0.0, "l2": None, **search.params}
        if chosen["scale"]:
            columns, weights, _ = candidates[chosen["l2"]]
            self.columns.assign(columns)
            self.weights.assign(weights)
        self.scale.assign(chosen["scale"])
        return search.term, chosen

    def extended(self, added: int) -> "ItemItem":
        """New items have no training interactions: no weights from or to them."""
        columns, weights = self.columns.numpy(), self.weights.numpy()
        return ItemItem(np.concatenate([columns, np.zeros((added, columns.shape[1]), np.int64)]),
                        np.concatenate([weights, np.zeros((added, weights.shape[1]), np.float32)]),
                        float(self.scale.numpy()))

    def prepare(self, requests: score_terms.Requests) -> tf.Tensor:
        return self.scale * history_scores(self.columns, self.weights, requests.history_rows)

    def scores(self, state: tf.Tensor, rows: Optional[tf.Tensor] = None) -> tf.Tensor:
        """The history's weights of each candidate, times ``scale``."""
        return score_terms.of_rows(state, rows, batch_dims=1)
