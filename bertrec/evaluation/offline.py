"""``bertrec evaluate``: the BERT model against collaborative baselines, on one split.

All models see the same examples (the eval split the pipeline's data
preparation builds from the same CSVs and config) and rank the *whole*
catalogue; items the user interacted with in training are excluded before
ranking. Models: most-popular, EASE, the TFRS id-only two-tower (all trained
here on the train split) and the pushed BERT model (its retrieval stage over
the whole catalogue, and its ranking stage re-ranking the retrieved top
``serve.retrieve_k``). The baselines know only ids with training interactions:
items without any rank last for them.

Slices: all examples; cold-start items (targets with no training
interaction); long-tail items (targets outside the most-interacted 20% of
items that have training interactions); users with short histories (at most
``SHORT_HISTORY`` training interactions).
"""
from __future__ import annotations

import json
import os
import time
from typing import Dict

import numpy as np

from bertrec import features as F
from bertrec.config import Config
from bertrec.data import csv_io, prepare
from bertrec.evaluation.baselines import Ease, IdTwoTower, MostPopular
from bertrec.evaluation.metrics import metric_names, summarize, target_ranks

SHORT_HISTORY = 5
HEAD_FRACTION = 0.2
BERT = "bert"
BERT_RANKED = "bert (re-ranked)"
BASELINES = ("most-popular", "ease", "id two-tower")


class Split:
    """The train/eval split as catalogue rows and user indices."""

    def __init__(self, config: Config, max_examples: int = 0):
        paths = config.paths()
        items = csv_io.read_items(os.path.join(paths.data_dir, "items.csv"))
        interactions = csv_io.read_interactions(
            os.path.join(paths.data_dir, "interactions.csv"), {i["item_id"] for i in items}
        )
        data = config.data
        cap = max_examples or data.max_eval_examples
        splits, _, _ = prepare.build_examples(items, interactions, type(data)(**{**vars(data), "max_eval_examples": cap}))
        self.item_ids = [i["item_id"] for i in items]
        self.item_row = {item: row for row, item in enumerate(self.item_ids)}
        train, evaluation = splits[F.TRAIN_SPLIT], splits[F.EVAL_SPLIT]
        self.user_ids = sorted({e[F.USER_ID] for e in train + evaluation})
        self.user_row = {u: i for i, u in enumerate(self.user_ids)}
        self.train_users = np.array([self.user_row[e[F.USER_ID]] for e in train])
        self.train_items = np.array([self.item_row[e[F.ITEM_ID]] for e in train])
        self.seen: Dict[int, set] = {}
        for u, i in zip(self.train_users, self.train_items):
            self.seen.setdefault(int(u), set()).add(int(i))
        self.examples = evaluation
        self.users = np.array([self.user_row[e[F.USER_ID]] for e in evaluation])
        self.targets = np.array([self.item_row[e[F.ITEM_ID]] for e in evaluation])
        # The target itself may have been seen in training (re-consumption); it stays rankable.
        self.excluded = [sorted(self.seen.get(int(u), set()) - {int(t)}) for u, t in zip(self.users, self.targets)]
        self.histories = [[self.item_row[h] for h in e[F.HISTORY_ITEM_IDS].split()] for e in evaluation]

    def slices(self) -> Dict[str, np.ndarray]:
        """Boolean masks over the eval examples, by slice name."""
        counts = np.bincount(self.train_items, minlength=len(self.item_ids))
        seen_items = np.flatnonzero(counts)
        head = set(seen_items[np.argsort(-counts[seen_items], kind="stable")][: int(np.ceil(HEAD_FRACTION * len(seen_items)))].tolist())
        user_counts = np.bincount(self.train_users, minlength=len(self.user_ids))
        cold = counts[self.targets] == 0
        return {
            "all": np.ones(len(self.targets), dtype=bool),
            "cold-start items": cold,
            "long-tail items": ~cold & ~np.isin(self.targets, list(head)),
            f"users with <= {SHORT_HISTORY} training interactions": user_counts[self.users] <= SHORT_HISTORY,
        }


