"""The re-ranking stage: trained on what retrieval returns, with what retrieval cannot use.

Retrieval scores every catalogue item with one dot product plus the score terms;
the re-ranker re-orders the ``serve.retrieve_k`` items it returns. Its logit is

    retrieval score + MLP(features)

over features of each (request, candidate) pair (``FEATURE_NAMES``): the
retrieval score and its parts (the ranking head's logit, each active score
term), the candidate's prior, and how the candidate relates to each history
item, which a dot product with one query vector cannot express: its cosine to
the most recent history item, and the largest and the mean cosine over the
``model.sequence_items`` most recent. The MLP's last layer starts at zero, so
an untrained re-ranker keeps retrieval's order.

It is fitted after the towers and the score terms (``fit``), listwise: a
softmax over each validation example's retrieved list (the hard negatives
serving will show it), on the lists that hold the target. Validation examples
are used because on training examples the towers have already seen the target
and would rank it too well. Early stopping and a gate read held-out validation
lists: unless the re-ranked NDCG@10 there beats retrieval's with a paired
bootstrap interval above 0, the MLP is zeroed and the stage keeps retrieval's
order.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from bertrec.evaluation import metrics

#: The features besides the score terms' (one each, after these, in the terms' order).
FEATURE_NAMES = ("retrieval_score", "ranking_head", "prior", "cosine_last", "cosine_max", "cosine_mean",
                 "log_history_length")


def features(retrieval: tf.Tensor, head: tf.Tensor, prior: tf.Tensor, terms: Sequence[tf.Tensor],
             candidates: tf.Tensor, history: tf.Tensor, history_mask: tf.Tensor) -> tf.Tensor:
    """Features [B, K, F] of K candidates per request: ``retrieval`` scores,
    ranking-head logits, priors [B, K], each score term [B, K];
    ``candidates`` [B, K, D] and ``history`` [B, H, D] embeddings (H >= 1, most
    recent first; ``history_mask`` [B, H] marks real entries)."""
    cosines = tf.einsum("bkd,bhd->bkh", candidates, history)
    mask = tf.cast(history_mask, cosines.dtype)[:, tf.newaxis, :]
    count = tf.reduce_sum(mask, axis=-1)
    has_history = count > 0
    zeros = tf.zeros_like(retrieval)
    last = tf.where(has_history, cosines[:, :, 0], zeros)
    # Padding at -1e9 never wins the max.
    largest = tf.where(has_history, tf.reduce_max(cosines + (mask - 1.0) * 1e9, axis=-1), zeros)
    mean = tf.reduce_sum(cosines * mask, axis=-1) / tf.maximum(count, 1.0)
    length = tf.broadcast_to(tf.math.log1p(count), tf.shape(retrieval))
    return tf.stack([retrieval, head, prior, last, largest, mean, length, *terms], axis=-1)


class Reranker(tf.keras.Model):
    """``retrieval score + MLP(normalised features)`` per candidate (see module docstring)."""

    def __init__(self, num_features: int, hidden_units: Sequence[int], **kwargs):
        super().__init__(**kwargs)
        self.normalization = tf.keras.layers.Normalization(axis=-1, name="normalization")
        self.mlp = tf.keras.Sequential(
            [tf.keras.layers.Dense(units, activation="relu") for units in hidden_units]
            + [tf.keras.layers.Dense(1, kernel_initializer="zeros")],
            name="mlp",
        )
        self.normalization.build((None, num_features))
        self.mlp.build((None, num_features))

    def call(self, feature_values: tf.Tensor) -> tf.Tensor:
        """Logits [B, K] of features [B, K, F] (feature 0 is the retrieval score)."""
        shape = tf.shape(feature_values)
        flat = tf.reshape(feature_values, [-1, feature_values.shape[-1]])
        correction = tf.reshape(self.mlp(self.normalization(flat)), shape[:2])
        return feature_values[..., 0] + correction

    def switch_off(self) -> None:
        """Zeroes the MLP's last layer: logits become the retrieval scores."""
        for weight in self.mlp.layers[-1].weights:
            weight.assign(tf.zeros_like(weight))


@dataclasses.dataclass
class Lists:
    """Retrieved lists of M examples: features [M, K, F] and the target's
    position in each list (-1: retrieval missed it)."""

    features: np.ndarray
    positions: np.ndarray

    def __getitem__(self, rows) -> "Lists":
        return Lists(self.features[rows], self.positions[rows])


