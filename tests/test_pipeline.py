"""The DAG's wiring and the curated schema (no execution; see test_end_to_end for that)."""
import os

from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2
from google.protobuf import text_format

from bertrec import features as F
from bertrec.config import Config
from tfx_pipeline import anomalies_gate, pipeline
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


def test_code_changes_change_the_component_fingerprint(tmp_path, monkeypatch):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    monkeypatch.setattr(pipeline, "_PROJECT_DIR", str(tmp_path))
    before = pipeline.source_fingerprint(["pkg"])
    (tmp_path / "pkg" / "a.py").write_text("x = 2\n")
    assert pipeline.source_fingerprint(["pkg"]) != before


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
