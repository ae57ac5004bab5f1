"""History affinity: how close an item sits to *everything* the user did.

The query tower reads the text of the user's ``data.history_length`` most
recent items; a long history says more (which themes a user keeps coming back
to, how much of each). The affinity adds to an item's retrieval and ranking
score

    scale * log(mean_h exp((cos(item, h) - 1) / bandwidth) + FLOOR)

over the user's history items h (up to ``data.max_history_items``), compared
with the trained candidate tower's own embeddings: a soft count of how much of
the history lies near the item, a kernel density in the embedding space. It
works for cold-start items too (their embeddings come from text), and costs one
[history x catalogue] product per request.

``scale`` and ``bandwidth`` are two numbers, fitted after the towers are
trained (``fit``): the full-catalogue softmax likelihood of validation
examples is maximised over a grid, scale 0 (no affinity)
included, so the affinity is only used where it predicts better.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Sequence

import numpy as np
import tensorflow as tf

from trainer import likelihood

#: Keeps an item unlike anything in the history finite: popularity and the query
#: can still bring it up.
FLOOR = 1e-6
#: The grid ``fit`` searches (bandwidth in cosine units).
SCALES = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5)
BANDWIDTHS = (0.02, 0.03, 0.05, 0.1)


def similarities(history: tf.Tensor, candidates: tf.Tensor) -> tf.Tensor:
    """Cosines [B, H, M] of history embeddings [B, H, D] with candidates [M, D] or [B, M, D]."""
    equation = "bhd,md->bhm" if candidates.shape.rank == 2 else "bhd,bmd->bhm"
    return tf.einsum(equation, history, candidates)


def kernel_density(cosines: tf.Tensor, mask: tf.Tensor, bandwidth) -> tf.Tensor:
    """log(mean_h exp((cosine - 1) / bandwidth) + FLOOR) [B, M] of cosines [B, H, M]
    over the history entries ``mask`` [B, H] marks; 0 where a user has none."""
    logits = (cosines - 1.0) / bandwidth
    logits = tf.where(mask[:, :, tf.newaxis], logits, tf.fill(tf.shape(logits), -np.inf))
    count = tf.reduce_sum(tf.cast(mask, logits.dtype), axis=1)[:, tf.newaxis]
    log_mean = tf.reduce_logsumexp(logits, axis=1) - tf.math.log(tf.maximum(count, 1.0))
    # exp() may underflow to 0 where FLOOR dominates anyway.
    density = tf.math.log(tf.exp(log_mean) + FLOOR)
    return tf.where(count > 0, density, tf.zeros_like(density))


class HistoryAffinity(tf.keras.layers.Layer):
    """Affinity scores of candidates to each user's history embeddings (see module docstring)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # Fitted, not trained by gradient: scale 0 (no effect) until ``fit``.
        self.scale = self.add_weight(name="scale", shape=(), initializer="zeros", trainable=False)
        self.bandwidth = self.add_weight(
            name="bandwidth", shape=(), initializer=tf.keras.initializers.Constant(BANDWIDTHS[0]), trainable=False
        )

    def call(self, history: tf.Tensor, mask: tf.Tensor, candidates: tf.Tensor) -> tf.Tensor:
        """Affinity scores [B, M] of candidates ([M, D] shared, or [B, M, D] per user)
        under each user's history [B, H, D] (``mask`` [B, H] marks real entries):
        ``scale`` times the kernel density; 0 for users without history."""
        return self.scale * kernel_density(similarities(history, candidates), mask, self.bandwidth)


def padded_history(embeddings, rows: Sequence[np.ndarray]):
    """(history embeddings [B, H, D], mask [B, H]) of catalogue ``rows`` per user,
    from catalogue ``embeddings`` [N, D]; H is the longest history (at least 1)."""
    length = max(1, max(len(r) for r in rows))
    index = np.zeros((len(rows), length), dtype=np.int64)
    mask = np.zeros((len(rows), length), dtype=bool)
    for b, r in enumerate(rows):
        index[b, : len(r)] = r
        mask[b, : len(r)] = True
    return tf.gather(embeddings, index), tf.constant(mask)


def densities(catalogue_embeddings: np.ndarray, histories: Sequence[np.ndarray], batch_size: int = 128):
    """{bandwidth: kernel density [M, N]} of every catalogue item under each of
    the M histories (catalogue rows), for every bandwidth ``fit`` tries."""
    embeddings = tf.constant(catalogue_embeddings)
    parts = {bandwidth: [] for bandwidth in BANDWIDTHS}
    for i in range(0, len(histories), batch_size):
        history, mask = padded_history(embeddings, histories[i : i + batch_size])
        cosines = similarities(history, embeddings)  # once per chunk, for every bandwidth
        for bandwidth in BANDWIDTHS:
            parts[bandwidth].append(kernel_density(cosines, mask, bandwidth).numpy())
    return {bandwidth: np.concatenate(values) for bandwidth, values in parts.items()}


@dataclasses.dataclass
class Fit:
    """What ``fit`` chose, the mean log-likelihood with and without it, the
    log-likelihood of each grid point, and the chosen term [M, N]."""

    scale: float
    bandwidth: float
    log_likelihood: float
    baseline_log_likelihood: float
    grid: List[dict]
    term: np.ndarray


def fit(layer: HistoryAffinity, scores: np.ndarray, density: Dict[float, np.ndarray],
        excluded: np.ndarray, targets: np.ndarray) -> Fit:
    """Sets ``layer``'s scale and bandwidth to the grid point that maximises the
    mean log-likelihood of ``targets`` under a softmax over the whole catalogue
    of ``scores + scale * density[bandwidth]``.

    ``scores`` [M, N]: the model's other scores of every catalogue item for M
    examples; ``density``: see ``densities``; ``excluded`` [M, N]: the rows
    left out of each example's softmax (``likelihood.excluded_rows``: its
    history, as retrieval leaves it out); ``targets`` [M]: the row of the item
    each example chose.
    """
    search = likelihood.grid_search(
        scores,
        (({"scale": scale, "bandwidth": bandwidth}, scale * density[bandwidth])
         for bandwidth in BANDWIDTHS for scale in SCALES[1:]),
        excluded, targets,
    )
    chosen = {"scale": 0.0, "bandwidth": BANDWIDTHS[0], **search.params}
    layer.scale.assign(chosen["scale"])
    layer.bandwidth.assign(chosen["bandwidth"])
    return Fit(scale=chosen["scale"], bandwidth=chosen["bandwidth"], log_likelihood=search.log_likelihood,
               baseline_log_likelihood=search.baseline_log_likelihood, grid=search.grid, term=search.term)