def _ndcg_at_10(logits: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Each list's NDCG@10 of its target (0 for a target not in its list)."""
    order = np.argsort(-logits, axis=1, kind="stable")
    rank = np.argmax(order == positions[:, None], axis=1)
    return metrics.per_example(np.where(positions >= 0, rank, metrics.UNRANKED), "ndcg@10")


def fit(reranker: Reranker, train: Lists, holdout: Lists, learning_rate: float, max_epochs: int,
        batch_size: int = 128, patience: int = 5, seed: int = 0) -> Dict[str, object]:
    """Trains ``reranker`` listwise on the ``train`` lists holding their target,
    stops early on the ``holdout`` lists' loss (keeping the best epoch), then
    keeps it only if its hold-out NDCG@10 beats retrieval's outside chance.
    Returns the summary."""
    usable, checked = train[train.positions >= 0], holdout[holdout.positions >= 0]
    summary: Dict[str, object] = {"train_lists": int(len(usable.positions)), "holdout_lists": int(len(holdout.positions))}
    base = _ndcg_at_10(holdout.features[..., 0], holdout.positions)
    if len(usable.positions) == 0 or len(checked.positions) == 0:
        reranker.switch_off()
        return {**summary, "kept": False, "reason": "no list holds its target",
                "holdout_ndcg@10_retrieval": round(float(base.mean()), 4)}
    num_features = train.features.shape[-1]
    reranker.normalization.adapt(usable.features.reshape(-1, num_features))
    optimizer = tf.keras.optimizers.legacy.Adam(learning_rate)
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, reranker(x))
        variables = reranker.mlp.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    def holdout_loss() -> float:
        return float(loss_fn(checked.positions, reranker(tf.constant(checked.features))).numpy())

    rng = np.random.RandomState(seed)
    best, best_weights, waited, curve = holdout_loss(), reranker.mlp.get_weights(), 0, []
    for epoch in range(max_epochs):
        order = rng.permutation(len(usable.positions))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            step(tf.constant(usable.features[rows]), tf.constant(usable.positions[rows]))
        value = holdout_loss()
        curve.append(round(value, 4))
        if value < best - 1e-4:
            best, best_weights, waited = value, reranker.mlp.get_weights(), 0
        else:
            waited += 1
            if waited >= patience:
                break
    reranker.mlp.set_weights(best_weights)
    reranked = _ndcg_at_10(reranker(tf.constant(holdout.features)).numpy(), holdout.positions)
    # Kept only when the gain is outside chance: the paired interval excludes 0.
    difference, low, high = metrics.paired_bootstrap(reranked, base, seed=seed)
    kept = low > 0
    if not kept:
        reranker.switch_off()
    logging.info("bertrec: re-ranker %s: hold-out NDCG@10 %.4f against retrieval's %.4f, %+.4f [%+.4f, %+.4f] "
                 "(%d epochs)", "kept" if kept else "switched off", reranked.mean(), base.mean(), difference, low, high,
                 len(curve))
    return {**summary, "epochs": len(curve), "holdout_loss_curve": curve, "kept": bool(kept),
            "holdout_ndcg@10_retrieval": round(float(base.mean()), 4),
            "holdout_ndcg@10_reranked": round(float(reranked.mean()), 4),
            "holdout_ndcg@10_difference": [round(difference, 4), round(low, 4), round(high, 4)]}


def holdout_rows(count: int, fit_rows: np.ndarray, minimum: int, seed: int) -> tuple:
    """(training rows, hold-out rows) of ``count`` validation examples: the
    re-ranker trains on ``fit_rows`` (those the score terms were fitted on) and
    is held out on the others; when fewer than ``minimum`` are left, a fifth of
    ``fit_rows`` is held out instead."""
    rest = np.setdiff1d(np.arange(count), fit_rows)
    if len(rest) >= minimum:
        return np.asarray(fit_rows), rest
    shuffled = np.random.RandomState(seed).permutation(fit_rows)
    cut = max(1, len(shuffled) // 5)
    return np.sort(shuffled[cut:]), np.sort(shuffled[:cut])


def feature_names(term_names: List[str]) -> List[str]:
    """Every feature's name, in column order."""
    return list(FEATURE_NAMES) + [f"term_{name}" for name in term_names]
