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
and would rank it too well. Held-out validation lists, split by user, stop the
training early (one half) and gate it (the other): unless its NDCG@10 there
beats the ranking stage it replaces (the ranking head plus the score terms)
with a paired bootstrap interval over users above 0, it is not used.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Sequence, Tuple

import numpy as np
import tensorflow as tf
from absl import logging

from bertrec.evaluation import metrics

#: The features besides the score terms' (one each, after these, in the terms' order).
FEATURE_NAMES = ("retrieval_score", "ranking_head", "prior", "cosine_last", "cosine_max", "cosine_mean",
                 "log_recent_items")


def features(retrieval: tf.Tensor, head: tf.Tensor, prior: tf.Tensor, terms: Sequence[tf.Tensor],
             candidates: tf.Tensor, history: tf.Tensor, history_mask: tf.Tensor) -> tf.Tensor:
    """Features [B, K, F] of K candidates per request: ``retrieval`` scores,
    ranking-head logits, priors [B, K], cosines to the history, log(1 + the
    history entries read), each score term [B, K];
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


@dataclasses.dataclass
class Lists:
    """Retrieved lists of M examples: features [M, K, F], the target's position
    in each list (-1: retrieval missed it) and each example's user (the unit the
    gate's bootstrap resamples)."""

    features: np.ndarray
    positions: np.ndarray
    users: np.ndarray

    def __getitem__(self, rows) -> "Lists":
        return Lists(self.features[rows], self.positions[rows], self.users[rows])

    def fallback_logits(self) -> np.ndarray:
        """[M, K] the ranking stage without the re-ranker: the ranking head's
        logit plus the score terms."""
        head = FEATURE_NAMES.index("ranking_head")
        return self.features[..., head] + self.features[..., len(FEATURE_NAMES):].sum(axis=-1)


def _ndcg_at_10(logits: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Each list's NDCG@10 of its target (0 for a target not in its list)."""
    order = np.argsort(-logits, axis=1, kind="stable")
    rank = np.argmax(order == positions[:, None], axis=1)
    return metrics.per_example(np.where(positions >= 0, rank, metrics.UNRANKED), "ndcg@10")


def _split_by_user(lists: Lists, seed: int) -> Tuple[Lists, Lists]:
    """``lists`` in two halves by user: one to stop training early on, one to gate on."""
    users = np.random.RandomState(seed).permutation(np.unique(lists.users))
    first = np.isin(lists.users, users[: len(users) // 2])
    return lists[first], lists[~first]


def fit(reranker: Reranker, train: Lists, holdout: Lists, learning_rate: float, max_epochs: int,
        batch_size: int = 128, patience: int = 5, seed: int = 0) -> Dict[str, object]:
    """Trains ``reranker`` listwise on the ``train`` lists holding their target and
    stops early on the loss of half the ``holdout`` users' lists, keeping the
    best epoch. On the other half it must beat the ranking stage it replaces
    (``Lists.fallback_logits``) at NDCG@10 with a paired bootstrap interval
    (resampling users) above 0 to be ``kept`` (the caller uses it only then).
    Returns the summary."""
    stop, gate = _split_by_user(holdout, seed)
    usable, checked = train[train.positions >= 0], stop[stop.positions >= 0]
    summary: Dict[str, object] = {"train_lists": int(len(usable.positions)), "stop_lists": int(len(stop.positions)),
                                  "gate_lists": int(len(gate.positions))}
    if len(usable.positions) == 0 or len(checked.positions) == 0 or len(gate.positions) == 0:
        return {**summary, "kept": False, "reason": "too few validation lists hold their target"}
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

    def stop_loss() -> float:
        return float(loss_fn(checked.positions, reranker(tf.constant(checked.features))).numpy())

    rng = np.random.RandomState(seed)
    best, best_weights, waited, curve = stop_loss(), reranker.mlp.get_weights(), 0, []
    for _ in range(max_epochs):
        order = rng.permutation(len(usable.positions))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            step(tf.constant(usable.features[rows]), tf.constant(usable.positions[rows]))
        value = stop_loss()
        curve.append(round(value, 4))
        if value < best - 1e-4:
            best, best_weights, waited = value, reranker.mlp.get_weights(), 0
        else:
            waited += 1
            if waited >= patience:
                break
    reranker.mlp.set_weights(best_weights)
    reranked = _ndcg_at_10(reranker(tf.constant(gate.features)).numpy(), gate.positions)
    fallback = _ndcg_at_10(gate.fallback_logits(), gate.positions)
    retrieval = _ndcg_at_10(gate.features[..., 0], gate.positions)
    # Kept only when the gain is outside chance.
    difference, low, high = metrics.paired_bootstrap(reranked, fallback, seed=seed, groups=gate.users)
    kept = low > 0
    logging.info("bertrec: re-ranker %s: gate NDCG@10 %.4f against %.4f without it, %+.4f [%+.4f, %+.4f] "
                 "(%d epochs)", "kept" if kept else "not used", reranked.mean(), fallback.mean(), difference, low,
                 high, len(curve))
    return {**summary, "epochs": len(curve), "stop_loss_curve": curve, "kept": bool(kept),
            "gate_ndcg@10": {"reranked": round(float(reranked.mean()), 4),
                             "without_reranker": round(float(fallback.mean()), 4),
                             "retrieval": round(float(retrieval.mean()), 4),
                             "difference": [round(difference, 4), round(low, 4), round(high, 4)]}}


def holdout_rows(count: int, fit_rows: np.ndarray, minimum: int, maximum: int, seed: int) -> tuple:
    """(training rows, hold-out rows) of ``count`` validation examples: the
    re-ranker trains on ``fit_rows`` (those the score terms were fitted on) and
    is held out on at most ``maximum`` of the others; when fewer than
    ``minimum`` are left, a fifth of ``fit_rows`` is held out instead."""
    rest = np.setdiff1d(np.arange(count), fit_rows)
    rng = np.random.RandomState(seed)
    if len(rest) >= minimum:
        return np.asarray(fit_rows), np.sort(rng.choice(rest, size=min(len(rest), maximum), replace=False))
    shuffled = rng.permutation(fit_rows)
    cut = max(1, len(shuffled) // 5)
    return np.sort(shuffled[cut:]), np.sort(shuffled[:cut])


def feature_names(term_names: List[str]) -> List[str]:
    """Every feature's name, in column order."""
    return list(FEATURE_NAMES) + [f"term_{name}" for name in term_names]
