"""Ranking metrics of one held-out item per example, over the whole catalogue.

Every model (BERT, baselines) hands in a score for every catalogue item per
example; items the user already interacted with in training are excluded
(masked to -inf) before ranking, as a product would do. The target's 0-based
rank among the remaining items gives every metric:

- recall@k (hit rate: one relevant item per example) = rank < k
- NDCG@k = 1 / log2(rank + 2) if rank < k else 0
- MRR = 1 / (rank + 1)
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Sequence

import numpy as np

DEFAULT_KS = (10, 50, 100)


def target_ranks(scores: np.ndarray, targets: np.ndarray, excluded: Sequence[Iterable[int]]) -> np.ndarray:
    """0-based rank of ``targets[i]`` in ``scores[i]`` ([B, N]) after masking ``excluded[i]``.

    Ties count against the target (items with an equal score rank ahead), so a
    constant scorer earns nothing. An excluded target is an error: it would be
    unrankable.
    """
    scores = np.array(scores, dtype=np.float64, copy=True)
    for row, items in enumerate(excluded):
        items = list(items)
        if items:
            if targets[row] in items:
                raise ValueError(f"example {row}: the target item {targets[row]} is among its excluded items")
            scores[row, items] = -np.inf
    target_scores = scores[np.arange(len(targets)), targets]
    return (scores >= target_scores[:, None]).sum(axis=1) - 1


def summarize(ranks: np.ndarray, ks: Sequence[int] = DEFAULT_KS, ndcg_k: int = 10) -> Dict[str, float]:
    """recall@k for each k, NDCG@ndcg_k and MRR of a set of target ranks."""
    ranks = np.asarray(ranks)
    if len(ranks) == 0:
        return {**{f"recall@{k}": float("nan") for k in ks}, f"ndcg@{ndcg_k}": float("nan"), "mrr": float("nan"), "count": 0}
    out = {f"recall@{k}": float(np.mean(ranks < k)) for k in ks}
    out[f"ndcg@{ndcg_k}"] = float(np.mean(np.where(ranks < ndcg_k, 1.0 / np.log2(ranks + 2.0), 0.0)))
    out["mrr"] = float(np.mean(1.0 / (ranks + 1.0)))
    out["count"] = int(len(ranks))
    return out


def metric_names(ks: Sequence[int] = DEFAULT_KS, ndcg_k: int = 10) -> List[str]:
    """The keys of :func:`summarize`, in report order."""
    return [f"recall@{k}" for k in ks] + [f"ndcg@{ndcg_k}", "mrr"]
