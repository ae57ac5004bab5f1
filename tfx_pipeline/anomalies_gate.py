"""A component that stops the pipeline when ExampleValidator found anomalies.

ExampleValidator only records anomalies; nothing downstream reads them. This
gate runs after it and before Transform, and fails with a readable summary
(split, feature, problem) so bad data never reaches training.
"""
# No `from __future__ import annotations`: TFX parses the component's type hints.
import os

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx import v1 as tfx
from tfx.types import artifact_utils


class DataAnomaliesError(RuntimeError):
    """ExampleValidator found anomalies in the input examples."""


def summarize(anomalies_by_split) -> str:
    """One line per anomalous feature: ``split: feature: short description (details)``."""
    lines = []
    for split, anomalies in sorted(anomalies_by_split.items()):
        for feature, info in sorted(anomalies.anomaly_info.items()):
            details = "; ".join(r.description for r in info.reason) or info.description
            lines.append(f"  {split}: feature {feature!r}: {info.short_description} ({details})")
        if anomalies.HasField("dataset_anomaly_info"):
            lines.append(f"  {split}: dataset: {anomalies.dataset_anomaly_info.description}")
    return "\n".join(lines)


def read_anomalies(uri: str, split_names: str) -> dict:
    """Anomalies protos of an ExampleAnomalies artifact, by split."""
    result = {}
    for split in artifact_utils.decode_split_names(split_names):
        path = os.path.join(uri, f"Split-{split}", "SchemaDiff.pb")
        anomalies = anomalies_pb2.Anomalies()
        with open(path, "rb") as f:
            anomalies.ParseFromString(f.read())
        result[split] = anomalies
    return result


@tfx.dsl.components.component
def AnomaliesGate(anomalies: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.ExampleAnomalies]):
    """Raises DataAnomaliesError listing every anomaly, if there is any."""
    found = read_anomalies(anomalies.uri, anomalies.split_names)
    summary = summarize(found)
    if summary:
        raise DataAnomaliesError(
            "ExampleValidator found anomalies in the input data; the pipeline stops here:\n"
            f"{summary}\nFix the data (see README, 'Bring your own data') or the schema "
            "(tfx_pipeline/schema/schema.pbtxt)."
        )
