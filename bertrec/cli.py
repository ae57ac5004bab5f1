"""The ``bertrec`` command: data preparation and run helpers around the tfx CLI.

    bertrec run              the whole local run: data, tfx pipeline create/update, tfx run create
    bertrec data generate    write the built-in catalogue, users and interactions (CSV)
    bertrec data prepare     validate CSVs, build behaviour-sequence examples, split by time
    bertrec data movielens   convert a MovieLens download into the CSV input format
    bertrec paths            print the work directory layout of the current config
    bertrec pushed           print the newest model version Pusher wrote
    bertrec recommend        recommendations from a model server (--server) or a model directory
    bertrec evaluate         offline quality report: BERT vs baselines tuned on validation, by slice
    bertrec serve            the local model server (TF Serving's gRPC API) on the pushed models
    bertrec status           a model server's versions and their states
    bertrec metadata         a model server's signatures
    bertrec loadtest         concurrent clients against a model server: QPS and latency

Every command reads the config from ``--config FILE`` or ``$BERTREC_CONFIG``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import bertrec  # noqa: F401  (Keras 2 before TensorFlow)

# isort: split
import grpc

from bertrec import features as F
from bertrec.config import CONFIG_ENV, Config
from bertrec.errors import UserError


def _generate(config: Config, args) -> None:
    from bertrec.data import generate

    out = args.out or config.paths().data_dir
    if os.path.exists(os.path.join(out, "interactions.csv")) and not args.force:
        print(f"built-in data already in {out} (use --force to regenerate)")
        return
    start = time.time()
    data = generate.generate(config.generator)
    generate.write(data, out)
    print(
        f"wrote {len(data.items)} items, {len(data.users)} users, {len(data.interactions)} "
        f"interactions to {out} in {time.time() - start:.1f}s"
    )


def _prepare(config: Config, args) -> None:
    from bertrec.data import prepare

    paths = config.paths()
    prepare.prepare(args.data_dir or paths.data_dir, args.out or paths.examples_dir, config.data)


def _movielens(config: Config, args) -> None:
    from bertrec.data import movielens

    start = time.time()
    items, interactions, layout = movielens.convert(args.source, args.out)
    print(f"{layout}: wrote {items} items and {interactions} interactions to {args.out} in {time.time() - start:.1f}s")
    print(f"use it with a config that sets data.data_dir to {os.path.abspath(args.out)}")


def _paths(config: Config, args) -> None:
    for name, value in vars(config.paths()).items():
        print(f"{name}={value}")


def _run(config: Config, args) -> None:
    from bertrec.run_local import RunError, run

    try:
        print(run(config, args.config or os.environ.get(CONFIG_ENV, "")))
    except RunError as e:
        raise SystemExit(f"bertrec: error: {e}")


def _pushed(config: Config, args) -> None:
    print(_latest_or_exit(config))


def _recommend(config: Config, args) -> None:
    import json

    from serving.client import Recommendation

    if args.server:
        with _client(config, args) as client:
            source = args.server
            items = client.recommend([args.history], [args.user], version=args.version)[0]
    else:
        import tensorflow as tf

        from serving.loader import load_model

        source = args.model or _latest_or_exit(config)
        out = load_model(source).signatures[F.SIGNATURE_DEFAULT](
            user_id=tf.constant([args.user]), history_item_ids=tf.constant([F.HISTORY_ID_SEPARATOR.join(args.history)])
        )
        items = [
            Recommendation(i.decode(), t.decode(), float(v))
            for i, t, v in zip(*(out[k].numpy()[0] for k in (F.OUT_ITEM_IDS, F.OUT_TITLES, F.OUT_SCORES)))
        ]
    if args.json:
        print(json.dumps({"source": source, "items": [vars(r) for r in items]}))
        return
    print(f"{'rank':>4}  {'item_id':<12} {'score':>7}  title")
    for rank, item in enumerate(items, 1):
        print(f"{rank:>4}  {item.item_id:<12} {item.score:>7.4f}  {item.title}")


def _evaluate(config: Config, args) -> None:
    from bertrec.evaluation import offline

    model = args.model or _latest_or_exit(config)
    report = offline.evaluate(config, model, args.max_examples, args.split, baselines=not args.bert_only)
    print(offline.table(report))
    out = args.out or os.path.join(config.paths().work_dir, "evaluation.json")
    print(f"report written to {offline.write(report, out)}")


def _index(config: Config, args) -> None:
    import json

    from trainer.catalogue_refresh import refresh

    summary = refresh(config, args.items, args.unavailable, args.model)
    print(json.dumps(summary))


def _serve(config: Config, args) -> None:
    import logging

    from serving.metrics import ServerMetrics
    from serving.server import ModelServer, model_configs

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    configs = model_configs(
        args.model_name or config.served_model_name(),
        args.model_base_path or config.paths().serving_model_dir,
        args.model_config_file,
    )
    s = config.server
    metrics = ServerMetrics()
    batcher = None
    if s.batch_max_size > 0:
        from serving.batching import Batcher

        batcher = Batcher(s.batch_max_size, s.batch_timeout_micros / 1e6, s.batch_threads, metrics)
    try:
        server = ModelServer(
            configs,
            port=s.port if args.port is None else args.port,
            threads=s.threads,
            poll_seconds=s.poll_seconds,
            batcher=batcher,
            metrics=metrics,
            metrics_port=s.metrics_port if args.metrics_port is None else args.metrics_port,
            ssl_config_file=s.ssl_config_file if args.ssl_config_file is None else args.ssl_config_file,
        )
    except Exception:
        if batcher is not None:  # its threads are already running
            batcher.stop()
        raise
    server.serve_until_signalled()


def _credentials(config: Config, args):
    """The client's TLS credentials (None: plain text), flags over config."""
    from serving.tls import channel_credentials

    def pick(flag, configured):  # a flag on the command line wins, even an empty one
        return configured if flag is None else flag

    s = config.server
    return channel_credentials(
        pick(args.ca_cert, s.ca_cert), pick(args.client_cert, s.client_cert), pick(args.client_key, s.client_key)
    )


