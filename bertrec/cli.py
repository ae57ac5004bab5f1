"""The ``bertrec`` command: data preparation and run helpers around the tfx CLI.

    bertrec run              the whole local run: data, tfx pipeline create/update, tfx run create
    bertrec data generate    write the built-in catalogue, users and interactions (CSV)
    bertrec data prepare     validate CSVs, build behaviour-sequence examples, split by time
    bertrec paths            print the work directory layout of the current config
    bertrec pushed           print the newest model version Pusher wrote
    bertrec recommend        ask an exported model for recommendations (JSON out)

Every command reads the config from ``--config FILE`` or ``$BERTREC_CONFIG``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import bertrec  # noqa: F401  (Keras 2 before TensorFlow)
from bertrec.config import CONFIG_ENV, Config, ConfigError
from bertrec.data.csv_io import DataError


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

    import tensorflow as tf

    from serving.loader import load_model

    path = args.model or _latest_or_exit(config)
    model = load_model(path)
    out = model.signatures["serving_default"](
        user_id=tf.constant([args.user]), history_item_ids=tf.constant([" ".join(args.history)])
    )
    print(json.dumps({
        "model": path,
        "item_ids": [i.decode() for i in out["item_ids"].numpy()[0]],
        "scores": [round(float(s), 6) for s in out["scores"].numpy()[0]],
    }))


def _latest_or_exit(config: Config) -> str:
    from serving.model_versions import latest_version_dir

    path = latest_version_dir(config.paths().serving_model_dir)
    if path is None:
        raise SystemExit(f"bertrec: no model has been pushed to {config.paths().serving_model_dir}")
    return path


def main(argv=None) -> int:
    """Entry point of the ``bertrec`` console command."""
    parser = argparse.ArgumentParser(prog="bertrec", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    sub.add_parser("run", help="run the whole pipeline locally (what `make run` does)").set_defaults(func=_run)
    sub.add_parser("paths", help="print the work directory layout").set_defaults(func=_paths)
    sub.add_parser("pushed", help="print the newest pushed model version").set_defaults(func=_pushed)
    rec = sub.add_parser("recommend", help="top-k items for a user from an exported model (JSON)")
    rec.add_argument("--model", help="model version directory (default: the newest pushed)")
    rec.add_argument("--user", default="", help="user id (unknown or empty is fine)")
    rec.add_argument("history", nargs="*", help="ids of the items the user interacted with, most recent first")
    rec.set_defaults(func=_recommend)
    args = parser.parse_args(argv)
    try:
        config = Config.load(args.config)
        args.func(config, args)
    except (ConfigError, DataError) as e:
        print(f"bertrec: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
