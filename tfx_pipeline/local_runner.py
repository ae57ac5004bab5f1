"""Runs the pipeline with TFX's local orchestrator (the ``tfx`` CLI's local engine).

    tfx pipeline create --engine local --pipeline_path $PWD/tfx_pipeline/local_runner.py
    tfx run create --engine local --pipeline_name bertrec

(``make run`` does this, after generating and preparing the data.) The config
comes from ``$BERTREC_CONFIG`` (a JSON overlay), since the CLI passes no
arguments; paths come from the config's work directory.
"""
import bertrec  # noqa: F401  (Keras 2 before TensorFlow)

# isort: split
from absl import logging
from tfx import v1 as tfx

from bertrec.config import Config
from tfx_pipeline.pipeline import create_pipeline
from trainer.distribution import configure_logical_cpus


def build(config: Config) -> tfx.dsl.Pipeline:
    """The pipeline with local paths and SQLite ML Metadata."""
    paths = config.paths()
    return create_pipeline(
        config,
        examples_dir=paths.examples_dir,
        pipeline_root=paths.pipeline_root,
        serving_model_dir=paths.serving_model_dir,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(paths.metadata_path),
    )


if __name__ == "__main__":
    logging.set_verbosity(logging.INFO)
    config = Config.load()
    # Executors run in this process; the device layout must be fixed before any TF work.
    configure_logical_cpus(config.train.logical_cpu_devices)
    tfx.orchestration.LocalDagRunner().run(build(config))
