"""Client for a bertrec model behind TensorFlow Serving's gRPC API.

Built on the ``tensorflow-serving-api`` stubs only, so it works unchanged
against the real ``tensorflow_model_server`` and against ``bertrec serve``,
in plain text or over TLS (credentials from serving.tls.channel_credentials).
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Sequence

import grpc
import numpy as np
from google.protobuf import json_format
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from bertrec import features as F
from serving import protocol

#: gRPC's default 4 MiB is too small for a large rank request or metadata.
MAX_MESSAGE_BYTES = 64 << 20


@dataclasses.dataclass
class Recommendation:
    """One recommended item."""

    item_id: str
    title: str
    score: float


class ServingClient:
    """Calls one model on a TF Serving (or bertrec serve) address such as ``localhost:8500``."""

    def __init__(
        self,
        address: str,
        model_name: str = "bertrec",
        timeout: float = 30.0,
        credentials: Optional[grpc.ChannelCredentials] = None,
    ):
        """``credentials`` (serving.tls.channel_credentials) make the channel TLS; None: plain text."""
        self.address = address
        self.model_name = model_name
        self.timeout = timeout
        options = [
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ]
        if credentials is None:
            self._channel = grpc.insecure_channel(address, options=options)
        else:
            self._channel = grpc.secure_channel(address, credentials, options=options)
        self._predict = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._models = model_service_pb2_grpc.ModelServiceStub(self._channel)

    def close(self) -> None:
        """Closes the channel."""
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Blocks until the channel connects (raises grpc.FutureTimeoutError otherwise)."""
        grpc.channel_ready_future(self._channel).result(timeout=timeout)

    # -- Predict ---------------------------------------------------------------
    def predict(
        self,
        inputs: Dict[str, np.ndarray],
        signature: str = F.SIGNATURE_DEFAULT,
        version: Optional[int] = None,
        timeout: Optional[float] = None,
    ) -> Dict[str, np.ndarray]:
        """Raw Predict: named input arrays in, named output arrays out."""
        request = protocol.predict_request(self.model_name, inputs, signature, version)
        return protocol.outputs_to_numpy(self.call(request, timeout))

    def call(self, request: predict_pb2.PredictRequest, timeout: Optional[float] = None) -> predict_pb2.PredictResponse:
        """Sends a prepared PredictRequest; the response says which version answered."""
        return self._predict.Predict(request, timeout=timeout or self.timeout)

    def recommend(
        self, histories: Sequence[Sequence[str]], user_ids: Optional[Sequence[str]] = None,
        signature: str = F.SIGNATURE_DEFAULT, version: Optional[int] = None,
    ) -> List[List[Recommendation]]:
        """Ranked items per user (``serving_default``, or ``retrieve`` for the first stage alone)."""
        user_ids = list(user_ids) if user_ids is not None else [""] * len(histories)
        out = self.predict(protocol.context_inputs(user_ids, histories), signature, version)
        return [
            [Recommendation(i.decode(), t.decode(), float(s)) for i, t, s in zip(ids, titles, scores)]
            for ids, titles, scores in zip(out[F.OUT_ITEM_IDS], out[F.OUT_TITLES], out[F.OUT_SCORES])
        ]

    def rank(
        self, histories: Sequence[Sequence[str]], candidates: Sequence[Sequence[str]],
        user_ids: Optional[Sequence[str]] = None, version: Optional[int] = None,
    ) -> np.ndarray:
        """Ranking probabilities [users, candidates] of given candidate ids (equal-length
        lists; each user's sum to 1 over the available ones: the chance that each is the
        user's next pick; an unavailable candidate gets 0)."""
        user_ids = list(user_ids) if user_ids is not None else [""] * len(histories)
        inputs = protocol.context_inputs(user_ids, histories)
        inputs[F.CANDIDATE_IDS] = np.array([[c.encode() for c in row] for row in candidates], dtype=object)
        return self.predict(inputs, F.SIGNATURE_RANK, version)[F.OUT_SCORES]

    # -- model status and metadata ---------------------------------------------
    def status(self, version: Optional[int] = None) -> List[dict]:
        """Every version's state (``AVAILABLE``, ``END``...) and error, newest last."""
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = self.model_name
        if version is not None:
            request.model_spec.version.value = version
        response = self._models.GetModelStatus(request, timeout=self.timeout)
        states = get_model_status_pb2.ModelVersionStatus.State
        return [
            {
                "version": s.version,
                "state": states.Name(s.state),
                "error_code": s.status.error_code,
                "error_message": s.status.error_message,
            }
            for s in response.model_version_status
        ]

    def metadata(self, version: Optional[int] = None) -> dict:
        """The served version and its signatures: inputs and outputs with dtypes and shapes."""
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        request.model_spec.name = self.model_name
        if version is not None:
            request.model_spec.version.value = version
        response = self._predict.GetModelMetadata(request, timeout=self.timeout)
        signatures = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signatures)
        return {
            "model": response.model_spec.name,
            "version": response.model_spec.version.value,
            "signatures": json_format.MessageToDict(signatures)["signatureDef"],
        }
