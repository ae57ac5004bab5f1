"""The Evaluator's TFMA configuration: which metrics gate a model's blessing.

The ``evaluate`` signature returns, per eval example, whether the target item
was retrieved (top ``recall_k``) and whether it made the final list (top
``top_k``); the mean of each is a recall. (TFMA's SetMatchRecall would compute
the same from ranked id lists, but in TFMA 0.47 it breaks as soon as a baseline
model is compared: its false-negative rows are not keyed by model name.)
"""
from __future__ import annotations

import json

import tensorflow_model_analysis as tfma

from bertrec import features as F
from bertrec.config import Config

RETRIEVAL_RECALL = "retrieval_recall"
RANKED_RECALL = "ranked_recall"
#: Signature outputs the two recalls average.
RETRIEVAL_HIT = "retrieval_hit"
RANKED_HIT = "ranked_hit"


def _recall(output: str, name: str, minimum: float, max_drop: float) -> tfma.MetricsSpec:
    return tfma.MetricsSpec(
        output_names=[output],
        metrics=[
            tfma.MetricConfig(
                class_name="MeanPrediction",
                config=json.dumps({"name": name}),
                threshold=tfma.MetricThreshold(
                    value_threshold=tfma.GenericValueThreshold(lower_bound={"value": minimum}),
                    # Compared with the latest blessed model; ignored when there is none yet.
                    change_threshold=tfma.GenericChangeThreshold(
                        direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={"value": -max_drop}
                    ),
                ),
            )
        ],
    )


def eval_config(config: Config) -> tfma.EvalConfig:
    """Retrieval recall@recall_k and recall@top_k of the re-ranked list, each with
    a value threshold and a change threshold against the last blessed model."""
    e = config.evaluate
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name=F.SIGNATURE_EVALUATE,
                # The recalls need no label column; TFMA wants one per output all the same.
                label_keys={RETRIEVAL_HIT: F.RATING, RANKED_HIT: F.RATING},
            )
        ],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[
            tfma.MetricsSpec(metrics=[tfma.MetricConfig(class_name="ExampleCount")], output_names=[RETRIEVAL_HIT]),
            _recall(RETRIEVAL_HIT, RETRIEVAL_RECALL, e.min_retrieval_recall, e.max_recall_drop),
            _recall(RANKED_HIT, RANKED_RECALL, e.min_ranked_recall, e.max_recall_drop),
        ],
    )
