"""The Evaluator's TFMA configuration: which metrics gate a model's blessing."""
from __future__ import annotations

import json

import tensorflow_model_analysis as tfma

from bertrec import features as F
from bertrec.config import Config
from trainer.export import SIGNATURE_EVALUATE

RETRIEVAL_RECALL = "retrieval_recall"
RANKED_RECALL = "ranked_recall"


def _recall(name: str, top_k: int, prefix: str, minimum: float, max_drop: float) -> tfma.MetricConfig:
    return tfma.MetricConfig(
        class_name="SetMatchRecall",
        config=json.dumps({
            "name": name,
            "top_k": top_k,
            "prediction_class_key": f"{prefix}_ids",
            "prediction_score_key": f"{prefix}_scores",
        }),
        threshold=tfma.MetricThreshold(
            value_threshold=tfma.GenericValueThreshold(lower_bound={"value": minimum}),
            # Compared with the latest blessed model; ignored when there is none yet.
            change_threshold=tfma.GenericChangeThreshold(
                direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={"value": -max_drop}
            ),
        ),
    )


def eval_config(config: Config) -> tfma.EvalConfig:
    """Retrieval recall@recall_k and recall@top_k of the re-ranked list, each with
    a value threshold and a change threshold against the last blessed model."""
    e = config.evaluate
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(signature_name=SIGNATURE_EVALUATE, label_key=F.ITEM_ID)],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="ExampleCount"),
                    _recall(RETRIEVAL_RECALL, e.recall_k, "retrieved", e.min_retrieval_recall, e.max_recall_drop),
                    _recall(RANKED_RECALL, config.serve.top_k, "ranked", e.min_ranked_recall, e.max_recall_drop),
                ]
            )
        ],
    )
