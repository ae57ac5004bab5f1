"""Choosing a baseline's hyper-parameters on the validation split.

Every baseline is tuned on the same validation examples (carved from the
training data), never on the test split; the report prints what was chosen.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, List, Sequence

from bertrec.evaluation.baselines import TrainingLog, Validation


@dataclasses.dataclass
class Tuned:
    """The chosen parameters, each setting's parameters with its validation
    ``metric`` value (grid order), and the chosen setting's fitted model."""

    params: dict
    values: List[dict]
    model: object
    metric: str


def tune(factory: Callable[..., object], grid: Sequence[dict], log: TrainingLog, validation: Validation,
         metric: str = "ndcg@10") -> Tuned:
    """Fits ``factory(**params).fit(log)`` for each ``params`` in ``grid`` and keeps
    the one with the best mean ``metric`` (``metrics.per_example`` names, e.g.
    "ndcg@10", "recall@50", "mrr@100") on ``validation``; the earlier setting wins a tie."""
    if not grid:
        raise ValueError("empty grid")
    best, values = None, []
    for params in grid:
        model = factory(**params).fit(log)
        value = validation.evaluate(model, metric)
        values.append({**params, metric: round(value, 6)})
        if best is None or value > best[0]:
            best = (value, params, model)
    return Tuned(params=dict(best[1]), values=values, model=best[2], metric=metric)
