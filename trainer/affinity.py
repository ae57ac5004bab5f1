"""History affinity: how close an item sits to *everything* the user did.

The query tower reads the user's most recent items (``model.sequence_items``
of them, or the text of ``data.history_length``); a long history says more (which themes a user keeps coming back
to, how much of each). The affinity adds to an item's retrieval and ranking
score

    scale * log(mean_h exp((cos(item, h) - 1) / bandwidth) + FLOOR)

over the user's history items h (up to ``data.max_history_items``), compared
with the trained candidate tower's own embeddings: a soft count of how much of
the history lies near the item, a kernel density in the embedding space. It
works for cold-start items too (their embeddings come from text), and costs one
[history x catalogue] product per request.

``scale`` and ``bandwidth`` are two numbers, fitted after the towers are
trained (``HistoryAffinity.fit``): the full-catalogue softmax likelihood of validation
examples is maximised over a grid, scale 0 (no affinity)
included, so the affinity is only used where it predicts better.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from trainer import likelihood, score_terms

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


def history_embeddings(embeddings: tf.Tensor, history_rows: tf.RaggedTensor):
    """(embeddings [B, H, D], mask [B, H]) of each user's history catalogue rows
    (ragged [B, None]) among the catalogue ``embeddings`` [N, D]."""
    return tf.gather(embeddings, history_rows.to_tensor(0)), tf.sequence_mask(history_rows.row_lengths())


def densities(catalogue_embeddings: np.ndarray, histories: Sequence[np.ndarray], batch_size: int = 128):
    """{bandwidth: kernel density [M, N]} of every catalogue item under each of
    the M histories (catalogue rows), for every bandwidth ``fit`` tries."""
    embeddings = tf.constant(catalogue_embeddings)
    parts = {bandwidth: [] for bandwidth in BANDWIDTHS}
    for i in range(0, len(histories), batch_size):
        rows = tf.ragged.constant(list(histories[i : i + batch_size]), dtype=tf.int64, ragged_rank=1)
        history, mask = history_embeddings(embeddings, rows)
        cosines = similarities(history, embeddings)  # once per chunk, for every bandwidth
        for bandwidth in BANDWIDTHS:
            parts[bandwidth].append(kernel_density(cosines, mask, bandwidth).numpy())
    return {bandwidth: np.concatenate(values) for bandwidth, values in parts.items()}


class HistoryAffinity(score_terms.ScoreTerm):
    """The history affinity term (see module docstring)."""

    def __init__(self):
        super().__init__(name="history_affinity")
        # Fitted, not trained by gradient: scale 0 (no effect) until ``fit``.
        self.scale = tf.Variable(0.0, trainable=False, name="scale")
        self.bandwidth = tf.Variable(BANDWIDTHS[0], trainable=False, name="bandwidth")

    @property
    def active(self) -> bool:
        return float(self.scale.numpy()) != 0.0

    def prepare_fit(self, data: score_terms.FitData):
        return densities(data.embeddings, data.histories)

    def fit(self, others: np.ndarray, data: score_terms.FitData, density) -> Tuple[np.ndarray, dict]:
        """The grid point (scale, bandwidth) that maximises the mean log-likelihood of
        the targets under a softmax over the whole catalogue of ``others + scale *
        density[bandwidth]`` (``density``: see ``densities``); scale 0 (no term)
        when none beats ``others`` alone."""
        search = likelihood.grid_search(
            others,
            (({"scale": scale, "bandwidth": bandwidth}, scale * density[bandwidth])
             for bandwidth in BANDWIDTHS for scale in SCALES[1:]),
            data.excluded, data.targets,
        )
        chosen = {"scale": 0.0, "bandwidth": BANDWIDTHS[0], **search.params}
        self.scale.assign(chosen["scale"])
        self.bandwidth.assign(chosen["bandwidth"])
        return search.term, chosen

    def prepare(self, requests: score_terms.Requests):
        embeddings = tf.convert_to_tensor(requests.embeddings)
        return (*history_embeddings(embeddings, requests.history_rows), embeddings)

    def scores(self, state, rows: Optional[tf.Tensor] = None) -> tf.Tensor:
        """``scale`` times the kernel density of the candidates under each user's
        history; 0 for users without history."""
        history, mask, embeddings = state
        candidates = score_terms.of_rows(embeddings, rows)
        return self.scale * kernel_density(similarities(history, candidates), mask, self.bandwidth)
