"""A local model server that speaks TensorFlow Serving's gRPC API.

``PredictionService`` (Predict, GetModelMetadata) and
``ModelService.GetModelStatus`` over the Pusher's versioned directory, with
TF Serving's status codes, so the client, ``make serve`` and the tests work on
any machine, and the same client talks to the real ``tensorflow_model_server``
in production (see serving/deploy/). Classify, Regress, MultiInference and
HandleReloadConfigRequest answer UNIMPLEMENTED, as for a model without such
signatures.

With a batcher, concurrent Predict calls of one signature are merged into one
model call, as TF Serving's ``--enable_batching`` does (serving/batching.py).

Requests whose client deadline has passed when a worker picks them up, or while
they wait for a batch, are answered DEADLINE_EXCEEDED without running the model; at most
``max_queued`` requests wait for a worker, beyond that RESOURCE_EXHAUSTED.

Prometheus metrics under TF Serving's names (serving/metrics.py) are served over
HTTP when a metrics port is given; TF Serving's ``--ssl_config_file`` turns on
TLS (serving/tls.py).
"""
from __future__ import annotations

import logging
import signal
import threading
import time
from concurrent import futures
from typing import Optional, Sequence

import grpc
from google.protobuf import any_pb2, text_format
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
)
from tensorflow_serving.config import model_server_config_pb2

from bertrec.errors import UserError
from serving import predict
from serving.batching import Batcher
from serving.metrics import METRICS_PATH, MetricsHTTPServer, ServerMetrics
from serving.model_manager import ModelManager
from serving.tls import server_credentials

log = logging.getLogger("bertrec.serving")


def _abort_on_error(method):
    """Turns ServingError into the call's status, and anything unexpected into INTERNAL;
    reports every call's final status and duration to the service's metrics."""

    def wrapper(self, request, context):
        start = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            remaining = context.time_remaining()
            if remaining is not None and remaining <= 0:
                code, message = grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline exceeded before the request was run"
            else:
                return method(self, request, context)
        except predict.ServingError as e:
            code, message = e.code, e.message
        except Exception as e:  # never let one request take the server down
            log.exception("%s failed", method.__name__)
            code, message = grpc.StatusCode.INTERNAL, f"{type(e).__name__}: {e}"
        finally:  # also on success (the return above)
            self._metrics.request_done(method.__name__, request.model_spec.name, code, time.perf_counter() - start)
        context.abort(code, message)

    wrapper.__name__ = method.__name__
    wrapper.__doc__ = method.__doc__
    return wrapper


def _version(model_spec) -> Optional[int]:
    return model_spec.version.value if model_spec.HasField("version") else None


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict and GetModelMetadata."""

    def __init__(self, manager: ModelManager, metrics: ServerMetrics, batcher: Optional[Batcher] = None):
        self._manager = manager
        self._metrics = metrics
        self._batcher = batcher

    @_abort_on_error
    def Predict(self, request, context):
        """Runs the requested signature of the requested (or newest) version."""
        spec = request.model_spec
        servable = self._manager.servable(spec.name, _version(spec), spec.version_label)
        remaining = context.time_remaining()
        deadline = time.monotonic() + remaining if remaining is not None else None
        return predict.run(servable, request, self._batcher, deadline)

    @_abort_on_error
    def GetModelMetadata(self, request, context):
        """The version's signature definitions (the only metadata TF Serving serves)."""
        fields = list(request.metadata_field)
        if not fields:
            raise predict.invalid("GetModelMetadataRequest must specify at least one metadata_field")
        for field in fields:
            if field != "signature_def":
                raise predict.invalid(f"Metadata field {field} is not supported")
        spec = request.model_spec
        servable = self._manager.servable(spec.name, _version(spec), spec.version_label)
        signatures = get_model_metadata_pb2.SignatureDefMap()
        for name, signature_def in servable.signature_defs.items():
            signatures.signature_def[name].CopyFrom(signature_def)
        packed = any_pb2.Any()
        packed.Pack(signatures)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        response.metadata["signature_def"].CopyFrom(packed)
        return response


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus."""

    def __init__(self, manager: ModelManager, metrics: ServerMetrics):
        self._manager = manager
        self._metrics = metrics

    @_abort_on_error
    def GetModelStatus(self, request, context):
        """Every known version's state (or one version's), with load errors."""
        spec = request.model_spec
        response = get_model_status_pb2.GetModelStatusResponse()
        for version, status in sorted(self._manager.status(spec.name, _version(spec)).items()):
            entry = response.model_version_status.add(version=version, state=status.state)
            entry.status.error_code = status.error_code.value[0]
            entry.status.error_message = status.error_message
        return response


def model_configs(
    model_name: str = "", base_path: str = "", config_file: str = ""
) -> Sequence[model_server_config_pb2.ModelConfig]:
    """The served models: from a TF Serving ``--model_config_file`` (text proto)
    or from one name and base path, like ``tensorflow_model_server``'s flags."""
    if config_file:
        server_config = model_server_config_pb2.ModelServerConfig()
        with open(config_file, encoding="utf-8") as f:
            try:
                text_format.Parse(f.read(), server_config)
            except text_format.ParseError as e:
                raise UserError(f"{config_file}: {e}") from e
        configs = list(server_config.model_config_list.config)
        if not configs:
            raise UserError(f"{config_file}: model_config_list lists no model")
        return configs
    if not model_name or not base_path:
        raise UserError("give a model name and base path, or a model config file")
    config = model_server_config_pb2.ModelConfig(name=model_name, base_path=base_path, model_platform="tensorflow")
    config.model_version_policy.latest.num_versions = 1
    return [config]


