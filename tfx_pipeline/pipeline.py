"""The bertrec DAG: which component feeds which. Runners live beside it.

ImportExampleGen (train / validation / eval / catalogue splits prepared by ``bertrec data prepare``)
  -> StatisticsGen -> ImportSchemaGen (curated schema) -> ExampleValidator -> AnomaliesGate
  -> Transform (transforms/preprocessing.py; analyzed on train, applied to all splits)
  -> Trainer (trainer/task.py; validates on the validation split, reads the catalogue split)
  -> Evaluator (TFMA on the eval split, baseline = latest blessed model)
  -> Pusher (versioned SavedModel directory watched by TF Serving)
"""
from __future__ import annotations

import os
from typing import List, Optional

from tfx import v1 as tfx
from tfx.dsl.components.base import executor_spec

from bertrec import features as F
from bertrec.config import SPLIT_SUMMARY_KEY, Config, trainer_config, transform_config
from bertrec.data.prepare import SUMMARY_FILE
from tfx_pipeline import pusher, sources
from tfx_pipeline.anomalies_gate import AnomaliesGate
from tfx_pipeline.evaluation import eval_config

SCHEMA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schema", "schema.pbtxt")
#: The entry modules of the custom code each component runs.
TRANSFORM_MODULE, TRAINER_MODULE = "transforms.preprocessing", "trainer.task"


def with_fingerprint(custom_config: dict, module: str) -> dict:
    """``custom_config`` annotated with the fingerprint of ``module``'s code and
    every project module it imports (``tfx_pipeline.sources``)."""
    return {**custom_config, "_source_fingerprint": sources.fingerprint([module])}


def create_pipeline(
    config: Config,
    *,
    examples_dir: str,
    pipeline_root: str,
    serving_model_dir: str,
    metadata_connection_config=None,
    beam_args: Optional[List[str]] = None,
    schema_file: str = SCHEMA_FILE,
    enable_cache: bool = True,
) -> tfx.dsl.Pipeline:
    """Builds the pipeline; runners choose where it reads, writes and executes."""
    example_gen = tfx.components.ImportExampleGen(
        input_base=examples_dir,
        input_config=tfx.proto.Input(
            splits=[tfx.proto.Input.Split(name=s, pattern=f"{s}/*") for s in F.SPLITS]
        ),
    )
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.ImportSchemaGen(schema_file=schema_file)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    anomalies_gate = AnomaliesGate(anomalies=example_validator.outputs["anomalies"])

    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=f"{TRANSFORM_MODULE}.preprocessing_fn",
        splits_config=tfx.proto.SplitsConfig(analyze=[F.TRAIN_SPLIT], transform=list(F.SPLITS)),
        custom_config=with_fingerprint(transform_config(config), TRANSFORM_MODULE),
    )
    transform.add_upstream_node(anomalies_gate)

    trainer = tfx.components.Trainer(
        run_fn=f"{TRAINER_MODULE}.run_fn",
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        # No step count: run_fn trains whole epochs with early stopping (train.max_epochs).
        train_args=tfx.proto.TrainArgs(splits=[F.TRAIN_SPLIT]),
        # The catalogue split rides along with validation; run_fn tells them apart.
        # The eval (test) split is for the Evaluator alone.
        eval_args=tfx.proto.EvalArgs(splits=[F.VALIDATION_SPLIT, F.CATALOGUE_SPLIT]),
        custom_config=with_fingerprint(
            # Read when the Trainer runs (not when the pipeline is compiled, maybe offline for Vertex).
            {**trainer_config(config), SPLIT_SUMMARY_KEY: f"{examples_dir.rstrip('/')}/{SUMMARY_FILE}"},
            TRAINER_MODULE,
        ),
    )

    model_resolver = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")

    evaluator = tfx.components.Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=model_resolver.outputs["model"],
        schema=schema_gen.outputs["schema"],
        eval_config=eval_config(config),
        example_splits=[F.EVAL_SPLIT],
    )

    model_pusher = tfx.components.Pusher(
        model=trainer.outputs["model"],
        custom_executor_spec=executor_spec.ExecutorClassSpec(pusher.Executor),
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=serving_model_dir)
        ),
    )

    return tfx.dsl.Pipeline(
        pipeline_name=config.pipeline.name,
        pipeline_root=pipeline_root,
        components=[
            example_gen, statistics_gen, schema_gen, example_validator, anomalies_gate,
            transform, trainer, model_resolver, evaluator, model_pusher,
        ],
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_args if beam_args is not None else list(config.pipeline.beam_args),
    )

