"""Load test of any TF Serving-compatible address: N concurrent clients, fixed time or request count.

Each client is a thread with its own gRPC channel that sends one request after
another (closed loop); histories are drawn from the catalogue's item ids with
a fixed seed. The report counts every request: latency percentiles over the
successful ones, errors by status code.
"""
from __future__ import annotations

import dataclasses
import json
import random
import threading
import time
from collections import Counter
from typing import Dict, List, Optional, Sequence

import grpc
import numpy as np

from bertrec import features as F
from bertrec.errors import UserError
from serving import protocol
from serving.client import ServingClient


@dataclasses.dataclass
class LoadReport:
    """What a load test measured."""

    address: str
    signature: str
    concurrency: int
    batch_size: int
    requests: int
    errors: Dict[str, int]
    seconds: float
    qps: float
    latency_ms: Dict[str, float]  # p50, p95, p99, mean, max over successful requests

    def table(self) -> str:
        """The report as a small aligned table."""
        rows = [
            ("address", self.address),
            ("signature", self.signature),
            ("clients", self.concurrency),
            ("batch size", self.batch_size),
            ("requests", self.requests),
            ("errors", sum(self.errors.values())),
            ("seconds", f"{self.seconds:.1f}"),
            ("QPS", f"{self.qps:.1f}"),
        ] + [(f"{name} ms", f"{value:.1f}") for name, value in self.latency_ms.items()]
        rows += [(f"  {code}", count) for code, count in sorted(self.errors.items())]
        width = max(len(r[0]) for r in rows)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)

    def to_json(self) -> str:
        """The report as one JSON object."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


def random_histories(item_ids: Sequence[str], count: int, max_length: int, seed: int = 0) -> List[List[str]]:
    """``count`` histories of 1..max_length distinct catalogue items."""
    rng = random.Random(seed)
    return [rng.sample(list(item_ids), rng.randint(1, min(max_length, len(item_ids)))) for _ in range(count)]


def latency_summary(latencies_ms: Sequence[float]) -> Dict[str, float]:
    """p50 / p95 / p99 / mean / max of a list of latencies (zeros when empty)."""
    if not latencies_ms:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "mean": 0.0, "max": 0.0}
    values = np.asarray(latencies_ms)
    return {
        "p50": float(np.percentile(values, 50)),
        "p95": float(np.percentile(values, 95)),
        "p99": float(np.percentile(values, 99)),
        "mean": float(values.mean()),
        "max": float(values.max()),
    }


def run_load(
    address: str,
    histories: Sequence[Sequence[str]],
    concurrency: int = 8,
    duration: Optional[float] = 30.0,
    total_requests: Optional[int] = None,
    model_name: str = "bertrec",
    signature: str = F.SIGNATURE_DEFAULT,
    batch_size: int = 1,
    timeout: float = 30.0,
    version: Optional[int] = None,
    credentials: Optional[grpc.ChannelCredentials] = None,
    stop: Optional[threading.Event] = None,
) -> LoadReport:
    """Drives ``address`` until ``duration`` seconds pass, ``total_requests`` were sent
    or ``stop`` is set (over TLS with ``credentials``, see serving.tls.channel_credentials)."""
    if not histories:
        raise UserError("no histories to send")
    if duration is None and total_requests is None and stop is None:
        raise UserError("give a duration, a request count or a stop event")
    lock = threading.Lock()
    latencies: List[float] = []
    errors: Counter = Counter()
    issued = [0]
    deadline = time.monotonic() + duration if duration is not None else None

    def next_index() -> Optional[int]:
        with lock:
            if total_requests is not None and issued[0] >= total_requests:
                return None
            if deadline is not None and time.monotonic() >= deadline:
                return None
            if stop is not None and stop.is_set():
                return None
            issued[0] += 1
            return issued[0]

    def client_loop() -> None:
        with ServingClient(address, model_name, timeout, credentials) as client:
            while (index := next_index()) is not None:
                batch = [histories[(index * batch_size + j) % len(histories)] for j in range(batch_size)]
                inputs = protocol.context_inputs([f"load-{index}-{j}" for j in range(batch_size)], batch)
                start = time.perf_counter()
                try:
                    client.predict(inputs, signature, version)
                except grpc.RpcError as e:
                    with lock:
                        errors[e.code().name] += 1
                    continue
                elapsed = (time.perf_counter() - start) * 1000.0
                with lock:
                    latencies.append(elapsed)

    started = time.monotonic()
    threads = [threading.Thread(target=client_loop, name=f"load-client-{i}") for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    return LoadReport(
        address=address,
        signature=signature,
        concurrency=concurrency,
        batch_size=batch_size,
        requests=len(latencies) + sum(errors.values()),
        errors=dict(errors),
        seconds=seconds,
        qps=len(latencies) / seconds if seconds > 0 else 0.0,
        latency_ms=latency_summary(latencies),
    )
