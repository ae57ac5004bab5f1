"""Scale benchmark: retrieval over 10k, 100k and 1M items, exact and partitioned.

    python benchmarks/scale_bench.py [--config CONFIG] [--model VERSION_DIR] [--sizes 10000,100000,1000000]

Starts from the model the config's pipeline pushed (default: the built-in data's,
as ``make run`` leaves it) and, for each catalogue size, grows its catalogue
with synthetic items: where only the index matters, an item's embedding is a
mix of two real items' embeddings plus noise (so the catalogue keeps the real
one's structure), with a real item's prior and release time. For each size it
reports:

- the time to embed that many items, projected from the item tower's rate
  measured here on real item text (tokenized by the model's own Transform);
- the time to build the partitioned index (``serve.index = "partitioned"``);
- the exported SavedModel's size and its export time;
- the memory of ``bertrec serve`` holding it, and ``retrieve``'s p50 / p99 over
  gRPC for 1 client and for 8 (query encoding included);
- in-process ``retrieve`` latency of the exact and the partitioned model (same
  requests, same process: their ratio) and the partitioned index's recall@100
  against exact search (mean overlap of the two top-100 lists), for each
  ``--probes`` value (the model serves the config's ``serve.index_probe``, or
  more where the smallest pieces need it).

Each size's exact and partitioned models are built in their own processes (one
process holding both at 1M items runs out of 23 GB), then served from this one.
Writes the figures as JSON to the work directory.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import bertrec  # noqa: F401  (Keras 2 before TensorFlow)

# isort: split
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from bertrec.config import Config
from bertrec.data import csv_io
from serving.loadtest import latency_summary, random_histories, run_load
from serving.model_versions import latest_version_dir
from trainer import catalogue_kit, catalogue_refresh, export

sys.path.insert(0, os.path.dirname(__file__))
from serving_bench import start_server  # noqa: E402  (the same server start-up as the serving benchmark)

QUERIES = 300


def grown_catalogue(kit, stored, size: int, seed: int = 0) -> dict:
    """The model's catalogue grown to ``size`` rows with synthetic items (see module docstring)."""
    old = kit.catalogue
    n = len(old["ids"])
    extra = max(0, size - n)
    rng = np.random.RandomState(seed)
    a, b = rng.randint(n, size=extra), rng.randint(n, size=extra)
    e = stored["item_embeddings"]
    mixed = e[a] + rng.uniform(0, 1, (extra, 1)).astype(np.float32) * e[b]
    mixed += rng.normal(0, 0.5 / np.sqrt(e.shape[1]), mixed.shape).astype(np.float32)
    mixed /= np.linalg.norm(mixed, axis=1, keepdims=True)
    ids = [i.decode() for i in old["ids"]] + [f"syn-{j:07d}" for j in range(extra)]
    catalogue = {
        "ids": np.array(ids, dtype=object),
        "titles": np.concatenate([old["titles"].astype(object), np.array([f"Synthetic {j}" for j in range(extra)],
                                                                          dtype=object)]),
        "vocab_index": np.concatenate([old["vocab_index"], np.full(extra, len(kit.item_counts) - 1, np.int64)]),
        "released": np.concatenate([old["released"], old["released"][a]]),
        "embeddings": np.concatenate([e, mixed]),
        "priors": np.concatenate([stored["item_priors"], stored["item_priors"][a]]),
        "withdrawn": np.zeros(n + extra, bool), "unavailable": np.zeros(n + extra, bool),
        "available": np.ones(n + extra, bool),
        "digests": np.concatenate([old["digests"], np.full(extra, b"synthetic")]),
    }
    if "item_history_embeddings" in stored:
        history = stored["item_history_embeddings"]
        catalogue["history_embeddings"] = np.concatenate([history, history[a]])
    return catalogue


def retrieve(server, histories):
    """Top retrieve_k item ids per history, in batches of 50."""
    out = []
    for i in range(0, len(histories), 50):
        chunk = [" ".join(h) for h in histories[i : i + 50]]
        ids = server.retrieve(tf.constant([f"q{j}" for j in range(len(chunk))]), tf.constant(chunk))["item_ids"]
        out += [set(row) for row in ids.numpy()]
    return out


