"""An approximate retrieval index made of stock TensorFlow ops (``serve.index = "partitioned"``).

Stock TF Serving has no ScaNN op, so the exported model cannot carry a ScaNN
index. This one is an inverted file: items are grouped by k-means into about
sqrt(N) partitions, and a request scores only the items of the
``serve.index_probe`` partitions whose centroids score highest for its query
(one small matrix product, a top-k, gathers), instead of every item. A
partition larger than twice the mean is cut into pieces that share its
centroid, so no probe costs more than that.

Retrieval ranks by ``cosine / temperature + prior``, an inner product of
``[query, 1]`` with ``[embedding, temperature * prior]`` (times 1 /
temperature), so partitions are probed by their centroids' inner product with
``[query, 1]``, the score a partition's average item gets. k-means runs on
those augmented vectors with the prior's coordinate weighted
(``serve.index_prior_weight``), so that a partition's items have similar
priors as well as similar embeddings: where the prior moves the ranking as much
as the cosine does (it does in bertrec's models), partitions by embedding alone
mix popular and obscure items, and a query then needs most partitions to find
the popular ones. On the built-in model's catalogue grown to 100,000 items,
weight 1 finds 0.48 of exact search's top 100 with 16 probes, weight 16 finds
0.995 (``make bench-scale``).

Retrieval scores stay exact for the items scored (the towers' score, the prior,
the score terms); what the index can miss is an item outside the probed
partitions. ``make bench-scale`` measures its recall@100 against exact search.
For a server built with ScaNN (a custom TF Serving build), export the exact
model and index its catalogue embeddings with ScaNN there.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

#: k-means runs on at most this many items (a seeded sample), then assigns every item.
KMEANS_SAMPLE = 100_000
KMEANS_ITERATIONS = 12
#: Items assigned per matrix product (bounds memory: chunk x partitions floats).
CHUNK = 8192


def partitions_for(num_items: int, configured: int) -> int:
    """The number of k-means partitions: ``configured``, or about sqrt(items) when 0."""
    return max(1, min(num_items, configured or int(round(np.sqrt(num_items)))))


def _nearest(vectors: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Each vector's nearest centroid (Euclidean: the largest ``v.c - |c|^2 / 2``)."""
    half_norms = 0.5 * np.sum(centroids * centroids, axis=1)
    return np.concatenate([np.argmax(vectors[i : i + CHUNK] @ centroids.T - half_norms, axis=1)
                           for i in range(0, len(vectors), CHUNK)])


def kmeans(vectors: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """k-means centroids [k, D] of ``vectors`` [N, D] (fitted on a seeded sample)."""
    rng = np.random.RandomState(seed)
    data = vectors if len(vectors) <= KMEANS_SAMPLE else vectors[rng.choice(len(vectors), KMEANS_SAMPLE,
                                                                             replace=False)]
    centroids = data[rng.choice(len(data), k, replace=False)].copy()
    for _ in range(KMEANS_ITERATIONS):
        assignment = _nearest(data, centroids)
        sums = np.zeros_like(centroids)
        np.add.at(sums, assignment, data)
        counts = np.bincount(assignment, minlength=k)
        centroids = sums / np.maximum(counts, 1)[:, np.newaxis]
        # An empty partition restarts at a random item.
        empty = counts == 0
        centroids[empty] = data[rng.choice(len(data), int(empty.sum()))]
    return centroids


def augmented(embeddings: np.ndarray, priors: np.ndarray, temperature: float) -> np.ndarray:
    """``[embedding, temperature * prior]`` [N, D + 1] (see module docstring)."""
    return np.concatenate([np.asarray(embeddings, np.float32),
                           temperature * np.asarray(priors, np.float32)[:, np.newaxis]], axis=1)


def build(embeddings: np.ndarray, priors: np.ndarray, temperature: float, partitions: int,
          prior_weight: float = 16.0, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """(centroids [P', D + 1] float32, members [P', S] int64 catalogue rows, -1
    padding) of items with ``embeddings`` [N, D] and ``priors`` [N] in
    ``partitions`` k-means partitions of their augmented vectors (the prior's
    coordinate weighted by ``prior_weight``), those over twice the mean size
    cut into pieces of at most that size (P' >= partitions). A query probes
    them by ``[query, 1] . centroid``."""
    vectors = augmented(embeddings, priors, prior_weight * temperature)
    centroids = kmeans(vectors, partitions, seed)
    assignment = _nearest(vectors, centroids)
    centroids[:, -1] /= prior_weight  # probed by the score itself
    cap = max(1, int(np.ceil(2 * len(embeddings) / partitions)))
    order = np.argsort(assignment, kind="stable")
    bounds = np.searchsorted(assignment[order], np.arange(partitions + 1))
    pieces, piece_centroids = [], []
    for p in range(partitions):
        rows = order[bounds[p] : bounds[p + 1]]
        for start in range(0, len(rows), cap):
            pieces.append(rows[start : start + cap])
            piece_centroids.append(centroids[p])
    width = max(len(piece) for piece in pieces)
    members = np.full((len(pieces), width), -1, dtype=np.int64)
    for i, piece in enumerate(pieces):
        members[i, : len(piece)] = piece
    return np.stack(piece_centroids).astype(np.float32), members
