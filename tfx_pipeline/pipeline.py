"""The bertrec DAG: which component feeds which. Runners live beside it.

ImportExampleGen (train / eval / catalogue splits prepared by ``bertrec data prepare``)
  -> StatisticsGen -> ImportSchemaGen (curated schema) -> ExampleValidator -> AnomaliesGate
  -> Transform (transforms/preprocessing.py; analyzed on train, applied to all splits)
  -> Trainer (trainer/task.py; reads the catalogue split of the transformed examples)
  -> Evaluator (TFMA on the eval split, baseline = latest blessed model)
  -> Pusher (versioned SavedModel directory watched by TF Serving)
"""
from __future__ import annotations

import hashlib
import os
from typing import List, Optional

from tfx import v1 as tfx

from bertrec import features as F
from bertrec.config import Config
from tfx_pipeline.anomalies_gate import AnomaliesGate
from tfx_pipeline.evaluation import eval_config

SCHEMA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schema")
_PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def source_fingerprint(packages: List[str]) -> str:
    """Hash of the Python sources of ``packages``.

    Transform and Trainer are referenced by dotted name, which TFX's cache key
    does not cover; adding this to their custom_config makes a code change re-run
    them (and only them and what depends on them).
    """
    digest = hashlib.sha256()
    for package in sorted(packages):
        root = os.path.join(_PROJECT_DIR, package)
        for dirpath, dirnames, filenames in sorted(os.walk(root)):
            dirnames.sort()
            for name in sorted(filenames):
                if name.endswith(".py"):
                    path = os.path.join(dirpath, name)
                    digest.update(os.path.relpath(path, _PROJECT_DIR).encode())
                    with open(path, "rb") as f:
                        digest.update(f.read())
    return digest.hexdigest()[:16]


def component_config(config: Config, packages: List[str]) -> dict:
    """custom_config for a component whose code lives in ``packages``."""
    return {**config.to_dict(), "_source_fingerprint": source_fingerprint(packages)}


def create_pipeline(
    config: Config,
    *,
    examples_dir: str,
    pipeline_root: str,
    serving_model_dir: str,
    metadata_connection_config=None,
    beam_args: Optional[List[str]] = None,
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
    schema_gen = tfx.components.ImportSchemaGen(schema_file=os.path.join(SCHEMA_DIR, "schema.pbtxt"))
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    anomalies_gate = AnomaliesGate(anomalies=example_validator.outputs["anomalies"])

    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn="transforms.preprocessing.preprocessing_fn",
        splits_config=tfx.proto.SplitsConfig(analyze=[F.TRAIN_SPLIT], transform=list(F.SPLITS)),
        custom_config=component_config(config, ["bertrec", "transforms"]),
    )
    transform.add_upstream_node(anomalies_gate)

    trainer = tfx.components.Trainer(
        run_fn="trainer.task.run_fn",
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        train_args=tfx.proto.TrainArgs(splits=[F.TRAIN_SPLIT], num_steps=config.train.train_steps),
        # The catalogue split rides along with eval; run_fn tells them apart.
        eval_args=tfx.proto.EvalArgs(splits=[F.EVAL_SPLIT, F.CATALOGUE_SPLIT], num_steps=config.train.validation_steps),
        custom_config=component_config(config, ["bertrec", "transforms", "trainer"]),
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

    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"],
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
            transform, trainer, model_resolver, evaluator, pusher,
        ],
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_args if beam_args is not None else list(config.pipeline.beam_args),
    )

