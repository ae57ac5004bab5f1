"""TensorFlow Serving's Predict protocol: requests from raw features, answers to numpy.

Shared by the client, the local server and the warm-up records, so all three
build and read messages one way. Only ``tensorflow`` and the
``tensorflow-serving-api`` protos are needed: nothing here knows the model.
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2

from bertrec import features as F


def predict_request(
    model_name: str,
    inputs: Mapping[str, np.ndarray],
    signature: str = F.SIGNATURE_DEFAULT,
    version: Optional[int] = None,
) -> predict_pb2.PredictRequest:
    """A PredictRequest carrying ``inputs`` (numpy arrays or lists) as TensorProtos."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = int(version)
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return request


def context_inputs(user_ids: Sequence[str], histories: Sequence[Sequence[str]]) -> Dict[str, np.ndarray]:
    """The user-side inputs of every client signature, for a batch of users.

    ``histories[i]`` lists user i's recent item ids, most recent first.
    """
    if len(user_ids) != len(histories):
        raise ValueError(f"{len(user_ids)} user ids but {len(histories)} histories")
    return {
        F.USER_ID: np.array([u.encode() for u in user_ids], dtype=object),
        F.HISTORY_ITEM_IDS: np.array(
            [F.HISTORY_ID_SEPARATOR.join(h).encode() for h in histories], dtype=object
        ),
    }


def outputs_to_numpy(response: predict_pb2.PredictResponse) -> Dict[str, np.ndarray]:
    """A PredictResponse's outputs as numpy arrays (strings as bytes)."""
    return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}