def bert_ranks(split: Split, model_dir: str, batch_size: int = 64):
    """(retrieval ranks, re-ranked ranks) of the targets under the pushed BERT model
    (re-ranking the model's own ``serve.retrieve_k`` best)."""
    import tensorflow as tf

    from serving.loader import load_model

    model = load_model(model_dir)
    model_ids = [i.decode() for i in model.catalogue_ids().numpy()]
    # This split's rows -> the model's catalogue rows (the same items, maybe in another order).
    position = {item: row for row, item in enumerate(model_ids)}
    missing = [i for i in split.item_ids if i not in position]
    if missing:
        raise ValueError(f"{model_dir}: {len(missing)} items of the data are not in the model's catalogue "
                         f"(e.g. {missing[:3]}); evaluate the model trained on this data")
    to_model = np.array([position[i] for i in split.item_ids])
    users = [split.user_ids[u] for u in split.users]
    histories = [F.HISTORY_ID_SEPARATOR.join(e[F.HISTORY_ITEM_IDS].split()) for e in split.examples]
    # Each example is a request made at its own time (freshness ages items by it).
    request_times = np.array([e[F.TIMESTAMP] for e in split.examples], dtype=np.int64)

    to_split = np.empty_like(to_model)
    to_split[to_model] = np.arange(len(to_model))
    parts = {"scores": [], "rows": [], "logits": []}
    for start in range(0, len(users), batch_size):
        s = slice(start, start + batch_size)
        excluded = np.zeros((len(users[s]), len(model_ids)), dtype=bool)
        for row, items in enumerate(split.excluded[s]):
            excluded[row, to_model[items]] = True
        out = model.score_catalogue(
            tf.constant(users[s]), tf.constant(histories[s]), tf.constant(excluded), tf.constant(request_times[s])
        )
        for name in parts:
            parts[name].append(out[name].numpy())
    scores, rows, logits = (np.concatenate(parts[name]) for name in ("scores", "rows", "logits"))
    scores, top = scores[:, to_model], to_split[rows]
    retrieval = target_ranks(scores, split.targets, split.excluded)
    reordered = np.take_along_axis(top, np.argsort(-logits, axis=1, kind="stable"), axis=1)
    # Targets the retrieval stage missed are out of the re-ranked list: rank it past the end.
    hits = reordered == split.targets[:, None]
    ranked = np.where(hits.any(axis=1), hits.argmax(axis=1), len(split.item_ids))
    return retrieval, ranked


def evaluate(config: Config, model_dir: str, max_examples: int = 0, log=print) -> dict:
    """Trains the baselines, scores every model, returns the report."""
    start = time.time()
    split = Split(config, max_examples)
    log(f"evaluating on {len(split.targets)} eval examples, {len(split.item_ids)} items, "
        f"{len(split.train_items)} training interactions")
    ranks: Dict[str, np.ndarray] = {}
    seconds: Dict[str, float] = {}

    def timed(name, fn):
        t = time.time()
        ranks[name] = fn()
        seconds[name] = time.time() - t
        log(f"  {name}: {seconds[name]:.1f}s")

    contexts = [sorted(split.seen.get(int(u), set()) | set(h)) for u, h in zip(split.users, split.histories)]
    unseen = np.bincount(split.train_items, minlength=len(split.item_ids)) == 0

    def id_model_ranks(scores):
        # An id model knows nothing of items without training interactions: they
        # rank last (ties count against the target), not wherever an untrained
        # out-of-vocabulary embedding or a zero column happens to land.
        scores[:, unseen] = -np.inf
        return target_ranks(scores, split.targets, split.excluded)

    timed("most-popular", lambda: id_model_ranks(MostPopular(len(split.item_ids)).fit(split.train_items).score(contexts)))
    timed("ease", lambda: id_model_ranks(
        Ease(len(split.item_ids), config.evaluate.ease_l2).fit([sorted(s) for s in split.seen.values()]).score(contexts)))
    timed("id two-tower", lambda: id_model_ranks(
        IdTwoTower(len(split.user_ids), len(split.item_ids)).fit(split.train_users, split.train_items).score(split.users)))
    t = time.time()
    ranks[BERT], ranks[BERT_RANKED] = bert_ranks(split, model_dir)
    seconds[BERT] = time.time() - t
    log(f"  {BERT}: {seconds[BERT]:.1f}s")

    report = {"model": model_dir, "examples": int(len(split.targets)), "items": len(split.item_ids),
              "excluded": "items the user interacted with in training", "slices": {}, "seconds": seconds}
    for slice_name, mask in split.slices().items():
        models = {name: summarize(r[mask]) for name, r in ranks.items()}
        best = {m: max(models[b][m] for b in BASELINES) for m in metric_names()}
        ratios = {m: (models[BERT][m] / best[m] if best[m] > 0 else None) for m in metric_names()}  # NaN > 0 is False
        report["slices"][slice_name] = {"count": int(mask.sum()), "models": models, "bert_vs_best_baseline": ratios}
    report["total_seconds"] = time.time() - start
    return report


def table(report: dict) -> str:
    """The report as text: one block per slice, a row per model."""
    names = metric_names()
    lines = [f"{report['examples']} eval examples, {report['items']} items; excluded: {report['excluded']}"]
    for slice_name, block in report["slices"].items():
        lines.append(f"\n{slice_name} ({block['count']} examples)")
        lines.append(f"  {'model':<20}" + "".join(f"{n:>11}" for n in names))
        for model, values in block["models"].items():
            lines.append(f"  {model:<20}" + "".join(_cell(values[n], "{:>11.4f}") for n in names))
        ratio = block["bert_vs_best_baseline"]
        lines.append(f"  {'bert / best baseline':<20}" + "".join(_cell(ratio[n], "{:>10.2f}x") for n in names))
    return "\n".join(lines)


def _cell(value, fmt: str) -> str:
    """A number, or '-' for a slice too small to measure."""
    return f"{'-':>11}" if value is None or value != value else fmt.format(value)


def _json_safe(value):
    """NaN (an empty slice) as null, so the report is strict JSON."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, float) and value != value:
        return None
    return value


def write(report: dict, path: str) -> str:
    """Writes the report as JSON."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(_json_safe(report), f, indent=2, allow_nan=False)
    return path
