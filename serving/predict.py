"""Running one PredictRequest against a loaded model, with TF Serving's checks and errors.

The request is checked the way TensorFlow Serving checks it (same status codes,
and the same messages where TF Serving's are fixed strings) before TensorFlow
sees it; limits that belong to the model (batch size, empty or oversized text,
candidate lists) are checked inside the model's graph and surface as
INVALID_ARGUMENT from there, exactly as they would in TF Serving.
"""
from __future__ import annotations

import functools
from typing import Dict, Optional

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2

from bertrec import features as F

#: Largest tensor a request may declare (elements): bounds the memory a
#: malformed TensorProto can make the server allocate.
MAX_TENSOR_ELEMENTS = 1 << 20

#: TensorFlow error class -> gRPC status code (the codes are the same enum).
_TF_CODES = {cls: grpc.StatusCode[name] for cls, name in (
    (tf.errors.InvalidArgumentError, "INVALID_ARGUMENT"),
    (tf.errors.FailedPreconditionError, "FAILED_PRECONDITION"),
    (tf.errors.OutOfRangeError, "OUT_OF_RANGE"),
    (tf.errors.ResourceExhaustedError, "RESOURCE_EXHAUSTED"),
    (tf.errors.DeadlineExceededError, "DEADLINE_EXCEEDED"),
    (tf.errors.NotFoundError, "NOT_FOUND"),
    (tf.errors.UnimplementedError, "UNIMPLEMENTED"),
)}


class ServingError(Exception):
    """A request failed with a gRPC status code and message."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(message: str) -> ServingError:
    """An INVALID_ARGUMENT error."""
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def _dtype_name(dtype: int) -> str:
    try:
        return tf.dtypes.as_dtype(dtype).name
    except TypeError:
        return f"unknown dtype {dtype}"


def tensor_from_proto(name: str, proto: tensor_pb2.TensorProto) -> np.ndarray:
    """A request tensor as numpy, refusing protos that are inconsistent or too large."""
    dims = [d.size for d in proto.tensor_shape.dim]
    if proto.tensor_shape.unknown_rank or any(d < 0 for d in dims):
        raise invalid(f"input {name}: tensor shape must be fully defined, got {dims}")
    elements = int(np.prod(dims, dtype=np.int64)) if dims else 1
    if elements > MAX_TENSOR_ELEMENTS:
        raise invalid(f"input {name}: {elements} elements is more than the {MAX_TENSOR_ELEMENTS} a request may hold")
    if proto.dtype == types_pb2.DT_STRING:
        if len(proto.string_val) not in (elements, 1) and not (elements == 0 and not proto.string_val):
            raise invalid(f"input {name}: shape {dims} needs {elements} string values, got {len(proto.string_val)}")
    try:
        return tf.make_ndarray(proto)
    except Exception as e:  # malformed content of any kind is the client's error
        raise invalid(f"input {name}: cannot read the tensor ({type(e).__name__}: {e})") from e


def _check_inputs(signature_def, request: predict_pb2.PredictRequest) -> None:
    """TF Serving's input-set check, message included."""
    sent = set(request.inputs.keys())
    expected = set(signature_def.inputs.keys())
    if sent != expected:
        raise invalid(
            f"input size does not match signature: {len(sent)}!={len(expected)} "
            f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(expected))}}}). "
            f"Sent extra: {{{','.join(sorted(sent - expected))}}}. "
            f"Missing but required: {{{','.join(sorted(expected - sent))}}}."
        )


def _input_arrays(signature_def, request: predict_pb2.PredictRequest) -> Dict[str, np.ndarray]:
    arrays = {}
    for position, name in enumerate(sorted(signature_def.inputs)):
        spec = signature_def.inputs[name]
        proto = request.inputs[name]
        if proto.dtype != spec.dtype:
            raise invalid(
                f"Expects arg[{position}] ({name}) to be {_dtype_name(spec.dtype)} "
                f"but {_dtype_name(proto.dtype)} is provided"
            )
        value = tensor_from_proto(name, proto)
        wanted = [d.size for d in spec.tensor_shape.dim]
        if not spec.tensor_shape.unknown_rank and (
            value.ndim != len(wanted) or any(w >= 0 and w != v for w, v in zip(wanted, value.shape))
        ):
            shape = ",".join("?" if w < 0 else str(w) for w in wanted)
            raise invalid(f"input {name} must have shape [{shape}], got {list(value.shape)}")
        arrays[name] = value
    return arrays


def _call(function, signature_def, arrays: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """One call of a signature function: numpy in, numpy out, TF errors as ServingError."""
    inputs = {name: tf.constant(value, dtype=tf.dtypes.as_dtype(signature_def.inputs[name].dtype))
              for name, value in arrays.items()}
    try:
        return {name: value.numpy() for name, value in function(**inputs).items()}
    except tf.errors.OpError as e:
        raise ServingError(_TF_CODES.get(type(e), grpc.StatusCode.INTERNAL), _error_message(e)) from e


def _error_message(error: tf.errors.OpError) -> str:
    """What went wrong, without TensorFlow's graph-node noise: the model's own
    assertion message when there is one, else the error's first part."""
    message = error.message
    if "assertion failed:" in message:
        return message[message.index("assertion failed:"):].split("\n")[0].strip()
    return message.split("\n\t [[")[0].strip()


def run(
    servable, request: predict_pb2.PredictRequest, batcher=None, deadline: Optional[float] = None,
) -> predict_pb2.PredictResponse:
    """Answers ``request`` with ``servable`` (a loaded version, see model_manager.Servable),
    through ``batcher`` (serving.batching.Batcher) when one is given; a request
    still queued at ``deadline`` (time.monotonic()) is not run."""
    name = request.model_spec.signature_name or F.SIGNATURE_DEFAULT
    signature_def = servable.signature_defs.get(name)
    if signature_def is None:
        raise ServingError(grpc.StatusCode.FAILED_PRECONDITION, f'Serving signature key "{name}" not found.')
    _check_inputs(signature_def, request)
    wanted = list(request.output_filter) or sorted(signature_def.outputs)
    for alias in request.output_filter:
        if alias not in signature_def.outputs:
            raise invalid(
                f"output tensor alias not found in signature: {alias} Outputs expected to be in the set "
                f"{{{','.join(sorted(signature_def.outputs))}}}."
            )
    if len(set(wanted)) != len(wanted):
        raise invalid("duplicate output tensor alias: " + next(a for a in wanted if wanted.count(a) > 1))
    arrays = _input_arrays(signature_def, request)
    function = functools.partial(_call, servable.functions[name], signature_def)
    if batcher is None:
        outputs = function(arrays)
    else:
        try:
            outputs = batcher.run((servable.name, servable.version, name), function, arrays, deadline)
        except TimeoutError as e:
            raise ServingError(grpc.StatusCode.DEADLINE_EXCEEDED, str(e)) from e
    response = predict_pb2.PredictResponse()
    response.model_spec.name = servable.name
    response.model_spec.version.value = servable.version
    response.model_spec.signature_name = name
    for alias in wanted:
        response.outputs[alias].CopyFrom(tf.make_tensor_proto(outputs[alias]))
    return response
