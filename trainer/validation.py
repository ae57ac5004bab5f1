"""Validation during training: retrieval over the whole catalogue, as served.

Keras' in-batch validation ranks a target among the other targets of its batch;
serving ranks it among every catalogue item with the user's history excluded.
:class:`CatalogueValidation` measures the latter on a sample of the validation
split at each epoch's end (the towers' retrieval score, before the score terms
fitted after training), and early stopping watches it.
"""
from __future__ import annotations

import time
from typing import Dict, List, Sequence, Tuple

import numpy as np
import tensorflow as tf
from absl import logging

from bertrec import features as F
from bertrec.evaluation import metrics
from trainer.catalogue_cache import CatalogueCache


def log_name(metric: str) -> str:
    """The Keras log (and TensorBoard) name of a validation metric."""
    return f"val_{metric}"


class CatalogueValidation(tf.keras.callbacks.Callback):
    """Measures ``metric_names`` (recall@k, ndcg@k, mrr@k) of validation
    ``examples`` at each epoch's end, into the epoch's logs.

    Put it before the callbacks that read those logs (early stopping, TensorBoard).
    """

    def __init__(self, cache: CatalogueCache, examples: Dict[str, np.ndarray], histories: Sequence[np.ndarray],
                 targets: np.ndarray, metric_names: Sequence[str]):
        """``examples``: transformed feature columns; ``histories``: their history
        catalogue rows (excluded from ranking); ``targets``: their target rows."""
        super().__init__()
        self.cache, self.examples, self.histories, self.targets = cache, examples, histories, targets
        self.metric_names = list(metric_names)
        self.curve: List[Dict[str, float]] = []

    def measure(self) -> Dict[str, float]:
        """The validation metrics of the model as it is now."""
        embeddings = self.cache.item_embeddings()
        model = self.cache.model
        with model.distribute_strategy.scope():  # a layer built here must live under it
            priors = model.item_prior(embeddings, self.cache.vocab_index).numpy()
        query = self.cache.encode_queries(self.examples)
        scores = model.retrieval_scores(query, embeddings, priors).numpy()
        ranks = metrics.target_ranks(scores, self.targets, self.histories)
        return {name: float(metrics.per_example(ranks, name).mean()) for name in self.metric_names}

    def on_epoch_end(self, epoch, logs=None):
        start = time.time()
        measured = self.measure()
        self.curve.append(measured)
        if logs is not None:
            logs.update({log_name(name): value for name, value in measured.items()})
        logging.info("bertrec: epoch %d validation (%d examples, %.1fs): %s", epoch + 1, len(self.targets),
                     time.time() - start, ", ".join(f"{k} {v:.4f}" for k, v in measured.items()))


def example_rows(examples: Dict[str, np.ndarray], catalogue_ids: np.ndarray) -> Tuple[List[np.ndarray], np.ndarray]:
    """(history rows, target rows) in the catalogue of examples' ``history_item_ids``
    (space-separated; unknown ids skipped, as ``trainer.history.history_rows``
    does) and ``item_key`` (a target not in the catalogue is an error)."""
    row = {item: r for r, item in enumerate(catalogue_ids)}
    missing = [i for i in examples[F.ITEM_KEY] if i not in row]
    if missing:
        raise ValueError(f"{len(missing)} validation targets are not in the catalogue split, e.g. {missing[0]!r}")
    separator = F.HISTORY_ID_SEPARATOR.encode()
    histories = [np.array([row[i] for i in ids.split(separator) if i in row], dtype=np.int64)
                 for ids in examples[F.HISTORY_ITEM_IDS]]
    return histories, np.array([row[i] for i in examples[F.ITEM_KEY]], dtype=np.int64)
