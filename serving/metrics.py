"""Prometheus metrics of the model server, named as TensorFlow Serving names them.

TF Serving exports its monitoring metrics (``/tensorflow/serving/request_count``...)
with every character outside ``[a-zA-Z0-9_]`` turned into ':', so a dashboard
queries ``:tensorflow:serving:request_count``. A leading ':' is a valid
Prometheus name, and these metrics keep TF Serving's names, labels and units:

- ``:tensorflow:serving:request_count_total{model_name,status}``: Predict calls
  by gRPC status code (TF Serving: ``:tensorflow:serving:request_count``);
- ``:tensorflow:serving:request_latency{model_name,API,entrypoint}``: histogram
  of successful Predict calls, in microseconds, TF Serving's buckets;
- ``:tensorflow:serving:batching_session:input_batch_size`` and
  ``...:processed_batch_size``: rows per request entering the batcher and per
  model call it makes (TF Serving exports percentiles under these names, which
  Prometheus cannot aggregate; these are histograms);
- ``:tensorflow:serving:batching_session:wrapped_run_count_total``: model calls
  the batcher made (TF Serving: ``...:wrapped_run_count``);
- ``bertrec_serving_batch_fallback_total`` (bertrec's own): merged batches that
  failed and were re-run request by request;
- ``bertrec_serving_model_version_state{model_name,version,state}`` (bertrec's
  own): 1 per known version, labelled with its GetModelStatus state.

Counters gain the ``_total`` suffix that the Prometheus client library puts on
every counter. As in TF Serving, ``request_count`` and ``request_latency``
count Predict calls only (Classify and Regress are not served here,
GetModelMetadata and GetModelStatus are not counted by TF Serving either). A
model name the server does not serve is counted as ``model_name="<unknown>"``,
so clients cannot grow the series without bound.

Each server has its own registry, so several servers can run in one process.
"""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from tensorflow_serving.apis.get_model_status_pb2 import ModelVersionStatus

from bertrec.errors import UserError

#: TF Serving's default path of the Prometheus page (serving/deploy/monitoring.config sets the same).
METRICS_PATH = "/monitoring/prometheus/metrics"

#: TF Serving's request latency buckets (Buckets::Exponential(10, 1.8, 33)): microseconds,
#: 10 * 1.8**i for i in 0..32, about 25 minutes at the top.
LATENCY_BUCKETS_USEC = tuple(10 * 1.8**i for i in range(33))
#: Rows per request or per model call, up to the largest batch a request may carry (serve.max_batch_size).
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64)

#: The model_name label of requests for a model that is not served.
UNKNOWN_MODEL = "<unknown>"
#: The APIs TF Serving counts in request_count and request_latency that this server implements.
_COUNTED_APIS = ("Predict",)


class ServerMetrics:
    """The metrics of one model server, in their own registry."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self._models: frozenset = frozenset()  # the served model names (watch_models)
        self._request_count = Counter(
            ":tensorflow:serving:request_count", "The total number of requests.",
            ["model_name", "status"], registry=self.registry,
        )
        self._request_latency = Histogram(
            ":tensorflow:serving:request_latency",
            "Distribution of wall time (in microseconds) for Tensorflow Serving request.",
            ["model_name", "API", "entrypoint"], buckets=LATENCY_BUCKETS_USEC, registry=self.registry,
        )
        self._input_batch_size = Histogram(
            ":tensorflow:serving:batching_session:input_batch_size",
            "Tracks the batch size distribution on the inputs.", buckets=BATCH_SIZE_BUCKETS, registry=self.registry,
        )
        self._processed_batch_size = Histogram(
            ":tensorflow:serving:batching_session:processed_batch_size",
            "Tracks the batch size distribution on processing.", buckets=BATCH_SIZE_BUCKETS, registry=self.registry,
        )
        self._wrapped_run_count = Counter(
            ":tensorflow:serving:batching_session:wrapped_run_count",
            "Total count of run calls on the wrapped session.", registry=self.registry,
        )
        self._batch_fallback = Counter(
            "bertrec_serving_batch_fallback",
            "Merged batches that failed and were re-run request by request.", registry=self.registry,
        )

    # -- what the server and the batcher report ---------------------------------
    def request_done(self, api: str, model_name: str, code: grpc.StatusCode, seconds: float) -> None:
        """One finished call: its status counted, and its latency when it succeeded."""
        if api not in _COUNTED_APIS:
            return
        if model_name not in self._models:
            model_name = UNKNOWN_MODEL
        self._request_count.labels(model_name, code.name).inc()
        if code == grpc.StatusCode.OK:
            self._request_latency.labels(model_name, api, "GRPC").observe(seconds * 1e6)

    def request_batched(self, rows: int) -> None:
        """A request of ``rows`` rows entered the batcher."""
        self._input_batch_size.observe(rows)

    def batch_run(self, rows: Optional[int]) -> None:
        """The batcher called the model once, on ``rows`` rows (None: inputs not batched
        along one first dimension, a call that is counted but has no batch size)."""
        self._wrapped_run_count.inc()
        if rows is not None:
            self._processed_batch_size.observe(rows)

    def batch_fell_back(self) -> None:
        """A merged batch failed; its requests are re-run one by one."""
        self._batch_fallback.inc()

    def watch_models(self, manager) -> None:
        """Labels requests with the names of ``manager``'s models (serving.model_manager.ModelManager)
        and exports its version states at each scrape."""
        self._models = frozenset(manager.statuses())
        self.registry.register(_VersionStates(manager))


class _VersionStates:
    """``bertrec_serving_model_version_state``: 1 for each version, labelled with its
    current GetModelStatus state (AVAILABLE = loaded and serving)."""

    def __init__(self, manager):
        self._manager = manager

    def collect(self):
        """One sample per version of every model (prometheus_client's collector protocol)."""
        family = GaugeMetricFamily(
            "bertrec_serving_model_version_state",
            "Each known model version, labelled with its state (AVAILABLE: loaded and serving).",
            labels=["model_name", "version", "state"],
        )
        for name, versions in sorted(self._manager.statuses().items()):
            for version, status in sorted(versions.items()):
                family.add_metric([name, str(version), ModelVersionStatus.State.Name(status.state)], 1)
        yield family


class MetricsHTTPServer:
    """Serves a registry's metrics over HTTP at METRICS_PATH (404 elsewhere).

    The port is bound at construction, so a port in use is reported before the
    models load; ``start`` serves it from a background thread.
    """

    def __init__(self, registry: CollectorRegistry, port: int, host: str = ""):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                if self.path.split("?", 1)[0] != METRICS_PATH:
                    self.send_error(404, f"metrics are at {METRICS_PATH}")
                    return
                # Always the text format 0.0.4, as TF Serving serves: for a scraper that asks for
                # OpenMetrics, prometheus_client would rewrite the names' leading ':' to '_'.
                body = generate_latest(registry)
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE_PLAIN_0_0_4)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # scrapes every few seconds would flood the server log
                pass

        try:
            self._server = ThreadingHTTPServer((host, port), Handler)
        except OSError as e:
            raise UserError(f"cannot serve metrics on port {port}: {e.strerror}") from e
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        """Starts answering scrapes."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics-http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stops answering and closes the port."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()
