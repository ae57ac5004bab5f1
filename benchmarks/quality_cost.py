"""Quality vs training cost: the cost knobs of the BERT model, measured in one run.

    python benchmarks/quality_cost.py [--config base.json] [--settings benchmarks/quality_cost.json]
                                      [--max-examples N] [--out FILE]

For each setting (a config overlay in the settings file) the real pipeline runs
(``bertrec run``, one work directory, so TFX's cache reuses every component a
setting leaves unchanged; the Evaluator's gates are opened so every setting's
model is pushed), then ``bertrec evaluate`` scores the pushed model on the
**validation** split (a design choice is never made on the test split; the
score terms are fitted on validation, so every setting's figures share that
optimism). Prints, per setting, the training time and steps, trainable /
total parameters, SavedModel size, retrieval recall@10/100 overall, on warm
and on cold targets, and the ratios to the first setting; writes the figures
as JSON (default: ``<work_dir>/quality_cost.json``). No re-ranked figures: the
re-ranker learns from validation lists, so they would be in-sample here
(``bertrec evaluate`` on the test split gives them).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import bertrec  # noqa: F401  (Keras 2 before TensorFlow)

# isort: split
from bertrec.config import Config
from bertrec.evaluation import offline
from bertrec.run_local import run
from trainer.export import TRAINING_SUMMARY

HERE = os.path.dirname(os.path.abspath(__file__))
#: Every setting's model is pushed, whatever its quality.
OPEN_GATES = {"min_retrieval_recall": 0.0, "min_ranked_recall": 0.0, "max_recall_drop": 1.0}


def _merge(base: dict, overlay: dict) -> dict:
    merged = json.loads(json.dumps(base))
    for section, values in overlay.items():
        merged.setdefault(section, {}).update(values)
    return merged


def _size_mb(path: str) -> float:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files) / 1e6


def measure(base: dict, setting: dict, max_examples: int, config_dir: str) -> dict:
    """Runs the pipeline with one setting and evaluates the pushed model."""
    values = _merge(_merge(base, setting["config"]), {"evaluate": OPEN_GATES})
    path = os.path.join(config_dir, "setting.json")
    with open(path, "w") as f:
        json.dump(values, f)
    config = Config.from_dict(values, source=setting["name"])
    start = time.time()
    model_dir = run(config, path)
    pipeline_seconds = time.time() - start
    with open(os.path.join(model_dir, "assets.extra", TRAINING_SUMMARY)) as f:
        training = json.load(f)
    report = offline.evaluate(config, model_dir, max_examples, split="validation", baselines=False,
                              log=lambda m: None)
    overall = report["slices"]["all"]["models"][offline.BERT]
    warm = report["slices"]["warm targets"]["models"][offline.BERT]
    cold = report["slices"]["cold targets"]["models"][offline.BERT]
    return {
        "name": setting["name"],
        "config": setting["config"],
        "model": model_dir,
        "pipeline_seconds": round(pipeline_seconds, 1),
        **training,
        "saved_model_mb": round(_size_mb(model_dir), 1),
        "recall@10": overall["recall@10"],
        "recall@100": overall["recall@100"],
        "ndcg@10": overall["ndcg@10"],
        "warm recall@10": warm["recall@10"],
        "cold recall@100": cold["recall@100"],
    }


#: (key, title, format) of the table's columns.
COLUMNS = (
    ("train_seconds", "train s", "{:>9.0f}"),
    ("steps", "steps", "{:>7d}"),
    ("trainable_parameters", "trainable", "{:>12,d}"),
    ("saved_model_mb", "model MB", "{:>10.1f}"),
    ("recall@10", "R@10", "{:>7.3f}"),
    ("recall@100", "R@100", "{:>7.3f}"),
    ("ndcg@10", "NDCG@10", "{:>9.3f}"),
    ("warm recall@10", "warm R@10", "{:>11.3f}"),
    ("cold recall@100", "cold R@100", "{:>12.3f}"),
)


def table(rows) -> str:
    """Rows as text, with the ratios of training time and recall@100 to the first row."""
    widths = [len(fmt.format(rows[0][key])) for key, _, fmt in COLUMNS]
    lines = [f"{'setting':<28}" + "".join(f"{title:>{w}}" for (_, title, _), w in zip(COLUMNS, widths))
             + f"{'time x':>8}{'R@100 x':>9}"]
    for row in rows:
        lines.append(
            f"{row['name']:<28}" + "".join(fmt.format(row[key]) for key, _, fmt in COLUMNS)
            + f"{row['train_seconds'] / rows[0]['train_seconds']:>8.2f}"
            + f"{row['recall@100'] / rows[0]['recall@100']:>9.2f}"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="base config overlay (JSON); default: the built-in defaults")
    parser.add_argument("--settings", default=os.path.join(HERE, "quality_cost.json"))
    parser.add_argument("--max-examples", type=int, default=0,
                        help="validation examples (default data.max_validation_examples)")
    parser.add_argument("--out", help="JSON output (default <work_dir>/quality_cost.json)")
    args = parser.parse_args(argv)
    base = {}
    if args.config:
        with open(args.config) as f:
            base = json.load(f)
    with open(args.settings) as f:
        spec = json.load(f)
    base = _merge(spec.get("base", {}), base)
    rows = []
    with tempfile.TemporaryDirectory() as config_dir:
        for i, setting in enumerate(spec["settings"], 1):
            print(f"[{i}/{len(spec['settings'])}] {setting['name']}: {json.dumps(setting['config'])}", flush=True)
            rows.append(measure(base, setting, args.max_examples, config_dir))
            print(table([rows[0], rows[-1]]).splitlines()[-1], flush=True)
    print(table(rows))
    out = args.out or os.path.join(Config.from_dict(base).paths().work_dir, "quality_cost.json")
    with open(out, "w") as f:
        json.dump(rows, f, indent=2)
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