def _client(config: Config, args):
    from serving.client import ServingClient

    model_name = args.model_name or config.served_model_name()
    return ServingClient(args.server, model_name, config.server.timeout_seconds, _credentials(config, args))


def _status(config: Config, args) -> None:
    import json

    with _client(config, args) as client:
        print(json.dumps(client.status(args.version), indent=2))


def _metadata(config: Config, args) -> None:
    import json

    with _client(config, args) as client:
        print(json.dumps(client.metadata(args.version), indent=2))


def _loadtest(config: Config, args) -> None:
    from bertrec.data.csv_io import read_items
    from serving.loadtest import random_histories, run_load

    items_csv = args.items or os.path.join(config.paths().data_dir, "items.csv")
    item_ids = [item["item_id"] for item in read_items(items_csv)]
    histories = random_histories(item_ids, 1000, config.data.history_length, seed=args.seed)
    print(
        f"load test: {args.clients} clients against {args.server} for "
        + (f"{args.requests} requests" if args.requests else f"{args.duration:.0f}s"),
        flush=True,
    )
    report = run_load(
        args.server,
        histories,
        concurrency=args.clients,
        duration=None if args.requests else args.duration,
        total_requests=args.requests or None,
        model_name=args.model_name or config.served_model_name(),
        signature=args.signature,
        batch_size=args.batch_size,
        timeout=config.server.timeout_seconds,
        version=args.version,
        credentials=_credentials(config, args),
    )
    print(report.table())
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            f.write(report.to_json() + "\n")
    print(report.to_json())


def _latest_or_exit(config: Config) -> str:
    from serving.model_versions import latest_version_dir

    path = latest_version_dir(config.paths().serving_model_dir)
    if path is None:
        raise SystemExit(f"bertrec: no model has been pushed to {config.paths().serving_model_dir}")
    return path


def _server_args(parser, required: bool) -> None:
    parser.add_argument("--server", required=required,
                        help="model server address HOST:PORT (TF Serving or bertrec serve)")
    parser.add_argument("--model-name",
                        help="model name on the server (default: server.model_name, else pipeline.name)")
    parser.add_argument("--version", type=int, help="a specific model version (default: the newest served)")
    parser.add_argument("--ca-cert", help="PEM file of the CA that signed the server's certificate: "
                        "connect over TLS (default: server.ca_cert; plain text when no TLS option is set)")
    parser.add_argument("--client-cert", help="PEM client certificate, for a server that verifies clients "
                        "(with --client-key; default: server.client_cert)")
    parser.add_argument("--client-key", help="PEM key of --client-cert (default: server.client_key)")