def in_process_latency(server, histories, calls: int = 100) -> dict:
    """Latencies (ms) of single-user ``retrieve`` calls, sequential (after one to warm up)."""
    server.retrieve(tf.constant(["u"]), tf.constant([" ".join(histories[0])]))
    latencies = []
    for i in range(calls):
        start = time.perf_counter()
        server.retrieve(tf.constant(["u"]), tf.constant([" ".join(histories[i % len(histories)])]))["scores"].numpy()
        latencies.append((time.perf_counter() - start) * 1000)
    return latency_summary(latencies)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def embedding_rate(kit, model, items) -> float:
    """Items per second through the item tower, on real item text."""
    with tempfile.TemporaryDirectory() as scratch:
        layer = tft.TFTransformOutput(kit.extract_transform(scratch)).transform_features_layer()
        sample = (items * (1 + 1024 // len(items)))[:1024]
        transformed = catalogue_refresh.transform_items(layer, sample)
    tower = tf.function(lambda t, i: model.candidate_tower(t, i, training=False))
    catalogue_refresh.embed(tower, transformed["tokens"][:256], transformed["vocab_index"][:256])  # warm up
    start = time.time()
    catalogue_refresh.embed(tower, transformed["tokens"], transformed["vocab_index"])
    return len(sample) / (time.time() - start)


def _rebuilt(source: str):
    """(kit, training config, stored catalogue, restored model, score terms, re-ranker) of ``source``."""
    kit = catalogue_kit.read(source)
    train_config = Config.from_dict(kit.config, source="kit")
    model = catalogue_refresh.new_model(kit, train_config)
    terms, ranker, _ = catalogue_refresh.restore(model, kit, source, train_config)
    return kit, train_config, catalogue_refresh.stored_catalogue(source), model, terms, ranker


def _histories(kit, train_config):
    return random_histories([i.decode() for i in kit.catalogue["ids"]], 2000, train_config.data.history_length,
                            seed=5)


def build_phase(args, source: str, scratch: str) -> None:
    """One size, one index kind (``args.phase``), in this process: writes its figures to
    ``scratch`` (and, partitioned, exports the model there)."""
    kit, train_config, stored, model, terms, ranker = _rebuilt(source)
    histories = _histories(kit, train_config)
    catalogue = grown_catalogue(kit, stored, args.size)
    added = len(catalogue["ids"]) - len(kit.catalogue["ids"])
    probe = train_config.serve.index_probe
    cfg = dataclasses.replace(train_config, serve=dataclasses.replace(train_config.serve, index=args.phase,
                                                                      index_probe=probe))
    with tempfile.TemporaryDirectory() as transform_dir:
        layer = tft.TFTransformOutput(kit.extract_transform(transform_dir)).transform_features_layer()
        start = time.time()
        server = catalogue_refresh.rebuild_server(model, layer, catalogue, cfg, terms, ranker, added)
        build_seconds = time.time() - start
        if args.phase == "exact":
            top = retrieve(server, histories[:QUERIES])
            figures = {"top": [sorted(i.decode() for i in row) for row in top],
                       "in_process_ms": in_process_latency(server, histories)}
        else:
            with open(os.path.join(scratch, "exact.json")) as f:
                top_exact = [{i.encode() for i in row} for row in json.load(f)["top"]]
            served = int(server.index_probe.numpy())
            sweep = {}
            # One index, probed with each count (the probe count is a variable of the exported model).
            for count in sorted(set(args.probes) | {served}):
                server.index_probe.assign(count)
                top = retrieve(server, histories[:QUERIES])
                sweep[count] = {
                    "recall@100_vs_exact": float(np.mean([len(x & y) / len(x) for x, y in zip(top_exact, top)])),
                    "in_process_ms": in_process_latency(server, histories),
                }
                print(f"  {args.size} items, probe {count}: recall@100 {sweep[count]['recall@100_vs_exact']:.3f}, "
                      f"in-process p99 {sweep[count]['in_process_ms']['p99']:.1f} ms", flush=True)
            server.index_probe.assign(served)
            start = time.time()
            kit_out = dataclasses.replace(kit, catalogue={c: catalogue[c] for c in catalogue_kit.COLUMNS})
            export.export(server, os.path.join(scratch, "models", "bertrec", "1"), cfg, {"scale_bench": args.size},
                          kit_out)
            figures = {"probe": served, "sweep": sweep, "pieces": int(server.index_members.shape[0]),
                       "piece_width": int(server.index_members.shape[1]), "export_seconds": time.time() - start}
    figures["build_seconds"] = build_seconds
    with open(os.path.join(scratch, f"{args.phase}.json"), "w") as f:
        json.dump(figures, f)


def measure(args, config_path: str, source: str, scratch: str, size: int, histories, rate: float) -> dict:
    """Both build phases for ``size`` items in child processes, then the partitioned model served."""
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    for phase in ("exact", "partitioned"):
        command = [sys.executable, __file__, "--phase", phase, "--size", str(size), "--model", source,
                   "--probes", ",".join(map(str, args.probes))] + (["--config", args.config] if args.config else [])
        if subprocess.run(command).returncode != 0:
            raise SystemExit(f"the {phase} build of {size} items failed")
    with open(os.path.join(scratch, "exact.json")) as f:
        exact = json.load(f)
    with open(os.path.join(scratch, "partitioned.json")) as f:
        partitioned = json.load(f)
    model_dir = os.path.join(scratch, "models", "bertrec", "1")
    size_mb = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(model_dir) for f in fs) / 2**20
    start = time.time()
    process, address = start_server(model_dir, config_path)
    load_seconds = time.time() - start
    try:
        memory = rss_mb(process.pid)
        run_load(address, histories, concurrency=1, duration=3.0, signature="retrieve")  # warm up
        one = run_load(address, histories, concurrency=1, duration=args.seconds, signature="retrieve")
        eight = run_load(address, histories, concurrency=8, duration=args.seconds, signature="retrieve")
    finally:
        process.terminate()
        process.wait(timeout=120)
    served = partitioned["sweep"][str(partitioned["probe"])]
    return {
        "items": size, "embed_seconds_projected": size / rate,
        "index_build_seconds": partitioned["build_seconds"] - exact["build_seconds"],
        "partitions": partitioned["pieces"], "partition_width": partitioned["piece_width"],
        "probe": partitioned["probe"], "export_seconds": partitioned["export_seconds"], "saved_model_mb": size_mb,
        "server_load_seconds": load_seconds, "server_rss_mb": memory,
        "recall@100_vs_exact": served["recall@100_vs_exact"],
        "in_process_ms": {"exact": exact["in_process_ms"], "partitioned": served["in_process_ms"]},
        "probe_sweep": partitioned["sweep"], "grpc_1_client_ms": one.latency_ms,
        "grpc_8_clients_ms": eight.latency_ms, "grpc_8_clients_qps": eight.qps,
        "grpc_errors": sum(one.errors.values()) + sum(eight.errors.values()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="config JSON (default: built-in defaults)")
    parser.add_argument("--model", help="model version directory (default: the newest the config's pipeline pushed)")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each gRPC measurement")
    parser.add_argument("--probes", type=lambda v: [int(p) for p in v.split(",")], default=[4, 8, 16, 32],
                        help="serve.index_probe values whose recall and in-process latency to measure (the model "
                             "serves the config's own)")
    parser.add_argument("--phase", choices=("exact", "partitioned"), help=argparse.SUPPRESS)  # a child's work
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    config = Config.load(args.config)
    source = args.model or latest_version_dir(config.paths().serving_model_dir)
    if not source:
        raise SystemExit(f"no pushed model in {config.paths().serving_model_dir}: run `make run` first")
    scratch = os.path.join(config.paths().work_dir, "scale_bench")
    if args.phase:
        build_phase(args, source, scratch)
        return 0
    kit, train_config, _, model, _, _ = _rebuilt(source)
    items = csv_io.read_items(os.path.join(config.paths().data_dir, "items.csv"))
    rate = embedding_rate(kit, model, items)
    print(f"model {source}: {len(kit.catalogue['ids'])} items; item tower: {rate:.0f} items/s here", flush=True)
    histories = _histories(kit, train_config)
    config_path = os.path.join(config.paths().work_dir, "scale_bench_server.json")
    with open(config_path, "w") as f:
        json.dump({}, f)
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        results.append(measure(args, config_path, source, scratch, size, histories, rate))
        print(json.dumps(results[-1]), flush=True)
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"\n{'items':>9}{'embed s*':>10}{'index s':>9}{'MB':>8}{'RSS MB':>8}{'recall':>8}"
          f"{'exact p99':>11}{'part. p99':>11}{'gRPC1 p50':>11}{'gRPC1 p99':>11}{'gRPC8 p99':>11}{'errors':>8}")
    for r in results:
        print(f"{r['items']:>9}{r['embed_seconds_projected']:>10.0f}{r['index_build_seconds']:>9.1f}"
              f"{r['saved_model_mb']:>8.0f}{r['server_rss_mb']:>8.0f}{r['recall@100_vs_exact']:>8.3f}"
              f"{r['in_process_ms']['exact']['p99']:>11.1f}{r['in_process_ms']['partitioned']['p99']:>11.1f}"
              f"{r['grpc_1_client_ms']['p50']:>11.1f}{r['grpc_1_client_ms']['p99']:>11.1f}"
              f"{r['grpc_8_clients_ms']['p99']:>11.1f}{r['grpc_errors']:>8}")
    print("* projected from the item tower's measured rate; p99 in ms; exact / part.: in-process retrieve; "
          "gRPC: the partitioned model served by bertrec serve (targets at 1M: recall >= 0.95, gRPC1 p99 <= 50 ms)")
    out = os.path.join(config.paths().work_dir, "scale_bench.json")
    with open(out, "w") as f:
        json.dump({"model": source, "embedding_items_per_second": rate, "sizes": results}, f, indent=2)
    print(f"figures written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
