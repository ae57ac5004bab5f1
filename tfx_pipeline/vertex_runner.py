"""Compiles the same pipeline for Vertex AI Pipelines (KubeflowV2DagRunner), offline.

    BERTREC_CONFIG=vertex.json tfx pipeline create --engine vertex \\
        --pipeline_path $PWD/tfx_pipeline/vertex_runner.py --build_image   # or without --build_image
    tfx run create --engine vertex --pipeline_name bertrec --project P --region R

or ``python tfx_pipeline/vertex_runner.py`` to write ``<name>_pipeline.json``
(the pipeline spec Vertex runs) without contacting Google Cloud. Data, pipeline
root and pushed models live under ``pipeline.vertex_root`` on GCS; every
component runs in ``pipeline.vertex_image`` (see tfx_pipeline/Dockerfile); Beam
components run on Dataflow unless ``pipeline.vertex_use_dataflow`` is false.
"""
import bertrec  # noqa: F401  (Keras 2 before TensorFlow)

# isort: split
import os

from tfx import v1 as tfx

from bertrec.config import Config
from tfx_pipeline.pipeline import SCHEMA_FILE, create_pipeline

#: Where tfx_pipeline/Dockerfile puts the project inside the image.
IMAGE_PROJECT_DIR = "/bertrec"


def beam_args(config: Config) -> list:
    """Dataflow (or in-container DirectRunner) arguments for the Beam components."""
    p = config.pipeline
    if not p.vertex_use_dataflow:
        return ["--runner=DirectRunner", "--direct_running_mode=multi_processing", "--direct_num_workers=0"]
    return [
        "--runner=DataflowRunner",
        f"--project={p.vertex_project}",
        f"--region={p.vertex_region}",
        f"--temp_location={p.vertex_root}/beam-tmp",
        f"--sdk_container_image={p.vertex_image}",
        "--experiments=use_runner_v2",
    ]


def build(config: Config) -> tfx.dsl.Pipeline:
    """The pipeline with GCS paths (Vertex provides ML Metadata itself)."""
    root = config.pipeline.vertex_root.rstrip("/")
    return create_pipeline(
        config,
        examples_dir=f"{root}/examples",
        pipeline_root=f"{root}/pipeline_root",
        serving_model_dir=f"{root}/serving_model/{config.pipeline.name}",
        beam_args=beam_args(config),
        schema_file=f"{IMAGE_PROJECT_DIR}/tfx_pipeline/schema/{os.path.basename(SCHEMA_FILE)}",
    )


def compile_pipeline(config: Config, output_dir: str = ".") -> str:
    """Writes the Vertex pipeline spec JSON; returns its path."""
    path = os.path.join(output_dir, f"{config.pipeline.name}_pipeline.json")
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=config.pipeline.vertex_image),
        output_dir=output_dir,
        output_filename=os.path.basename(path),
    )
    runner.run(build(config))
    return path


if __name__ == "__main__":
    compile_pipeline(Config.load())