class ModelServer:
    """The gRPC server, the model manager and the metrics page, started and stopped together.

    ``metrics`` (a new one when not given) is where the batcher reports too;
    ``metrics_port`` 0 serves no metrics page; ``ssl_config_file`` (TF
    Serving's SSLConfig text proto) serves TLS instead of plain text. Both ports
    are bound here, so a port in use or a bad certificate is reported before the
    models load.
    """

    def __init__(
        self,
        configs,
        port: int,
        threads: int = 16,
        poll_seconds: float = 2.0,
        max_queued: int = 256,
        batcher: Optional[Batcher] = None,
        metrics: Optional[ServerMetrics] = None,
        metrics_port: int = 0,
        ssl_config_file: str = "",
    ):
        self.manager = ModelManager(configs, poll_seconds)
        self.metrics = metrics or ServerMetrics()
        self.metrics.watch_models(self.manager)
        self._batcher = batcher
        credentials = server_credentials(ssl_config_file) if ssl_config_file else None
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="predict"),
            maximum_concurrent_rpcs=threads + max_queued,
            # gRPC sets SO_REUSEPORT by default: a second server on a busy port would
            # bind without error and silently take half of its connections.
            options=[("grpc.so_reuseport", 0)],
        )
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            PredictionService(self.manager, self.metrics, batcher), self._server
        )
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(
            ModelService(self.manager, self.metrics), self._server
        )
        address = f"[::]:{port}"
        try:
            # The certificates were checked above, so a failure here is the port.
            if credentials:
                self.port = self._server.add_secure_port(address, credentials)
            else:
                self.port = self._server.add_insecure_port(address)
        except RuntimeError as e:
            raise UserError(f"cannot listen on port {port}: it is in use or not allowed") from e
        self.tls = credentials is not None
        try:
            self._metrics_http = MetricsHTTPServer(self.metrics.registry, metrics_port) if metrics_port else None
        except UserError:
            self._server.stop(None)  # release the gRPC port bound above
            raise

    @property
    def metrics_port(self) -> Optional[int]:
        """The port of the metrics page, or None when there is none."""
        return self._metrics_http.port if self._metrics_http else None

    def start(self) -> None:
        """Loads the models on disk, then opens the ports."""
        self.manager.start()
        self._server.start()
        log.info("serving on port %d (%s)", self.port, "TLS" if self.tls else "plain text")
        if self._metrics_http is not None:
            self._metrics_http.start()
            log.info("metrics on http://0.0.0.0:%d%s", self._metrics_http.port, METRICS_PATH)

    def stop(self, grace_seconds: float = 5.0) -> None:
        """Refuses new calls, lets running ones finish (up to the grace period), unloads."""
        self._server.stop(grace_seconds).wait()
        if self._batcher is not None:
            self._batcher.stop()
        if self._metrics_http is not None:
            self._metrics_http.stop()
        self.manager.stop()
        log.info("stopped")

    def serve_until_signalled(self) -> None:
        """Runs until SIGINT or SIGTERM, then stops cleanly."""
        done = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: done.set())
        self.start()
        print(f"bertrec model server listening on port {self.port}", flush=True)
        done.wait()
        self.stop()
