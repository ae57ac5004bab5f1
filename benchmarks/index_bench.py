"""Catalogue refresh benchmark: new items live through gRPC, under load, without retraining.

    python benchmarks/index_bench.py [--config CONFIG] [--model VERSION_DIR] [--new-items 1000]

On the model the config's pipeline pushed (default config: the built-in data's, as
``make run`` leaves it):

1. copies the model as version 1 of a scratch model base under the work
   directory and starts ``bertrec serve`` on it;
2. starts a load test (``--clients`` concurrent ``serving_default`` clients)
   that runs until the end;
3. writes the catalogue file plus ``--new-items`` new items (synthetic: one
   existing item's title and tags with another's description, under new ids)
   and runs ``bertrec index`` on it;
4. polls ``rank`` with a new item's id until the server answers it (the new
   version is live).

Prints the seconds from ``bertrec index`` starting to the new items answering
through gRPC (target: 300 for 1,000 items), the index command's own phases,
the failed requests during the swap (target: none) and the load's QPS and p99,
before and during the swap; writes the figures as JSON to the work directory.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time

import bertrec  # noqa: F401  (Keras 2 before TensorFlow)

# isort: split
import grpc

from bertrec.config import Config
from bertrec.data import csv_io
from serving.client import ServingClient
from serving.loadtest import random_histories, run_load
from serving.model_versions import latest_version_dir

sys.path.insert(0, os.path.dirname(__file__))
from serving_bench import start_server  # noqa: E402  (the same server start-up as the serving benchmark)


def new_items(items, count: int):
    """``count`` synthetic items: item i's title and tags with item i+1's description, under new ids."""
    out = []
    for i in range(count):
        a, b = items[i % len(items)], items[(i + 1) % len(items)]
        out.append({"item_id": f"bench-new-{i:07d}", "title": f"{a['title']} II",
                    "description": b["description"], "tags": a["tags"],
                    "release_timestamp": "" if a["release_timestamp"] is None else str(a["release_timestamp"])})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="config JSON (default: built-in defaults)")
    parser.add_argument("--model", help="model version directory (default: the newest the config's pipeline pushed)")
    parser.add_argument("--new-items", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4, help="concurrent load-test clients during the refresh")
    args = parser.parse_args()

    config = Config.load(args.config)
    source = args.model or latest_version_dir(config.paths().serving_model_dir)
    if not source:
        raise SystemExit(f"no pushed model in {config.paths().serving_model_dir}: run `make run` first")
    items = csv_io.read_items(os.path.join(config.paths().data_dir, "items.csv"))
    scratch = os.path.join(config.paths().work_dir, "index_bench")
    shutil.rmtree(scratch, ignore_errors=True)
    base = os.path.join(scratch, "models", "bertrec")
    shutil.copytree(source, os.path.join(base, "1"))
    added = new_items(items, args.new_items)
    items_path = os.path.join(scratch, "items.csv")
    csv_io.write_rows(items_path, ["item_id", "title", "description", "tags", "release_timestamp"],
                      [{**i, "release_timestamp": "" if i["release_timestamp"] is None else i["release_timestamp"]}
                       for i in items] + added)
    config_path = os.path.join(scratch, "config.json")
    with open(config_path, "w") as f:
        json.dump({"server": {"poll_seconds": 1.0}}, f)
    print(f"model {source}: {len(items)} items, adding {len(added)}; {args.clients} clients keep asking", flush=True)

    process, address = start_server(os.path.join(base, "1"), config_path)
    histories = random_histories([i["item_id"] for i in items], 2000, config.data.history_length, seed=4)
    try:
        before = run_load(address, histories, concurrency=args.clients, duration=10.0, model_name="bertrec")
        stop = threading.Event()
        during = {}
        load = threading.Thread(target=lambda: during.update(report=run_load(
            address, histories, concurrency=args.clients, duration=None, model_name="bertrec", stop=stop)))
        load.start()
        started = time.time()
        index = subprocess.Popen(
            [os.path.join(os.path.dirname(sys.executable), "bertrec"), "--config", config_path, "index",
             "--items", items_path, "--model", os.path.join(base, "1")],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        live = None
        with ServingClient(address, "bertrec", timeout=30) as client:
            while live is None and time.time() - started < 900:
                try:
                    client.rank([[items[0]["item_id"]]], [[added[-1]["item_id"], items[1]["item_id"]]])
                    live = time.time() - started
                except grpc.RpcError:  # INVALID_ARGUMENT until the new version serves
                    time.sleep(0.5)
        output, _ = index.communicate(timeout=900)
        time.sleep(3)  # load on the new version too
        stop.set()
        load.join()
    finally:
        process.terminate()
        process.wait(timeout=60)
    if index.returncode != 0 or live is None:
        raise SystemExit(f"bertrec index failed or the new items never answered:\n{output[-3000:]}")
    summary = json.loads(output.strip().splitlines()[-1])
    embedding = next((line for line in output.splitlines() if line.startswith("embedded ")), "")
    report = during["report"]
    print(f"\n{embedding}")
    print(f"bertrec index: {summary['seconds']:.1f} s; new items answering through gRPC after {live:.1f} s "
          f"(target <= 300 s for 1,000 items)")
    print(f"load, {args.clients} clients: before {before.qps:.1f} QPS, p99 {before.latency_ms['p99']:.1f} ms; "
          f"during the refresh {report.qps:.1f} QPS, p99 {report.latency_ms['p99']:.1f} ms, "
          f"{report.requests} requests, failed {sum(report.errors.values())} (target 0) {report.errors or ''}")
    out = os.path.join(config.paths().work_dir, "index_bench.json")
    with open(out, "w") as f:
        json.dump({"model": source, "catalogue_items": len(items), "new_items": len(added), "live_seconds": live,
                   "index": summary, "embedding": embedding, "load_before": json.loads(before.to_json()),
                   "load_during": json.loads(report.to_json())}, f, indent=2)
    print(f"figures written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
