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


class IdTwoTower:
    """The TensorFlow Recommenders tutorial's id-only two-tower retrieval model.

    User id and item id embeddings (``dim``), dot-product scores, TFRS
    ``Retrieval`` task (in-batch softmax), Adagrad at ``learning_rate`` for
    ``epochs`` over the training interactions, as in the library's MovieLens
    tutorial. Ids absent from training share one out-of-vocabulary embedding,
    so unseen users get one generic list and cold-start items all score alike.
    """

    def __init__(self, num_users: int, num_items: int, dim: int = 32, epochs: int = 3,
                 batch_size: int = 8192, learning_rate: float = 0.1, seed: int = 42):
        self.num_users, self.num_items = num_users, num_items
        self.dim, self.epochs, self.batch_size = dim, epochs, batch_size
        self.learning_rate, self.seed = learning_rate, seed
        self._user_index = np.zeros(num_users, dtype=np.int64)
        self._item_index = np.zeros(num_items, dtype=np.int64)
        self._user_embeddings = np.zeros((1, dim), dtype=np.float32)
        self._item_embeddings = np.zeros((1, dim), dtype=np.float32)

    def fit(self, user_rows: Sequence[int], item_rows: Sequence[int]) -> "IdTwoTower":
        """Trains on (user, item) training interactions (integer rows)."""
        import tensorflow as tf
        import tensorflow_recommenders as tfrs

        users, items = np.asarray(user_rows, dtype=np.int64), np.asarray(item_rows, dtype=np.int64)
        # Vocabulary of ids seen in training; index 0 is the shared OOV bucket.
        for ids, index in ((users, self._user_index), (items, self._item_index)):
            seen = np.unique(ids)
            index[:] = 0
            index[seen] = np.arange(1, len(seen) + 1)
        tf.keras.utils.set_random_seed(self.seed)
        user_model = tf.keras.layers.Embedding(int(self._user_index.max()) + 1, self.dim)
        item_model = tf.keras.layers.Embedding(int(self._item_index.max()) + 1, self.dim)
        candidates = tf.data.Dataset.from_tensor_slices(np.arange(int(self._item_index.max()) + 1)).batch(1024)

        class Model(tfrs.Model):
            def __init__(self):
                super().__init__()
                self.user_model, self.item_model = user_model, item_model
                self.task = tfrs.tasks.Retrieval(
                    metrics=tfrs.metrics.FactorizedTopK(candidates=candidates.map(item_model))
                )

            def compute_loss(self, features, training=False):
                return self.task(self.user_model(features["user"]), self.item_model(features["item"]),
                                 compute_metrics=not training)

        model = Model()
        model.compile(optimizer=tf.keras.optimizers.Adagrad(learning_rate=self.learning_rate))
        data = tf.data.Dataset.from_tensor_slices({"user": self._user_index[users], "item": self._item_index[items]})
        data = data.shuffle(len(users), seed=self.seed, reshuffle_each_iteration=False).batch(self.batch_size)
        model.fit(data, epochs=self.epochs, verbose=0)
        self._user_embeddings = user_model.embeddings.numpy()
        self._item_embeddings = item_model.embeddings.numpy()
        return self

    def score(self, user_rows: Sequence[int]) -> np.ndarray:
        """[B, N] dot-product scores of every catalogue item for each user."""
        queries = self._user_embeddings[self._user_index[np.asarray(user_rows, dtype=np.int64)]]
        return queries @ self._item_embeddings[self._item_index].T
