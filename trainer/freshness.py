"""Freshness: how an item's age at request time moves its score.

New releases draw more attention than their all-time popularity says, and an
item released after the request cannot be chosen at all. Neither is in the
item prior, which is one number per item for all time. The freshness term adds
``bias[bucket(request_time - release_time)]`` to both stages' scores, the
bucket one of:

- release time unknown (``features.UNKNOWN_RELEASE`` in the catalogue:
  ``release_timestamp`` empty);
- not yet released at request time;
- released 0-7, 7-30, 30-90, 90-365 or over 365 days before.

The biases are fitted after the towers are trained (``Freshness.fit``): maximum
likelihood of validation examples under a softmax over
the whole catalogue, by iterative scaling (each bucket's bias moves by the log
of how many chosen items it held over how many the model expected).
Serving takes the request time from the server's clock; offline evaluation
from each example's timestamp.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np
import tensorflow as tf

from bertrec import features as F
from trainer import likelihood, score_terms

DAY = 86_400
#: Bucket edges in days of age, for released items.
AGE_EDGES_DAYS = (7, 30, 90, 365)
UNKNOWN, UNRELEASED = 0, 1
BUCKET_NAMES = ("unknown", "unreleased", "0-7d", "7-30d", "30-90d", "90-365d", "365d+")
#: Pseudo-count of chosen items per bucket: keeps a bucket no example chose
#: (unreleased items) finite, far below the others.
PSEUDO_COUNT = 0.5


def buckets(request_time: tf.Tensor, released: tf.Tensor) -> tf.Tensor:
    """Age buckets [B, M] (int32) of items released at ``released`` [M] (or [B, M],
    ``features.UNKNOWN_RELEASE`` = unknown) for requests at ``request_time`` [B] (seconds)."""
    released = tf.cast(released, tf.int64)
    if released.shape.rank == 1:
        released = released[tf.newaxis, :]
    request_time = tf.cast(request_time, tf.int64)[:, tf.newaxis]
    known = tf.not_equal(released, F.UNKNOWN_RELEASE)
    # Unknown times age as 0 here (no int64 overflow) and take the unknown bucket below.
    age = tf.cast(request_time - tf.where(known, released, request_time), tf.float32) / DAY
    edges = tf.constant((0.0,) + tuple(float(e) for e in AGE_EDGES_DAYS))
    # Released items: 2 + how many edges after 0 their age reaches.
    released_bucket = 1 + tf.reduce_sum(tf.cast(age[..., tf.newaxis] >= edges, tf.int32), axis=-1)
    return tf.where(known, released_bucket, UNKNOWN)


def _fill_empty(bias: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Biases of buckets no fit example had an item in (``seen`` False): an age
    bucket takes its nearest seen age bucket's (the data says nothing of it, and
    items age into it after training); ``unknown`` and ``unreleased`` stay 0."""
    bias = np.where(seen, bias, 0.0)
    ages = [b for b in range(UNRELEASED + 1, len(bias)) if seen[b]]
    for b in range(UNRELEASED + 1, len(bias)):
        if not seen[b] and ages:
            bias[b] = bias[min(ages, key=lambda a: (abs(a - b), -a))]
    return bias


def fit_biases(scores: np.ndarray, bucket: np.ndarray, excluded: np.ndarray, targets: np.ndarray,
               iterations: int = 20) -> np.ndarray:
    """The biases per bucket that maximise the mean log-likelihood of ``targets``
    under a softmax over the whole catalogue of ``scores + bias[bucket]``
    (relative to the bucket with the most candidates, which gets 0).

    ``scores`` [M, N]: the model's other scores of every catalogue item for M
    examples; ``bucket`` [M, N]: each item's age bucket at each request
    (``buckets``); ``excluded`` [M, N]: the rows left out of each example's
    softmax (its history); ``targets`` [M]: the chosen rows.
    """
    scores = np.asarray(scores, dtype=np.float32)
    count = len(BUCKET_NAMES)
    chosen = np.bincount(bucket[np.arange(len(targets)), targets], minlength=count) + PSEUDO_COUNT
    candidates = np.bincount(np.where(excluded, -1, bucket).ravel() + 1, minlength=count + 1)[1:]
    bias = np.zeros(count)
    for _ in range(iterations):
        probability = np.exp(likelihood.log_softmax(scores + bias[bucket], excluded))
        expected = np.bincount(bucket.ravel(), weights=probability.ravel(), minlength=count) + PSEUDO_COUNT
        bias += np.log(chosen / expected)
    return _fill_empty(bias - bias[np.argmax(candidates)], candidates > 0)


def summary(bias: np.ndarray) -> Dict[str, float]:
    """The biases by bucket name, for reports."""
    return {name: round(float(b), 4) for name, b in zip(BUCKET_NAMES, bias)}


class Freshness(score_terms.ScoreTerm):
    """The freshness term (see module docstring)."""

    def __init__(self):
        super().__init__(name="freshness")
        # Fitted, not trained by gradient: all 0 (no effect) until ``fit``.
        self.bias = tf.Variable(np.zeros(len(BUCKET_NAMES), np.float32), trainable=False, name="bias")

    @property
    def active(self) -> bool:
        return bool(np.any(self.bias.numpy()))

    def prepare_fit(self, data: score_terms.FitData) -> np.ndarray:
        return buckets(tf.constant(data.request_times), tf.constant(data.released)).numpy()

    def fit(self, others: np.ndarray, data: score_terms.FitData, bucket: np.ndarray) -> Tuple[np.ndarray, dict]:
        """Iterative scaling of the biases (``fit_biases``) given ``others`` and the
        examples' age ``bucket`` [M, N]."""
        bias = fit_biases(others, bucket, data.excluded, data.targets)
        self.bias.assign(bias.astype(np.float32))
        return bias[bucket].astype(np.float32), {"bias": summary(bias)}

    def prepare(self, requests: score_terms.Requests):
        return requests.request_time, requests.released

    def scores(self, state, rows: Optional[tf.Tensor] = None) -> tf.Tensor:
        """The bias of each candidate's age bucket at each request's time."""
        request_time, released = state
        return tf.gather(self.bias, buckets(request_time, score_terms.of_rows(released, rows)))
