"""Score terms: what is added to the towers' scores, fitted after training.

Every term has one shape (:class:`ScoreTerm`): it is fitted on held-out
(validation) examples against base scores, by the full-catalogue softmax
likelihood, and then scores requests in the graph, the same code in both
stages (retrieval over the whole catalogue, ranking of the retrieved rows), in
the exported model and in offline evaluation. A term is one file:

- ``trainer/affinity.py``: history affinity, a kernel density of the item among
  the user's history embeddings;
- ``trainer/freshness.py``: a bias by the item's age at request time;
- ``trainer/item_item.py``: EASE item-item weights of the training log, summed
  over the history.

:class:`ScoreTerms` fits the enabled terms together, each given the others
(``FIT_ROUNDS`` rounds). The Trainer fits them on its towers' scores;
``bertrec evaluate`` fits the same terms on other base scores (the pretrained
encoder zero-shot, popularity alone), so those rows get exactly the model's
terms. The item popularity prior is not one of them: it is trained with the
towers (``trainer/model.py``), since the retrieval loss needs it.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from trainer import likelihood

#: Rounds of fitting each score term given the others (two settle them).
FIT_ROUNDS = 2


def fit_sample(count: int, size: int, seed: int) -> np.ndarray:
    """Positions (sorted) of the at most ``size`` of ``count`` held-out examples
    the terms are fitted on (a seeded sample; each fit holds a few [examples x
    catalogue] matrices)."""
    return np.sort(np.random.RandomState(seed).choice(count, size=min(size, count), replace=False))


@dataclasses.dataclass
class FitData:
    """The held-out examples terms are fitted on, and the catalogue they rank."""

    histories: Sequence[np.ndarray]  # what terms read of each history (catalogue rows, most recent first)
    targets: np.ndarray  # [M] the chosen rows
    request_times: np.ndarray  # [M] seconds
    embeddings: Optional[np.ndarray]  # [N, D] the catalogue's item embeddings (None: none to compare)
    released: np.ndarray  # [N] release times, ``features.UNKNOWN_RELEASE`` where unknown
    excluded: np.ndarray  # [M, N] rows left out of each softmax: the whole history, as retrieval leaves it out


@dataclasses.dataclass
class Requests:
    """What a term reads of a batch of requests, in the graph."""

    history_rows: tf.RaggedTensor  # [B, None] catalogue rows, most recent first
    request_time: tf.Tensor  # [B] seconds
    embeddings: tf.Tensor  # [N, D] the catalogue's item embeddings
    released: tf.Tensor  # [N] release times


def of_rows(values: tf.Tensor, rows: Optional[tf.Tensor], batch_dims: int = 0) -> tf.Tensor:
    """``values`` ([N, ...], or [B, N, ...] with ``batch_dims`` 1) at catalogue
    ``rows`` [B, M]; all of them when ``rows`` is None."""
    return values if rows is None else tf.gather(values, rows, batch_dims=batch_dims)


class ScoreTerm(tf.Module):
    """A score term: ``prepare`` once per batch of requests, then ``scores`` for
    the whole catalogue or some rows of it; ``fit`` on held-out examples.

    Fitted values are non-trainable variables, exported with the model. A term
    the fit left without effect is ``active`` False and not computed at all.
    """

    def prepare_fit(self, data: FitData) -> Any:
        """What every round of ``fit`` on ``data`` reuses (default: nothing)."""
        return None

    def fit(self, others: np.ndarray, data: FitData, prepared: Any) -> Tuple[np.ndarray, dict]:
        """Sets the term's values to the best for base scores ``others`` [M, N] (the
        towers' and the other terms') given ``prepare_fit``'s result; returns (its
        scores [M, N], summary entry)."""
        raise NotImplementedError

    @property
    def active(self) -> bool:
        """Whether the term changes any score (as fitted)."""
        raise NotImplementedError

    def prepare(self, requests: Requests) -> Any:
        """What ``scores`` needs of a batch of requests, computed once for both stages."""
        raise NotImplementedError

    def scores(self, state: Any, rows: Optional[tf.Tensor] = None) -> tf.Tensor:
        """The term [B, M] of catalogue ``rows`` [B, M] (None: every item, M = N)."""
        raise NotImplementedError

    def extended(self, added: int) -> "ScoreTerm":
        """This term over the catalogue with ``added`` new rows at its end (a
        catalogue refresh: ``trainer.catalogue_refresh``); new rows get what a
        cold-start item gets. The default suits terms with no per-item state."""
        return self


class ScoreTerms(tf.Module):
    """Score terms summed, over a catalogue (item ``embeddings`` [N, D] or None,
    ``released`` [N]); each reads a history's ``max_history_items`` most recent items."""

    def __init__(self, terms: Sequence[ScoreTerm], embeddings, released, max_history_items: int):
        super().__init__(name="score_terms")
        self.terms = list(terms)
        self.embeddings = embeddings
        self.released = tf.constant(released, dtype=tf.int64) if isinstance(released, np.ndarray) else released
        self.max_history_items = max_history_items

    def active(self) -> "ScoreTerms":
        """These terms without those the fit left without effect (what serving computes)."""
        return ScoreTerms([t for t in self.terms if t.active], self.embeddings, self.released,
                          self.max_history_items)

    def fit(self, base: np.ndarray, histories: Sequence[np.ndarray], targets: np.ndarray,
            request_times: np.ndarray) -> dict:
        """Fits every term, each given the others, for base scores [M, N] of M
        held-out examples (their histories, target rows and request times);
        returns the summary ({term name: what it chose, "score_terms_fit": ...})."""
        embeddings = None if self.embeddings is None else np.asarray(self.embeddings)
        released = np.asarray(self.released)
        data = FitData([np.asarray(h, dtype=np.int64)[: self.max_history_items] for h in histories],
                       np.asarray(targets), np.asarray(request_times), embeddings, released,
                       likelihood.excluded_rows(len(released), histories, targets))
        prepared = [term.prepare_fit(data) for term in self.terms]
        values = {term.name: np.zeros_like(base) for term in self.terms}
        summary = {}
        # With one term, one round settles it.
        for _ in range(FIT_ROUNDS if len(self.terms) > 1 else 1):
            for term, ready in zip(self.terms, prepared):
                others = base + sum(v for name, v in values.items() if name != term.name)
                values[term.name], summary[term.name] = term.fit(others, data, ready)
        summary["score_terms_fit"] = {
            "examples": len(targets),
            "log_likelihood_without": round(likelihood.mean_log_likelihood(base, data.excluded, data.targets), 4),
            "log_likelihood": round(
                likelihood.mean_log_likelihood(base + sum(values.values()), data.excluded, data.targets), 4),
        }
        return summary

    def prepare(self, history_rows: tf.RaggedTensor, request_time: tf.Tensor) -> List[Any]:
        """Every term's state for a batch of requests (``ScoreTerm.prepare``)."""
        requests = Requests(history_rows[:, : self.max_history_items], request_time, self.embeddings, self.released)
        return [term.prepare(requests) for term in self.terms]

    def scores(self, states: List[Any], rows: Optional[tf.Tensor] = None):
        """The terms' sum [B, M] for ``rows`` (see ``ScoreTerm.scores``); 0.0 without terms."""
        return sum((term.scores(state, rows) for term, state in zip(self.terms, states)), 0.0)

    def apply(self, histories: Sequence[np.ndarray], request_times: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """The terms' sum [M, N] for M requests (history catalogue rows, times),
        computed as the exported model computes it."""
        num_items = int(tf.size(self.released))
        parts = []
        for start in range(0, len(histories), batch_size):
            chunk = [np.asarray(h, dtype=np.int64) for h in histories[start : start + batch_size]]
            rows = tf.ragged.constant(chunk, dtype=tf.int64, ragged_rank=1)
            times = tf.constant(request_times[start : start + batch_size], dtype=tf.int64)
            total = self.scores(self.prepare(rows, times))
            parts.append(np.broadcast_to(np.asarray(total, dtype=np.float32), (len(chunk), num_items)))
        return np.concatenate(parts) if parts else np.zeros((0, num_items), dtype=np.float32)


def build(config, embeddings: Optional[np.ndarray], released: np.ndarray,
          interactions: Optional[Tuple[np.ndarray, np.ndarray]]) -> ScoreTerms:
    """The score terms ``config.model`` enables, unfitted, over a catalogue of
    item ``embeddings`` [N, D] (None: no history affinity) and release times
    [N] (none known: no freshness); the item-item term learns from the training
    ``interactions`` (user ids, catalogue rows)."""
    from bertrec import features as F
    from trainer import affinity, freshness, item_item

    m = config.model
    terms: List[ScoreTerm] = []
    if m.history_affinity and embeddings is not None:
        terms.append(affinity.HistoryAffinity())
    if m.freshness and bool((np.asarray(released) != F.UNKNOWN_RELEASE).any()):
        terms.append(freshness.Freshness())
    if m.item_item and interactions is not None:
        terms.append(item_item.ItemItem.from_log(*interactions, len(released), m))
    constant = None if embeddings is None else tf.constant(embeddings, dtype=tf.float32)
    return ScoreTerms(terms, constant, np.asarray(released, dtype=np.int64), config.data.max_history_items)


def summary_of(summary: Dict[str, Any]) -> Dict[str, Any]:
    """The terms' chosen values of a fit summary (without the likelihood figures)."""
    return {k: v for k, v in summary.items() if k != "score_terms_fit"}
