"""Baselines that score the whole catalogue for held-out requests.

Every baseline learns from the same :class:`TrainingLog` (``fit``) and scores
the same :class:`Requests` (``score`` -> [B, N], higher is better); ``sees``
says what it uses, for the report. Hyper-parameters are chosen on a
:class:`Validation` set carved from the training data (``GRID`` with
``tuning.tune``, or inside ``fit`` for the two-tower's epochs and the score
terms of :class:`WithTerms`).

- :class:`MostPopular`: training interaction counts.
- :class:`RecentPopular`: counts in a window before each request's time.
- :class:`Ease`: EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse
  Data", WWW 2019), ``P = (X^T X + l2 I)^-1``, ``B = -P / diag(P)`` with a zero
  diagonal; a request scores ``x B`` for its binary context row ``x``.
- :class:`IdTwoTower`: the TFRS tutorial's id-only two-tower model.
- :class:`TextSimilarity`: TF-IDF cosine of each item to the context's items.
- :class:`WithTerms`: a base scorer plus popularity and freshness terms.

Where a scorer is indifferent between items (an empty context, items sharing
nothing with it), it breaks the tie by popularity: the metrics count ties
against the target, which would otherwise penalise such a scorer by accident.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
from scipy import linalg, sparse

from bertrec import features as F
from bertrec.evaluation import metrics

DAY = 86_400
#: Score matrix cells computed at once (bounds the memory of ``score``).
CHUNK_CELLS = 1 << 22
#: Weight of the popularity tie-break (popularity normalised to [0, 1]): far
#: below any real score difference of the scorers that use it.
TIE_BREAK = 1e-6


@dataclasses.dataclass
class TrainingLog:
    """The interactions models learn from."""

    users: np.ndarray  # int user rows, [T]
    items: np.ndarray  # int catalogue rows, [T]
    times: np.ndarray  # int64 seconds, [T]
    num_users: int
    num_items: int

    def counts(self) -> np.ndarray:
        """Interactions per catalogue row [N] (float64)."""
        return np.bincount(self.items, minlength=self.num_items).astype(np.float64)


@dataclasses.dataclass
class Requests:
    """Held-out examples to score."""

    users: np.ndarray  # int user rows [B] (a user may have no interactions in the log)
    # Per example, catalogue rows of the user's visible history, most recent
    # first (also the excluded items).
    contexts: List[np.ndarray]
    times: np.ndarray  # int64 request time [B]

    def __len__(self) -> int:
        return len(self.users)

    def __getitem__(self, rows: Union[slice, np.ndarray]) -> "Requests":
        """The requests in ``rows`` (a slice or an index array)."""
        if isinstance(rows, slice):
            return Requests(self.users[rows], self.contexts[rows], self.times[rows])
        return Requests(self.users[rows], [self.contexts[i] for i in rows], self.times[rows])


@dataclasses.dataclass
class Validation:
    """Validation requests and their target rows, to choose hyper-parameters on."""

    requests: Requests
    targets: np.ndarray

    def excluded(self) -> List[np.ndarray]:
        """Each example's excluded items: its context, less its own target (re-consumption
        stays rankable, as in ``trainer.likelihood.excluded_rows``)."""
        return [np.asarray(c)[np.asarray(c) != t] for c, t in zip(self.requests.contexts, self.targets)]

    def evaluate(self, model, metric: str = "ndcg@10") -> float:
        """Mean ``metric`` (see ``metrics.per_example``) of ``model``'s scores, scored in chunks."""
        excluded, values = self.excluded(), []
        step = max(1, CHUNK_CELLS // model.num_items)
        for start in range(0, len(self.targets), step):
            rows = slice(start, start + step)
            ranks = metrics.target_ranks(model.score(self.requests[rows]), self.targets[rows], excluded[rows])
            values.append(metrics.per_example(ranks, metric))
        return float(np.mean(np.concatenate(values))) if values else float("nan")


def context_matrix(contexts: Sequence[np.ndarray], num_items: int, decay: Optional[float] = None) -> sparse.csr_matrix:
    """[B, N] context rows: 1 at each context item (``decay`` None), or the
    sum of ``decay ** position`` over its occurrences (position 0 = most recent)."""
    lengths = np.array([len(c) for c in contexts], dtype=np.int64)
    columns = (
        np.concatenate([np.asarray(c, dtype=np.int64) for c in contexts]) if lengths.sum() else np.zeros(0, np.int64)
    )
    rows = np.repeat(np.arange(len(contexts)), lengths)
    if decay is None:
        data = np.ones(len(columns))
    else:
        position = np.arange(len(columns)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        data = float(decay) ** position
    matrix = sparse.csr_matrix((data, (rows, columns)), shape=(len(contexts), num_items))
    if decay is None:
        matrix.data[:] = 1.0  # a repeated item is still one item
    return matrix


def tie_break(counts: np.ndarray) -> np.ndarray:
    """A popularity term [N] too small to change any real preference."""
    return TIE_BREAK * counts / max(float(counts.max(initial=0.0)), 1.0)


class Baseline:
    """Chunked scoring: subclasses set ``num_items`` in ``fit`` and implement ``_score``."""

    sees = ""
    num_items = 0

    def score(self, requests: Requests) -> np.ndarray:
        """Scores [B, N] (float64) of every catalogue item for each request; higher is better."""
        out = np.empty((len(requests), self.num_items), dtype=np.float64)
        step = max(1, CHUNK_CELLS // max(1, self.num_items))
        for start in range(0, len(requests), step):
            out[start : start + step] = self._score(requests[start : start + step])
        return out

    def _score(self, requests: Requests) -> np.ndarray:
        raise NotImplementedError


class MostPopular(Baseline):
    """Scores = number of training interactions of each item."""

    sees = "training-log item counts (the same list for every request)"

    def fit(self, log: TrainingLog) -> "MostPopular":
        """Counts the log's interactions per item."""
        self.num_items, self.counts = log.num_items, log.counts()
        return self

    def _score(self, requests: Requests) -> np.ndarray:
        return np.broadcast_to(self.counts, (len(requests), self.num_items))


class RecentPopular(Baseline):
    """Scores = each item's log interactions in ``[time - window, time)`` of the
    request's time; ties (an empty window) go by the count of all interactions
    before the request time (all-time popularity when requests follow the log).
    Nothing at or after the request time counts."""

    sees = "training-log item counts in the window before the request time (ties: all counts before it)"
    GRID = [{"window_days": d} for d in (1, 3, 7, 14, 30, 90, 365)]

    def __init__(self, window_days: float = 30.0):
        self.window_days = window_days

    def fit(self, log: TrainingLog) -> "RecentPopular":
        """Keeps the log in time order."""
        order = np.argsort(log.times, kind="stable")
        self.num_items = log.num_items
        self._times, self._items = np.asarray(log.times, np.int64)[order], np.asarray(log.items, np.int64)[order]
        return self

    def _prefix_counts(self, lengths: np.ndarray) -> np.ndarray:
        """[len(lengths), N] item counts among the first ``lengths[i]`` log interactions (time order)."""
        prefixes, inverse = np.unique(lengths, return_inverse=True)
        # Interaction p first counts in the shortest prefix longer than p: count
        # each there, then accumulate over ever longer prefixes.
        first = np.searchsorted(prefixes, np.arange(prefixes[-1]), side="right")
        delta = np.bincount(first * self.num_items + self._items[: prefixes[-1]],
                            minlength=len(prefixes) * self.num_items)
        return np.cumsum(delta.reshape(len(prefixes), self.num_items), axis=0)[inverse]

    def _score(self, requests: Requests) -> np.ndarray:
        times = np.asarray(requests.times, np.int64)
        end = np.searchsorted(self._times, times, side="left")  # interactions strictly before the request
        start = np.searchsorted(self._times, times - int(round(self.window_days * DAY)), side="left")
        counts = self._prefix_counts(np.concatenate([start, end])).astype(np.float64)
        before = counts[len(times):]
        recent = before - counts[: len(times)]
        # Counts are whole numbers: a tie-break below 1 orders only equal counts.
        return recent + before / (before.max(axis=1, keepdims=True) + 1.0)


@dataclasses.dataclass
class EaseBasis:
    """A training log's item Gram matrix ``X^T X = V diag(eigenvalues) V^T``:
    ``(X^T X + l2 I)^-1 = V diag(1 / (eigenvalues + l2)) V^T`` for any l2."""

    eigenvalues: np.ndarray
    eigenvectors: np.ndarray


class Ease(Baseline):
    """EASE item-item model over the log's binary user x item matrix; a request's
    user vector is its context. An empty context scores by popularity, and
    popularity breaks ties.

    To tune ``l2`` cheaply, decompose the log once and share it::

        basis = Ease.decompose(log)
        tuning.tune(functools.partial(Ease, basis=basis), Ease.GRID, log, validation)
    """

    sees = "the request's context items, through item-item weights of the training log (empty context: popularity)"
    # Wide: on MovieLens 100K the best ridge was 10,000, the edge of a 10..10,000 grid.
    GRID = [{"l2": float(v)} for v in np.logspace(1, 5, 9).round()]

    def __init__(self, l2: float = 500.0, basis: Optional[EaseBasis] = None):
        self.l2, self.basis = l2, basis

    @staticmethod
    def gram(log: TrainingLog) -> np.ndarray:
        """``X^T X`` [N, N] (float64) of the binary user x item matrix ``X``."""
        x = sparse.csr_matrix((np.ones(len(log.items)), (log.users, log.items)), shape=(log.num_users, log.num_items))
        x.data[:] = 1.0  # repeated interactions count once
        return (x.T @ x).toarray()

    @staticmethod
    def decompose(log: TrainingLog) -> EaseBasis:
        """The eigendecomposition of the log's Gram matrix, for fitting many l2 values."""
        eigenvalues, eigenvectors = linalg.eigh(Ease.gram(log), overwrite_a=True, driver="evd")
        return EaseBasis(eigenvalues, eigenvectors)

    def fit(self, log: TrainingLog) -> "Ease":
        """The item-item weights for ``l2``: from ``basis`` if given (it must be this
        log's), else by one direct inverse (cheaper than a decomposition for one value)."""
        self.num_items = log.num_items
        if self.basis is not None:
            if self.basis.eigenvectors.shape[0] != log.num_items:
                raise ValueError("the EASE basis is of another catalogue")
            v = self.basis.eigenvectors
            p = (v / (self.basis.eigenvalues + self.l2)) @ v.T
        else:
            gram = self.gram(log)
            gram[np.diag_indices_from(gram)] += self.l2
            p = linalg.inv(gram, overwrite_a=True)
        weights = -p / np.diag(p)[None, :]
        weights[np.diag_indices_from(weights)] = 0.0
        self.weights = weights.astype(np.float32)
        self._tie = tie_break(log.counts())
        return self

    def _score(self, requests: Requests) -> np.ndarray:
        x = context_matrix(requests.contexts, self.num_items).astype(np.float32)
        return np.asarray(x @ self.weights, dtype=np.float64) + self._tie


class IdTwoTower(Baseline):
    """The TensorFlow Recommenders tutorial's id-only two-tower retrieval model.

    User id and item id embeddings (``dim``), dot-product scores, TFRS
    ``Retrieval`` task (in-batch softmax), Adagrad at ``learning_rate``, as in
    the library's MovieLens tutorial. With a validation set, ``fit`` trains up
    to ``max_epochs``, stops after ``patience`` epochs without a better
    validation ``metric`` and keeps the best epoch's model (``epochs`` becomes
    that epoch count, ``curve`` the metric per epoch); without one it trains
    ``epochs``. Users absent from the log score by popularity; items absent
    from it (sharing one untrained out-of-vocabulary embedding) rank last.
    """

    sees = ("the user's id (an embedding learnt from the user's training-log interactions), not the context; "
            "unknown users: popularity")

    def __init__(self, dim: int = 32, epochs: int = 3, max_epochs: int = 40, patience: int = 3,
                 batch_size: int = 8192, learning_rate: float = 0.1, seed: int = 42, metric: str = "ndcg@10"):
        self.dim, self.epochs, self.max_epochs, self.patience = dim, epochs, max_epochs, patience
        self.batch_size, self.learning_rate, self.seed, self.metric = batch_size, learning_rate, seed, metric
        self.curve: List[float] = []

    def fit(self, log: TrainingLog, validation: Optional[Validation] = None) -> "IdTwoTower":
        """Trains on the log's (user, item) interactions; epochs chosen on ``validation`` if given."""
        import tensorflow as tf
        import tensorflow_recommenders as tfrs

        users, items = np.asarray(log.users, np.int64), np.asarray(log.items, np.int64)
        self.num_items, self._popularity = log.num_items, log.counts()
        # Vocabulary of ids seen in training; index 0 is the shared OOV bucket.
        self._user_index, self._item_index = np.zeros(log.num_users, np.int64), np.zeros(log.num_items, np.int64)
        for ids, index in ((users, self._user_index), (items, self._item_index)):
            seen = np.unique(ids)
            index[seen] = np.arange(1, len(seen) + 1)
        tf.keras.utils.set_random_seed(self.seed)
        user_model = tf.keras.layers.Embedding(int(self._user_index.max()) + 1, self.dim)
        item_model = tf.keras.layers.Embedding(int(self._item_index.max()) + 1, self.dim)

        class Model(tfrs.Model):
            def __init__(self):
                super().__init__()
                self.user_model, self.item_model = user_model, item_model
                self.task = tfrs.tasks.Retrieval()  # no top-k metrics: validation is scored here

            def compute_loss(self, features, training=False):
                return self.task(self.user_model(features["user"]), self.item_model(features["item"]))

        model = Model()
        # XLA fuses the in-batch softmax over [batch, batch] logits: ~3x faster per epoch on CPU.
        model.compile(optimizer=tf.keras.optimizers.Adagrad(learning_rate=self.learning_rate), jit_compile=True)
        rng = np.random.default_rng(self.seed)
        features = {"user": self._user_index[users], "item": self._item_index[items]}
        self.curve, best, best_epoch = [], -np.inf, 0
        for epoch in range(1, (self.max_epochs if validation else self.epochs) + 1):
            order = rng.permutation(len(users))  # a seeded shuffle per epoch
            model.fit({k: v[order] for k, v in features.items()}, batch_size=self.batch_size, epochs=1,
                      shuffle=False, verbose=0)
            self._user_embeddings, self._item_embeddings = user_model.embeddings.numpy(), item_model.embeddings.numpy()
            if validation is None:
                continue
            self.curve.append(validation.evaluate(self, self.metric))
            if epoch == 1 or self.curve[-1] > best:
                best, best_epoch, kept = self.curve[-1], epoch, (self._user_embeddings, self._item_embeddings)
            elif epoch - best_epoch >= self.patience:
                break
        if validation is not None:
            self.epochs, (self._user_embeddings, self._item_embeddings) = best_epoch, kept
        return self

    def _score(self, requests: Requests) -> np.ndarray:
        users = np.asarray(requests.users, np.int64)
        known = (users >= 0) & (users < len(self._user_index))
        index = np.where(known, self._user_index[np.where(known, users, 0)], 0)
        scores = (self._user_embeddings[index] @ self._item_embeddings[self._item_index].T).astype(np.float64)
        scores[index == 0] = self._popularity  # the OOV user embedding learnt nothing
        # Items without training interactions share an untrained embedding: rank
        # them last, in popularity order, rather than wherever it happens to land.
        scores[:, self._item_index == 0] = scores.min(initial=0.0) - 1.0
        return scores


class TextSimilarity(Baseline):
    """Cosine similarity of each item's TF-IDF vector to the request's profile:
    the recency-weighted mean of its context items' vectors (weight
    ``decay ** position``, position 0 = most recent; ``decay`` 1 = plain mean).
    An empty context scores by popularity, and popularity breaks ties.

    TF-IDF: sublinear tf, English stop words removed. Item texts are English
    prose whose function words are most of the tokens, and smoothed IDF never
    drops a word that is in every text below weight 1, so without the list
    "the", "and", "of" would make every two descriptions look alike; the list's
    known flaws (a few content words such as "fire" or "system" are on it)
    cost less. ``stop_words=None`` keeps every word.
    """

    sees = "the text (TF-IDF) of the request's context items (empty context: popularity)"
    GRID = [{"decay": d} for d in (1.0, 0.9, 0.7, 0.5)]

    def __init__(self, texts: Sequence[str], decay: float = 1.0, stop_words: Optional[str] = "english"):
        self.texts, self.decay, self.stop_words = list(texts), decay, stop_words

    def fit(self, log: TrainingLog) -> "TextSimilarity":
        """Vectorises the item texts (all of the catalogue's: no interactions involved)."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        if len(self.texts) != log.num_items:
            raise ValueError(f"{len(self.texts)} item texts for a catalogue of {log.num_items} items")
        self.num_items = log.num_items
        vectors = TfidfVectorizer(sublinear_tf=True, stop_words=self.stop_words,
                                  dtype=np.float32).fit_transform(self.texts)
        # Rows are unit length, so this is the item-item cosine; profiles are
        # weighted sums of rows, so profile . item = (weights @ similarity).
        self._similarity = (vectors @ vectors.T).toarray()
        self._tie = tie_break(log.counts())
        return self

    def _score(self, requests: Requests) -> np.ndarray:
        weights = context_matrix(requests.contexts, self.num_items, self.decay).astype(np.float32)
        dots = np.asarray(weights @ self._similarity, dtype=np.float64)  # profile . item
        norms = np.sqrt(np.maximum(np.asarray(weights.multiply(dots).sum(axis=1)).ravel(), 0.0))  # |profile|
        return dots / np.where(norms > 0, norms, 1.0)[:, None] + self._tie


class WithTerms(Baseline):
    """``scale * base + weight * log(1 + count) + freshness_bias[age bucket]``.

    ``count`` is the item's training count; the age bucket is
    ``trainer.freshness.buckets(request time, released)`` (``released`` [N]:
    release times, ``features.UNKNOWN_RELEASE`` where unknown: with every
    release unknown there is no freshness term). ``fit`` with a validation set
    chooses (scale, weight) from ``scales`` x ``weights`` and the biases by the
    mean log-likelihood of the validation targets under a softmax over the
    whole catalogue (``trainer.likelihood``): grid, then biases
    (``trainer.freshness.fit_biases``), then both again given the other. Without one,
    scale 1 and no terms. ``chosen`` records the result.
    """

    SCALES = (0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0)
    WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5)
    #: Score matrix cells of the likelihood fit: examples beyond them are subsampled.
    FIT_CELLS = 1 << 24

    def __init__(self, base: Baseline, released: np.ndarray, scales: Sequence[float] = SCALES,
                 weights: Sequence[float] = WEIGHTS, seed: int = 0):
        self.base, self.released = base, np.asarray(released, dtype=np.int64)
        self.scales, self.weights, self.seed = tuple(scales), tuple(weights), seed
        self.fresh = bool((self.released != F.UNKNOWN_RELEASE).any())
        self.scale, self.weight, self.bias = 1.0, 0.0, None
        self.chosen: Dict[str, object] = {}

    @property
    def sees(self) -> str:
        return self.base.sees + " + training-log counts" + (" + item age at request time" if self.fresh else "")

    def fit(self, log: TrainingLog, validation: Optional[Validation] = None) -> "WithTerms":
        """Fits the base on the log, then the terms on ``validation`` (if given)."""
        self.base.fit(log)
        self.num_items, self._popularity = log.num_items, np.log1p(log.counts())
        if len(self.released) != log.num_items:
            raise ValueError(f"{len(self.released)} release times for a catalogue of {log.num_items} items")
        self.scale, self.weight, self.bias = 1.0, 0.0, None
        if validation is not None:
            self._fit_terms(validation)
        return self

    def _fit_terms(self, validation: Validation) -> None:
        from trainer import freshness, likelihood

        count = len(validation.targets)
        rows = np.arange(count)
        if count * self.num_items > self.FIT_CELLS:
            rows = np.sort(np.random.default_rng(self.seed).choice(count, self.FIT_CELLS // self.num_items,
                                                                   replace=False))
        requests, targets = validation.requests[rows], np.asarray(validation.targets)[rows]
        base = self.base.score(requests).astype(np.float32)
        popularity = self._popularity.astype(np.float32)[None, :]
        excluded = likelihood.excluded_rows(self.num_items, requests.contexts, targets)
        if self.fresh:
            import tensorflow as tf

            bucket = freshness.buckets(tf.constant(requests.times, tf.int64), tf.constant(self.released)).numpy()
        fresh_term, bias, fitted_for = np.zeros_like(base), None, None
        for _ in range(2 if self.fresh else 1):
            grid = (({"scale": s, "weight": w}, s * base + w * popularity) for s in self.scales for w in self.weights)
            search = likelihood.grid_search(fresh_term, grid, excluded, targets)
            # No point beating the freshness term alone (or uniform scores) means no base and no popularity.
            self.scale, self.weight = search.params.get("scale", 0.0), search.params.get("weight", 0.0)
            if self.fresh and fitted_for != (self.scale, self.weight):  # the same point would give the same biases
                fitted_for = (self.scale, self.weight)
                bias = freshness.fit_biases(self.scale * base + self.weight * popularity, bucket, excluded, targets)
                fresh_term = bias[bucket].astype(np.float32)
        self.bias = bias
        self.chosen = {"scale": self.scale, "weight": self.weight,
                       "freshness": None if bias is None else freshness.summary(bias), "examples": int(len(targets)),
                       "log_likelihood": likelihood.mean_log_likelihood(
                           self.scale * base + self.weight * popularity + fresh_term, excluded, targets),
                       "grid": search.grid}

    def _score(self, requests: Requests) -> np.ndarray:
        scores = self.scale * self.base.score(requests) + self.weight * self._popularity
        if self.bias is not None:
            import tensorflow as tf

            from trainer import freshness

            scores += self.bias[
                freshness.buckets(tf.constant(requests.times, tf.int64), tf.constant(self.released)).numpy()
            ]
        return scores
