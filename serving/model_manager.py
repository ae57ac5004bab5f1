"""Which model versions are loaded, the way TensorFlow Serving decides it.

Each served model has a base directory of numeric version folders (what the
Pusher writes). A poller scans it; the version policy (TF Serving's
``ServableVersionPolicy``: latest N by default, all, or specific versions)
names the versions to serve. A version is loaded only once its folder holds a
``saved_model.pb`` and has stopped changing between two scans (the Pusher
copies ``saved_model.pb`` last, and copying is not atomic), its warm-up
requests are replayed, and only then does it take traffic; versions leaving
the policy are unloaded only once a wanted version is available, so requests
never find no version. A version that fails to load is reported with its error,
is passed over (the policy picks among the loadable versions, so the previous
one keeps serving) and is retried only when its files change.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import grpc
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.config import model_server_config_pb2

from serving import predict, warmup
from serving.model_versions import versions

log = logging.getLogger("bertrec.serving")
State = get_model_status_pb2.ModelVersionStatus.State


@dataclasses.dataclass
class Servable:
    """One loaded model version."""

    name: str
    version: int
    path: str
    model: object  # the loaded SavedModel; holding it keeps its resources alive
    signature_defs: Dict[str, object]  # name -> SignatureDef proto (what metadata reports)
    functions: Dict[str, Callable]  # name -> concrete function


@dataclasses.dataclass
class VersionStatus:
    """What GetModelStatus reports for one version."""

    state: int
    error_code: grpc.StatusCode = grpc.StatusCode.OK
    error_message: str = ""


def load_servable(name: str, version: int, path: str) -> Servable:
    """Loads a version and replays its warm-up requests (a failing one fails the load)."""
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops the transform graph uses)

    saved_model = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(os.path.join(path, "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    model = tf.saved_model.load(path)
    servable = Servable(
        name=name,
        version=version,
        path=path,
        model=model,
        signature_defs=dict(saved_model.meta_graphs[0].signature_def),
        functions=dict(model.signatures),
    )
    records = warmup.read(path)
    for record in records:
        predict.run(servable, record.predict_log.request)
    log.info("loaded %s version %d from %s (%d warm-up requests replayed)", name, version, path, len(records))
    return servable


def _fingerprint(path: str) -> Tuple:
    """Every file's relative path, size and modification time: equal twice = settled."""
    entries = []
    for directory, _, files in os.walk(path):
        for file in files:
            full = os.path.join(directory, file)
            try:
                stat = os.stat(full)
            except FileNotFoundError:  # removed while scanning: not settled
                return ("changing", time.time())
            entries.append((os.path.relpath(full, path), stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(entries))


def _on_disk(base_path: str) -> Dict[int, str]:
    """Version -> folder, for the complete-looking versions (see model_versions.versions)."""
    return {v: os.path.join(base_path, str(v)) for v in versions(base_path)}


def aspired_versions(policy, available: Sequence[int]) -> List[int]:
    """The versions a ``ServableVersionPolicy`` wants served among ``available``."""
    kind = policy.WhichOneof("policy_choice")
    ordered = sorted(available)
    if kind == "all":
        return ordered
    if kind == "specific":
        return [v for v in ordered if v in set(policy.specific.versions)]
    count = policy.latest.num_versions if kind == "latest" and policy.latest.num_versions > 0 else 1
    return ordered[-count:]


class ModelManager:
    """Keeps the right versions of each configured model loaded; answers lookups."""

    def __init__(
        self,
        configs: Sequence[model_server_config_pb2.ModelConfig],
        poll_seconds: float = 2.0,
        loader: Callable[[str, int, str], Servable] = load_servable,
    ):
        self._configs = {c.name: c for c in configs}
        self._poll_seconds = poll_seconds
        self._loader = loader
        self._lock = threading.Lock()
        self._serving: Dict[str, Dict[int, Servable]] = {name: {} for name in self._configs}
        self._status: Dict[str, Dict[int, VersionStatus]] = {name: {} for name in self._configs}
        self._last_seen: Dict[Tuple[str, int], Tuple] = {}
        self._failed: Dict[Tuple[str, int], Tuple] = {}
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    # -- lifecycle -------------------------------------------------------------
    def start(self, settle_seconds: float = 0.5) -> None:
        """Loads what is on disk now, then keeps polling in the background."""
        self.poll()
        time.sleep(settle_seconds)  # a second scan shows which folders are settled
        self.poll()
        for name, config in self._configs.items():
            if not self._serving[name]:
                log.warning("%s: no loadable version in %s yet; waiting for one", name, config.base_path)
        self._thread = threading.Thread(target=self._run, name="model-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stops polling and unloads everything."""
        self._stop.set()
        if self._thread:
            self._thread.join()
        with self._lock:
            for name, versions in self._serving.items():
                for version in list(versions):
                    self._status[name][version] = VersionStatus(State.END)
                versions.clear()

    def _run(self) -> None:
        while not self._stop.wait(self._poll_seconds):
            try:
                self.poll()
            except Exception:  # a bad scan must not end polling
                log.exception("polling the model directories failed")

    # -- one scan --------------------------------------------------------------
    def poll(self) -> None:
        """One scan of every model's base directory: load, then unload."""
        for name, config in self._configs.items():
            settled = {}
            for version, path in _on_disk(config.base_path).items():
                key = (name, version)
                fingerprint = _fingerprint(path)
                previous, self._last_seen[key] = self._last_seen.get(key), fingerprint
                if fingerprint == previous and self._failed.get(key) != fingerprint:
                    settled[version] = path
            aspired = aspired_versions(config.model_version_policy, settled)
            for version in aspired:
                if version not in self._serving[name]:
                    self._load(name, version, settled[version])
            # Availability first: unload only once a wanted version is serving.
            if any(v in self._serving[name] for v in aspired):
                for version in list(self._serving[name]):
                    if version not in aspired:
                        self._unload(name, version)

    def _load(self, name: str, version: int, path: str) -> None:
        with self._lock:
            self._status[name][version] = VersionStatus(State.LOADING)
        log.info("loading %s version %d", name, version)
        try:
            servable = self._loader(name, version, path)
        except Exception as e:  # any failure leaves the version unserved, with its reason
            message = e.message if isinstance(e, predict.ServingError) else f"{type(e).__name__}: {e}"
            log.error("%s version %d failed to load: %s", name, version, message)
            self._failed[(name, version)] = self._last_seen[(name, version)]
            with self._lock:
                self._status[name][version] = VersionStatus(State.END, grpc.StatusCode.UNKNOWN, message[:2000])
            return
        with self._lock:
            self._serving[name][version] = servable
            self._status[name][version] = VersionStatus(State.AVAILABLE)

    def _unload(self, name: str, version: int) -> None:
        with self._lock:
            self._status[name][version] = VersionStatus(State.UNLOADING)
            # In-flight requests hold their own reference; the model is freed after them.
            self._serving[name].pop(version, None)
            self._status[name][version] = VersionStatus(State.END)
        log.info("unloaded %s version %d", name, version)

    # -- lookups ---------------------------------------------------------------
    def servable(self, name: str, version: Optional[int] = None, label: str = "") -> Servable:
        """The version a request asks for (newest loaded by default), or NOT_FOUND."""
        with self._lock:
            if name not in self._serving:
                raise predict.ServingError(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Latest({name})")
            if label:
                labels = self._configs[name].version_labels
                if label not in labels:
                    raise predict.ServingError(
                        grpc.StatusCode.INVALID_ARGUMENT, f"Unrecognized servable version label: {label}"
                    )
                version = labels[label]
            versions = self._serving[name]
            if version is None:
                if not versions:
                    raise predict.ServingError(grpc.StatusCode.NOT_FOUND,
                                               f"Servable not found for request: Latest({name})")
                return versions[max(versions)]
            if version not in versions:
                raise predict.ServingError(
                    grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Specific({name}, {version})"
                )
            return versions[version]

    def statuses(self) -> Dict[str, Dict[int, VersionStatus]]:
        """Every configured model's version -> status (what the metrics export)."""
        with self._lock:
            return {name: dict(versions) for name, versions in self._status.items()}

    def status(self, name: str, version: Optional[int] = None) -> Dict[int, VersionStatus]:
        """Version -> status of a model (one version if asked), or NOT_FOUND."""
        with self._lock:
            known = dict(self._status.get(name, {}))
        if not known:
            raise predict.ServingError(grpc.StatusCode.NOT_FOUND, f"Could not find any versions of model {name}")
        if version is not None:
            if version not in known:
                raise predict.ServingError(grpc.StatusCode.NOT_FOUND,
                                           f"Could not find version {version} of model {name}")
            return {version: known[version]}
        return known
