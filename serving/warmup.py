"""Warm-up requests, the way TensorFlow Serving expects them.

TF Serving replays ``assets.extra/tf_serving_warmup_requests`` (a TFRecord file
of ``PredictionLog`` protos) when it loads a version, before the version takes
traffic, so the first real request does not pay for graph initialisation. The
exporter writes them; the local server replays them the same way.
"""
from __future__ import annotations

import os
from typing import List, Sequence

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from bertrec import features as F
from serving import protocol

WARMUP_PATH = os.path.join("assets.extra", "tf_serving_warmup_requests")


def build(item_ids: Sequence[str], max_batch_size: int, max_candidates: int) -> List[prediction_log_pb2.PredictionLog]:
    """Requests that exercise every client signature at a few batch sizes,
    with histories and candidates drawn from ``item_ids`` (the catalogue)."""
    ids = list(item_ids)
    logs = []
    for batch in sorted({1, min(8, max_batch_size)}):
        histories = [[ids[(i * 3 + j) % len(ids)] for j in range(3)] for i in range(batch)]
        inputs = protocol.context_inputs([f"warmup-user-{i}" for i in range(batch)], histories)
        for signature in (F.SIGNATURE_DEFAULT, F.SIGNATURE_RETRIEVE):
            logs.append(_log(signature, inputs))
        count = min(10, max_candidates, len(ids))
        candidates = np.array([[c.encode() for c in ids[:count]]] * batch, dtype=object)
        logs.append(_log(F.SIGNATURE_RANK, dict(inputs, **{F.CANDIDATE_IDS: candidates})))
    return logs


def _log(signature: str, inputs) -> prediction_log_pb2.PredictionLog:
    log = prediction_log_pb2.PredictionLog()
    # TF Serving ignores the model name of warm-up requests; the signature matters.
    log.predict_log.request.CopyFrom(protocol.predict_request("", inputs, signature))
    return log


def write(model_dir: str, logs: Sequence[prediction_log_pb2.PredictionLog]) -> str:
    """Writes ``logs`` into ``model_dir``'s warm-up file; returns its path."""
    path = os.path.join(model_dir, WARMUP_PATH)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.TFRecordWriter(path) as writer:
        for log in logs:
            writer.write(log.SerializeToString())
    return path


def read(model_dir: str) -> List[prediction_log_pb2.PredictionLog]:
    """The warm-up records of ``model_dir`` (none when it has no warm-up file)."""
    path = os.path.join(model_dir, WARMUP_PATH)
    if not tf.io.gfile.exists(path):
        return []
    return [
        prediction_log_pb2.PredictionLog.FromString(record.numpy())
        for record in tf.data.TFRecordDataset(path)
    ]
