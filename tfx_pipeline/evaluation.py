"""The Evaluator's TFMA configuration: which metrics gate a model's blessing.

The ``evaluate`` signature returns, per eval example, where the target item
landed (see ``trainer/export.py``); TFMA's ``MeanPrediction`` of each output is
the metric (TFMA 0.47's SetMatchRecall would compute recall from ranked id
lists, but breaks as soon as a baseline model is compared: its false-negative
rows are not keyed by model name).

Gated (a value threshold and a change threshold against the last blessed model):
retrieval recall@``recall_k`` and recall@``top_k`` of the final re-ranked list.
Reported for the candidate only: NDCG@``top_k`` and MRR of the final list, so a
baseline exported before they existed still compares on the gated two.
"""
from __future__ import annotations

import json

import tensorflow_model_analysis as tfma

from bertrec import features as F
from bertrec.config import Config

RETRIEVAL_RECALL = "retrieval_recall"
RANKED_RECALL = "ranked_recall"
RANKED_NDCG = "ranked_ndcg"
RANKED_MRR = "ranked_mrr"


def _mean(output: str, name: str, threshold=None) -> tfma.MetricsSpec:
    return tfma.MetricsSpec(
        output_names=[output],
        # Without thresholds: the candidate only (the baseline may lack the output).
        model_names=[] if threshold else [tfma.CANDIDATE_KEY],
        metrics=[
            tfma.MetricConfig(class_name="MeanPrediction", config=json.dumps({"name": name}), threshold=threshold)
        ],
    )


def _gate(minimum: float, max_drop: float) -> tfma.MetricThreshold:
    return tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": minimum}),
        # Compared with the latest blessed model; ignored when there is none yet.
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={"value": -max_drop}
        ),
    )


def eval_config(config: Config) -> tfma.EvalConfig:
    """The gated recalls and the reported NDCG / MRR (see module docstring)."""
    e = config.evaluate
    outputs = (F.EVAL_RETRIEVAL_HIT, F.EVAL_RANKED_HIT, F.EVAL_RANKED_NDCG, F.EVAL_RANKED_RECIPROCAL_RANK)
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name=F.SIGNATURE_EVALUATE,
                # The metrics need no label column; TFMA wants one per output all the same.
                label_keys={output: F.RATING for output in outputs},
            )
        ],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[
            tfma.MetricsSpec(metrics=[tfma.MetricConfig(class_name="ExampleCount")],
                             output_names=[F.EVAL_RETRIEVAL_HIT]),
            _mean(F.EVAL_RETRIEVAL_HIT, RETRIEVAL_RECALL, _gate(e.min_retrieval_recall, e.max_recall_drop)),
            _mean(F.EVAL_RANKED_HIT, RANKED_RECALL, _gate(e.min_ranked_recall, e.max_recall_drop)),
            _mean(F.EVAL_RANKED_NDCG, RANKED_NDCG),
            _mean(F.EVAL_RANKED_RECIPROCAL_RANK, RANKED_MRR),
        ],
    )
