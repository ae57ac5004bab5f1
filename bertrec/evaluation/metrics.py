"""Ranking metrics of one held-out item per example, over the whole catalogue.

Every model (BERT, baselines) hands in a score for every catalogue item per
example; the items of the example's history are excluded (masked out) before
ranking, as the served model does. The target's 0-based rank among the
remaining items gives every metric:

- recall@k (hit rate: one relevant item per example) = rank < k
- NDCG@k = 1 / log2(rank + 2) if rank < k else 0
- MRR@k = 1 / (rank + 1) if rank < k else 0: the pipeline's Evaluator reports
  the MRR of the re-ranked top ``serve.retrieve_k`` list, a miss scoring 0, so
  the cutoff keeps the two comparable.

:func:`paired_bootstrap` gives a confidence interval for the difference of
two models' means on the same examples (resampling users, not examples).
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

DEFAULT_KS = (10, 50, 100)
DEFAULT_MRR_K = 100
#: Score matrix cells handled at once by :func:`target_ranks` (bounds its temporaries).
_CHUNK_CELLS = 1 << 22
#: The rank of a target that cannot be ranked (a NaN or -inf score): a miss at every cut-off.
UNRANKED = np.iinfo(np.int64).max // 2


def target_ranks(scores: np.ndarray, targets: np.ndarray, excluded: Sequence[Iterable[int]]) -> np.ndarray:
    """0-based rank of ``targets[i]`` in ``scores[i]`` ([B, N]) among the items not in ``excluded[i]``.

    Ties count against the target (items with an equal score rank ahead), so a
    constant scorer earns nothing. A NaN score is the lowest score: a NaN or
    -inf target is a miss at every cut-off (rank ``UNRANKED``), a NaN elsewhere
    never ranks ahead of a finite target. An excluded target is an error: it
    would be unrankable.
    """
    scores = np.asarray(scores)
    targets = np.asarray(targets, dtype=np.int64)
    excluded = [np.asarray(list(e), dtype=np.int64) for e in excluded]
    ranks = np.empty(len(targets), dtype=np.int64)
    step = max(1, _CHUNK_CELLS // max(1, scores.shape[1]))
    for start in range(0, len(targets), step):
        rows = slice(start, start + step)
        block = np.nan_to_num(scores[rows].astype(np.float64), nan=-np.inf, posinf=np.inf, neginf=-np.inf)
        mask = _mask(excluded[rows], block.shape)
        t = targets[rows]
        hit = np.flatnonzero(mask[np.arange(len(t)), t])
        if len(hit):
            row = start + hit[0]
            raise ValueError(f"example {row}: the target item {targets[row]} is among its excluded items")
        target = block[np.arange(len(t)), t]
        ahead = (block >= target[:, None]) & ~mask
        ranks[rows] = np.where(np.isneginf(target), UNRANKED, ahead.sum(axis=1) - 1)
    return ranks


def _mask(rows: Sequence[np.ndarray], shape) -> np.ndarray:
    """[B, N] boolean mask, True at each row's listed columns."""
    mask = np.zeros(shape, dtype=bool)
    lengths = [len(r) for r in rows]
    if sum(lengths):
        mask[np.repeat(np.arange(len(rows)), lengths), np.concatenate(rows)] = True
    return mask


def per_example(ranks: np.ndarray, metric: str) -> np.ndarray:
    """Each example's value of ``metric`` ("recall@k", "ndcg@k" or "mrr@k") given its target rank."""
    name, _, k = metric.partition("@")
    if not k.isdigit() or name not in ("recall", "ndcg", "mrr"):
        raise ValueError(f"unknown metric {metric!r}: expected recall@k, ndcg@k or mrr@k")
    ranks, k = np.asarray(ranks, dtype=np.float64), int(k)
    hit = ranks < k
    if name == "recall":
        return hit.astype(np.float64)
    gain = 1.0 / np.log2(ranks + 2.0) if name == "ndcg" else 1.0 / (ranks + 1.0)
    return np.where(hit, gain, 0.0)


def summarize(ranks: np.ndarray, ks: Sequence[int] = DEFAULT_KS, ndcg_k: int = 10,
              mrr_k: int = DEFAULT_MRR_K) -> Dict[str, float]:
    """recall@k for each k, NDCG@ndcg_k and MRR@mrr_k of a set of target ranks, and their count."""
    ranks = np.asarray(ranks)
    names = metric_names(ks, ndcg_k, mrr_k)
    if len(ranks) == 0:
        return {**{n: float("nan") for n in names}, "count": 0}
    return {**{n: float(np.mean(per_example(ranks, n))) for n in names}, "count": int(len(ranks))}


def metric_names(ks: Sequence[int] = DEFAULT_KS, ndcg_k: int = 10, mrr_k: int = DEFAULT_MRR_K) -> List[str]:
    """The metric keys of :func:`summarize`, in report order."""
    return [f"recall@{k}" for k in ks] + [f"ndcg@{ndcg_k}", f"mrr@{mrr_k}"]


def paired_bootstrap(a: np.ndarray, b: np.ndarray, samples: int = 1000, seed: int = 0,
                     groups: Optional[np.ndarray] = None) -> Tuple[float, float, float]:
    """(mean(a) - mean(b), low, high): the difference of two models' per-example
    values on the same examples, with its 95% percentile bootstrap interval.

    Both models are resampled with the same indices (a paired bootstrap). With
    ``groups`` (e.g. each example's user), whole groups are resampled: one
    user's examples are not independent, and resampling them one by one would
    give too narrow an interval.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError(f"need two equally long, non-empty 1-D arrays, got {a.shape} and {b.shape}")
    difference = a - b
    if np.all(difference == difference[0]):
        # Every resample has the same mean.
        return float(difference[0]), float(difference[0]), float(difference[0])
    _, group = np.unique(np.arange(len(a)) if groups is None else np.asarray(groups), return_inverse=True)
    sums = np.bincount(group, weights=difference)
    counts = np.bincount(group).astype(np.float64)
    rng = np.random.default_rng(seed)
    means = []
    # Batches bound the [batch, groups] resample matrix held at once.
    batch = max(1, _CHUNK_CELLS // len(sums))
    for start in range(0, samples, batch):
        drawn = rng.integers(0, len(sums), size=(min(batch, samples - start), len(sums)))
        means.append(sums[drawn].sum(axis=1) / counts[drawn].sum(axis=1))
    low, high = np.percentile(np.concatenate(means), [2.5, 97.5])
    return float(difference.mean()), float(low), float(high)
