"""The DAG's wiring and the curated schema (no execution; see test_end_to_end for that)."""
import subprocess
import sys

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2

from bertrec import features as F
from bertrec.config import Config
from tfx_pipeline import anomalies_gate, pipeline, sources
from tfx_pipeline.local_runner import build


def test_schema_lists_exactly_the_raw_features():
    schema = text_format.Parse(open(pipeline.SCHEMA_FILE).read(), schema_pb2.Schema())
    assert {f.name for f in schema.feature} == set(F.RAW_FEATURES)
    for feature in schema.feature:
        assert feature.presence.min_fraction == 1.0


def test_pipeline_has_every_stage_in_order(tmp_path):
    config = Config.from_dict({"pipeline": {"work_dir": str(tmp_path)}})
    p = build(config)
    ids = [c.id for c in p.components]
    for component in ("ImportExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator", "AnomaliesGate",
                      "Transform", "Trainer", "latest_blessed_model_resolver", "Evaluator", "Pusher"):
        assert component in ids
    by_id = {c.id: c for c in p.components}
    assert "AnomaliesGate" in {n.id for n in by_id["Transform"].upstream_nodes}
    assert p.pipeline_info.pipeline_root == config.paths().pipeline_root


def _project(tmp_path, files):
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return str(tmp_path)


def test_a_change_to_any_module_the_entry_module_imports_changes_its_fingerprint(tmp_path):
    project = _project(tmp_path, {
        "trainer/__init__.py": "",
        "trainer/task.py": "from trainer import model\nimport numpy\n",
        "trainer/model.py": "from . import helper\n",
        "trainer/helper.py": "x = 1\n",
        "trainer/unused.py": "y = 1\n",
    })
    assert sources.dependencies(["trainer.task"], project) == [
        "trainer/__init__.py", "trainer/helper.py", "trainer/model.py", "trainer/task.py"]
    before = sources.fingerprint(["trainer.task"], project)
    (tmp_path / "trainer" / "unused.py").write_text("y = 2\n")
    assert sources.fingerprint(["trainer.task"], project) == before  # not imported: no re-run
    (tmp_path / "trainer" / "helper.py").write_text("x = 2\n")  # imported two steps away
    assert sources.fingerprint(["trainer.task"], project) != before


def test_the_trainers_fingerprint_covers_what_it_imports_outside_trainer():
    files = sources.dependencies([pipeline.TRAINER_MODULE])
    # The validation metrics and the warm-up requests live outside trainer/ (a
    # hand-kept list once missed the metrics).
    for needed in ("trainer/reranker.py", "bertrec/evaluation/metrics.py", "serving/warmup.py",
                   "bertrec/data/prepare.py", "transforms/preprocessing.py"):
        assert needed in files
    assert "bertrec/cli.py" not in files and "serving/server.py" not in files
    assert sources.dependencies([pipeline.TRANSFORM_MODULE]) == [
        "bertrec/__init__.py", "bertrec/config.py", "bertrec/errors.py", "bertrec/features.py",
        "bertrec/pretrained.py", "transforms/__init__.py", "transforms/preprocessing.py"]


def test_compiling_the_pipeline_does_not_load_the_training_libraries():
    # Compiling for Vertex happens on a machine that never trains. (TFX itself
    # imports TensorFlow Recommenders: only what the project adds counts.)
    code = ("import sys; from tfx import v1; before = set(sys.modules); "
            "import tfx_pipeline.local_runner, tfx_pipeline.vertex_runner; "
            "print(sorted(m for m in ('keras_nlp', 'tensorflow_recommenders', 'trainer.task', "
            "'transforms.preprocessing') if m in set(sys.modules) - before))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=sources.PROJECT_DIR)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


def test_anomaly_summary_names_split_and_feature():
    anomalies = anomalies_pb2.Anomalies()
    info = anomalies.anomaly_info["rating"]
    info.short_description = "Column dropped"
    info.reason.add(description="The feature was present in fewer examples than expected.")
    summary = anomalies_gate.summarize({"eval": anomalies, "train": anomalies_pb2.Anomalies()})
    assert summary == (
        "  eval: feature 'rating': Column dropped "
        "(The feature was present in fewer examples than expected.)"
    )
