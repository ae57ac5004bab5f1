"""Fitting the post-training score terms together, for any base scores.

The history affinity, freshness and item-item terms are fitted after the
towers, each given the others (``FIT_ROUNDS`` rounds), by the full-catalogue
softmax likelihood of held-out examples. The Trainer fits them on its towers'
scores; ``bertrec evaluate`` fits the same terms on other base scores (the
pretrained encoder zero-shot, popularity alone), so those rows get exactly
the model's terms.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from trainer import affinity, freshness, item_item, likelihood

#: Rounds of fitting each score term given the others (two settle them).
FIT_ROUNDS = 2


def fit_sample(count: int, size: int, seed: int) -> np.ndarray:
    """Positions (sorted) of the at most ``size`` of ``count`` held-out examples
    the terms are fitted on (a seeded sample; each fit holds a few [examples x
    catalogue] matrices)."""
    return np.sort(np.random.RandomState(seed).choice(count, size=min(size, count), replace=False))


def fit(scores: np.ndarray, histories: Sequence[np.ndarray], targets: np.ndarray, *,
        affinity_layer: Optional[affinity.HistoryAffinity] = None, embeddings: Optional[np.ndarray] = None,
        freshness_layer: Optional[freshness.Freshness] = None, request_times: Optional[np.ndarray] = None,
        released: Optional[np.ndarray] = None, ease_weights: Optional[Tuple[np.ndarray, np.ndarray]] = None,
        ) -> Tuple[Dict[str, np.ndarray], dict]:
    """Fits the terms whose inputs are given, on M examples; returns ({name: term
    [M, N]}, summary entries).

    ``scores`` [M, N]: the base scores of every catalogue item; ``histories``:
    each example's history (catalogue rows, left out of its softmax);
    ``targets`` [M]: the chosen rows. The history affinity needs
    ``affinity_layer`` and the catalogue ``embeddings`` [N, D]; freshness its
    layer, ``request_times`` [M] and ``released`` [N]; item-item the
    ``ease_weights`` (columns, weights) of ``trainer.item_item.ease``. The
    layers receive the fitted values.
    """
    excluded = likelihood.excluded_rows(scores.shape[1], histories, targets)
    # name -> fit(the other terms' scores) -> (term [M, N], summary entry)
    fitters = {}
    if affinity_layer is not None:
        density = affinity.densities(embeddings, histories)

        def fit_affinity(others):
            result = affinity.fit(affinity_layer, others, density, excluded, targets)
            return result.term, {"scale": result.scale, "bandwidth": result.bandwidth}

        fitters["history_affinity"] = fit_affinity
    if freshness_layer is not None:
        def fit_freshness(others):
            result = freshness.fit(freshness_layer, others, request_times, released, excluded, targets)
            return result.term, {"bias": result.bias}

        fitters["freshness"] = fit_freshness
    if ease_weights is not None:
        unscaled = item_item.scores(*ease_weights, histories)

        def fit_item_item(others):
            result = item_item.fit(unscaled, others, excluded, targets)
            return result.term, {"scale": result.scale}

        fitters["item_item"] = fit_item_item
    terms = {name: np.zeros_like(scores) for name in fitters}
    summary = {}
    # Each term is fitted given the others; with one term, one round settles it.
    for _ in range(FIT_ROUNDS if len(fitters) > 1 else 1):
        for name, fit_one in fitters.items():
            terms[name], summary[name] = fit_one(scores + sum(v for other, v in terms.items() if other != name))
    summary["score_terms_fit"] = {
        "examples": len(targets),
        "log_likelihood_without": round(likelihood.mean_log_likelihood(scores, excluded, targets), 4),
        "log_likelihood": round(likelihood.mean_log_likelihood(scores + sum(terms.values()), excluded, targets), 4),
    }
    return terms, summary


def apply(histories: Sequence[np.ndarray], num_items: int, *,
          affinity_layer: Optional[affinity.HistoryAffinity] = None, embeddings: Optional[np.ndarray] = None,
          freshness_layer: Optional[freshness.Freshness] = None, request_times: Optional[np.ndarray] = None,
          released: Optional[np.ndarray] = None, ease_weights: Optional[Tuple[np.ndarray, np.ndarray]] = None,
          item_item_scale: float = 0.0, batch_size: int = 256) -> np.ndarray:
    """The fitted terms' sum [M, N] for M examples (arguments as in ``fit``, the
    item-item term's fitted scale beside them), as the exported model adds them."""
    import tensorflow as tf

    candidates = None if embeddings is None else tf.constant(embeddings)
    parts = []
    for start in range(0, len(histories), batch_size):
        chunk = histories[start : start + batch_size]
        total = np.zeros((len(chunk), num_items), dtype=np.float32)
        if affinity_layer is not None:
            total += affinity_layer(*affinity.padded_history(candidates, chunk), candidates).numpy()
        if freshness_layer is not None:
            total += freshness_layer(request_times[start : start + batch_size], released).numpy()
        if ease_weights is not None and item_item_scale:
            total += item_item_scale * item_item.scores(*ease_weights, chunk)
        parts.append(total)
    return np.concatenate(parts) if parts else np.zeros((0, num_items), dtype=np.float32)