def main(argv=None) -> int:
    """Entry point of the ``bertrec`` console command."""
    parser = argparse.ArgumentParser(prog="bertrec", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="JSON config overlay (default: $BERTREC_CONFIG, else built-in defaults)")
    sub = parser.add_subparsers(dest="command", required=True)
    data = sub.add_parser("data", help="data preparation").add_subparsers(dest="data_command", required=True)
    gen = data.add_parser("generate", help="write the built-in data as CSV")
    gen.add_argument("--out", help="output folder (default: <work_dir>/data)")
    gen.add_argument("--force", action="store_true", help="overwrite existing files")
    gen.set_defaults(func=_generate)
    prep = data.add_parser("prepare", help="CSV files to the pipeline's example splits")
    prep.add_argument("--data-dir", help="folder with items.csv, interactions.csv[, users.csv]")
    prep.add_argument("--out", help="output folder (default: <work_dir>/examples)")
    prep.set_defaults(func=_prepare)
    ml = data.add_parser("movielens", help="convert a MovieLens download (100K or ml-latest-small layout) to CSV input")
    ml.add_argument("--source", required=True, help="folder with u.data + u.item, or ratings.csv + movies.csv")
    ml.add_argument("--out", required=True, help="output folder for items.csv and interactions.csv")
    ml.set_defaults(func=_movielens)
    sub.add_parser("run", help="run the whole pipeline locally (what `make run` does)").set_defaults(func=_run)
    sub.add_parser("paths", help="print the work directory layout").set_defaults(func=_paths)
    sub.add_parser("pushed", help="print the newest pushed model version").set_defaults(func=_pushed)
    rec = sub.add_parser("recommend", help="top-k items for a user, from a model server or a model directory")
    _server_args(rec, required=False)
    rec.add_argument("--model", help="without --server: model version directory (default: the newest pushed)")
    rec.add_argument("--user", default="", help="user id (unknown or empty is fine)")
    rec.add_argument("--json", action="store_true", help="print JSON instead of a table")
    rec.add_argument("history", nargs="+", help="ids of the items the user interacted with, most recent first")
    rec.set_defaults(func=_recommend)
    ev = sub.add_parser("evaluate", help="quality report: the pushed model vs baselines tuned on validation, by slice")
    ev.add_argument("--model", help="model version directory (default: the newest pushed)")
    ev.add_argument("--split", choices=("test", "validation"), default="test",
                    help="the held-out split to report on (default: test; every choice is tuned on validation)")
    ev.add_argument("--max-examples", type=int, default=0,
                    help="cap on the examples of each held-out split (default: data.max_eval_examples for "
                         "test, data.max_validation_examples for validation)")
    ev.add_argument("--out", help="JSON report path (default: <work_dir>/evaluation.json)")
    ev.add_argument("--bert-only", action="store_true",
                    help="score the model alone, without fitting the comparison models (faster)")
    ev.set_defaults(func=_evaluate)
    idx = sub.add_parser("index", help="push a new version of a pushed model with a new catalogue or availability, "
                                       "without retraining (new items embedded by its item tower)")
    idx.add_argument("--items", help="the whole catalogue now, in items.csv format: new items are added, changed ones "
                                     "re-embedded, missing ones withdrawn (never returned)")
    idx.add_argument("--unavailable", help="item ids, one per line, not to return (out of stock, blocked); replaces "
                                           "the previous list (an empty file clears it; without it the list stands)")
    idx.add_argument("--model", help="the version to start from (default: the newest pushed); the new version is "
                                     "pushed beside it")
    idx.set_defaults(func=_index)
    srv = sub.add_parser("serve", help="serve the pushed models over TF Serving's gRPC API (what `make serve` runs)")
    srv.add_argument("--port", type=int, help="gRPC port (default: server.port; 0 picks a free one)")
    srv.add_argument("--model-name", help="model name clients use (default: server.model_name, else pipeline.name)")
    srv.add_argument("--model-base-path", help="folder of numeric versions (default: where Pusher pushes)")
    srv.add_argument("--model-config-file", help="TF Serving ModelServerConfig text proto (overrides name and path)")
    srv.add_argument("--metrics-port", type=int,
                     help="HTTP port of the Prometheus metrics page at /monitoring/prometheus/metrics "
                          "(default: server.metrics_port; 0 = none)")
    srv.add_argument("--ssl-config-file",
                     help="TF Serving SSLConfig text proto (PEM server_key, server_cert, custom_ca; client_verify): "
                          "serve TLS (default: server.ssl_config_file; plain text when empty)")
    srv.set_defaults(func=_serve)
    for name, func, text in (
        ("status", _status, "a model server's versions and their states (JSON)"),
        ("metadata", _metadata, "a model server's signatures (JSON)"),
    ):
        cmd = sub.add_parser(name, help=text)
        _server_args(cmd, required=True)
        cmd.set_defaults(func=func)
    load = sub.add_parser("loadtest",
                          help="N concurrent clients against a model server: QPS, latency percentiles, errors")
    _server_args(load, required=True)
    load.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    load.add_argument("--duration", type=float, default=30.0, help="seconds to run (default 30)")
    load.add_argument("--requests", type=int, default=0, help="stop after this many requests instead")
    load.add_argument("--batch-size", type=int, default=1, help="users per request (default 1)")
    load.add_argument("--signature", default=F.SIGNATURE_DEFAULT, help="serving_default or retrieve")
    load.add_argument("--items", help="items.csv to draw histories from (default: the config's data)")
    load.add_argument("--seed", type=int, default=0, help="seed of the drawn histories")
    load.add_argument("--json", help="also write the report as JSON to this file")
    load.set_defaults(func=_loadtest)
    args = parser.parse_args(argv)
    try:
        config = Config.load(args.config)
        args.func(config, args)
    except (UserError, OSError) as e:
        print(f"bertrec: error: {e}", file=sys.stderr)
        return 2
    except grpc.RpcError as e:
        print(f"bertrec: error: {e.code().name}: {e.details()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
