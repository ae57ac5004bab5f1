"""Serving benchmark: in-process calls vs the local gRPC server, and a concurrent load.

    python benchmarks/serving_bench.py [--model VERSION_DIR] [--config benchmarks/serving.json]

Measured in one run, on the model the config's pipeline pushed:
1. in-process ``serving_default`` calls, one user per call, sequential and from
   N threads (the baseline: no network, no protos);
2. the same calls through ``bertrec serve`` over gRPC on loopback, sequential
   and from N concurrent clients (``serving.loadtest``);
3. the ratios gRPC / in-process of mean and p99 latency;
4. the ``retrieve`` signature alone over gRPC from N concurrent clients, and
   the ratio of ``serving_default``'s p99 (retrieval + re-ranking) to it.
Prints a table and writes the figures as JSON next to the pushed models.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time

import bertrec  # noqa: F401  (Keras 2 before TensorFlow)

# isort: split
import tensorflow as tf

from bertrec import features as F
from bertrec.config import Config
from bertrec.data.csv_io import read_items
from serving.loader import load_model
from serving.loadtest import latency_summary, random_histories, run_load
from serving.model_versions import latest_version_dir


def in_process(model, histories, seconds: float, threads: int):
    """Latencies (ms) of serving_default called directly from ``threads`` threads."""
    fn = model.signatures[F.SIGNATURE_DEFAULT]
    latencies, lock = [], threading.Lock()
    deadline = time.monotonic() + seconds

    def loop(offset):
        i = offset
        while time.monotonic() < deadline:
            history = F.HISTORY_ID_SEPARATOR.join(histories[i % len(histories)])
            start = time.perf_counter()
            fn(user_id=tf.constant([f"bench-{i}"]), history_item_ids=tf.constant([history]))["scores"].numpy()
            with lock:
                latencies.append((time.perf_counter() - start) * 1000.0)
            i += threads

    started = time.monotonic()
    workers = [threading.Thread(target=loop, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    summary = latency_summary(latencies)
    summary["qps"] = len(latencies) / (time.monotonic() - started)
    return summary


def start_server(model_dir: str, config_path: str):
    """``bertrec serve`` on a free loopback port, serving ``model_dir``'s parent."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base, version = os.path.split(model_dir)
    log = open(os.path.join(os.path.dirname(base), "bench-server.log"), "w")
    process = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "bertrec"), "--config", config_path, "serve",
         "--port", str(port), "--model-base-path", base],
        stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 300
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited; see {log.name}")
        with open(log.name) as f:
            if "listening on port" in f.read():
                return process, f"127.0.0.1:{port}"
        time.sleep(0.5)
    process.kill()
    raise SystemExit(f"the server did not start in 300 s; see {log.name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=os.path.join(os.path.dirname(__file__), "serving.json"))
    parser.add_argument("--model", help="model version directory (default: the newest the config's pipeline pushed)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each concurrent measurement")
    parser.add_argument("--sequential-seconds", type=float, default=15.0)
    args = parser.parse_args()

    config = Config.load(args.config)
    model_dir = args.model or latest_version_dir(config.paths().serving_model_dir)
    if not model_dir:
        raise SystemExit(f"no pushed model in {config.paths().serving_model_dir}: "
                         f"run `bertrec --config {args.config} run` first")
    item_ids = [item["item_id"] for item in read_items(os.path.join(config.paths().data_dir, "items.csv"))]
    histories = random_histories(item_ids, 2000, config.data.history_length, seed=3)
    print(f"model {model_dir}: catalogue of {len(item_ids)} items, "
          f"top {config.serve.top_k} of {config.serve.retrieve_k} retrieved", flush=True)

    model = load_model(model_dir)
    in_process(model, histories, 3.0, 1)  # warm up
    print("in-process, sequential ...", flush=True)
    local_seq = in_process(model, histories, args.sequential_seconds, 1)
    print(f"in-process, {args.clients} threads ...", flush=True)
    local_conc = in_process(model, histories, args.seconds, args.clients)
    del model

    process, address = start_server(model_dir, args.config)
    try:
        name = config.served_model_name()
        run_load(address, histories, concurrency=1, duration=3.0, model_name=name)  # warm up
        print("gRPC, sequential ...", flush=True)
        grpc_seq = run_load(address, histories, concurrency=1, duration=args.sequential_seconds, model_name=name)
        print(f"gRPC, {args.clients} concurrent clients ...", flush=True)
        grpc_conc = run_load(address, histories, concurrency=args.clients, duration=args.seconds, model_name=name)
        print(f"gRPC retrieve alone, {args.clients} concurrent clients ...", flush=True)
        grpc_retrieve = run_load(address, histories, concurrency=args.clients, duration=args.seconds, model_name=name,
                                 signature=F.SIGNATURE_RETRIEVE)
    finally:
        process.terminate()
        process.wait(timeout=60)

    rows = [
        ("in-process, 1 thread", local_seq["qps"], local_seq, 0),
        (f"in-process, {args.clients} threads", local_conc["qps"], local_conc, 0),
        ("gRPC, 1 client", grpc_seq.qps, grpc_seq.latency_ms, sum(grpc_seq.errors.values())),
        (f"gRPC, {args.clients} clients", grpc_conc.qps, grpc_conc.latency_ms, sum(grpc_conc.errors.values())),
        (f"gRPC retrieve, {args.clients} cl.", grpc_retrieve.qps, grpc_retrieve.latency_ms,
         sum(grpc_retrieve.errors.values())),
    ]
    print(f"\n{'':<24}{'QPS':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'mean ms':>9}{'errors':>8}")
    for label, qps, lat, errors in rows:
        print(f"{label:<24}{qps:>8.1f}{lat['p50']:>9.1f}{lat['p95']:>9.1f}{lat['p99']:>9.1f}{lat['mean']:>9.1f}{errors:>8}")
    ratios = {
        "sequential_mean": grpc_seq.latency_ms["mean"] / local_seq["mean"],
        "sequential_p99": grpc_seq.latency_ms["p99"] / local_seq["p99"],
        "concurrent_mean": grpc_conc.latency_ms["mean"] / local_conc["mean"],
        "concurrent_p99": grpc_conc.latency_ms["p99"] / local_conc["p99"],
        "reranked_over_retrieve_p99": grpc_conc.latency_ms["p99"] / grpc_retrieve.latency_ms["p99"],
    }
    print("\ngRPC / in-process latency: " + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items()))
    print(f"p99 at {args.clients} concurrent clients: {grpc_conc.latency_ms['p99']:.1f} ms (target < 250 ms); "
          f"gRPC overhead (sequential mean): {ratios['sequential_mean']:.2f}x (target < 1.3x); "
          f"serving_default / retrieve p99: {ratios['reranked_over_retrieve_p99']:.2f}x (target <= 1.5x)")
    result = {
        "model": model_dir, "catalogue_items": len(item_ids), "clients": args.clients,
        "in_process_sequential": local_seq, "in_process_concurrent": local_conc,
        "grpc_sequential": json.loads(grpc_seq.to_json()), "grpc_concurrent": json.loads(grpc_conc.to_json()),
        "grpc_retrieve_concurrent": json.loads(grpc_retrieve.to_json()),
        "ratios": ratios,
    }
    out = os.path.join(config.paths().work_dir, "serving_bench.json")
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"figures written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
