"""``bertrec evaluate``: the BERT model against the baselines a practitioner tries first.

Every model ranks the *whole* catalogue for each held-out example, with the
same context and the same exclusions. The context is the example's history,
which data preparation builds from the user's training-side interactions only
(a test example sees training and validation interactions, a validation example
training ones; never another held-out pair). The exclusions are that history
and the items the user took earlier in the evaluated period: a client sending
its whole log would have the served model exclude those too. Every model learns from the same
training split; every choice (hyper-parameters, fitted score terms, the
epochs of the id two-tower) is made on the validation split; the report is
on the test split (``--split test``, the default) or on validation.

Models (``sees`` in the report says what each can use):

- most-popular and recent most-popular (a trailing window, fitted);
- EASE over the history's item ids (ridge fitted), the TFRS id two-tower
  (epochs fitted): both back off to popularity where they have nothing to go on;
- a text baseline without BERT (TF-IDF of item text against the history items,
  with popularity and the release-time term the model has);
- the score terms alone (popularity prior, freshness, item-item; no towers);
- the pretrained encoder zero-shot (MiniLM as shipped) with the same score terms;
- the pushed BERT model: its retrieval stage, and its ranking stage re-ordering
  the retrieved top ``serve.retrieve_k`` (targets retrieval missed are misses).

Slices lead with what can embarrass the model: all examples, warm targets
(items with training interactions, where collaborative baselines are
strong), cold targets, long-tail targets (warm, outside the most-interacted
20% of items) and short histories. Paired bootstrap intervals give each
model's difference to EASE and to the best other baseline.
"""
from __future__ import annotations

import bisect
import collections
import dataclasses
import json
import os
import time
from typing import Callable, Dict, List

import numpy as np

from bertrec import features as F
from bertrec.config import Config
from bertrec.data import csv_io, prepare
from bertrec.errors import UserError
from bertrec.evaluation import baselines as B
from bertrec.evaluation.metrics import (
    DEFAULT_KS,
    UNRANKED,
    metric_names,
    paired_bootstrap,
    per_example,
    summarize,
    target_ranks,
)

SHORT_HISTORY = 5
HEAD_FRACTION = 0.2
BERT = "bert (retrieval)"
BERT_RANKED = "bert (re-ranked)"
EASE = "ease"
#: The report's held-out splits and the prepared split each one is.
REPORT_SPLITS = {"test": F.EVAL_SPLIT, "validation": F.VALIDATION_SPLIT}
#: Examples scored at once (bounds the [examples x catalogue] matrices).
CHUNK = 1024


class SplitMismatch(UserError):
    """The model was trained on another data split than the one evaluated."""


@dataclasses.dataclass
class HeldOut:
    """One held-out split: its examples, as requests, their target rows and, per example, the
    rows excluded from its ranking (its context and the items its user took earlier in the
    split's period, less the target itself: re-consumption stays rankable)."""

    examples: List[dict]
    requests: B.Requests
    targets: np.ndarray
    excluded: List[np.ndarray]

    def __len__(self) -> int:
        return len(self.targets)

    def subset(self, rows: np.ndarray) -> "HeldOut":
        """The examples at ``rows``."""
        return HeldOut([self.examples[i] for i in rows], self.requests[rows], self.targets[rows],
                       [self.excluded[i] for i in rows])

    def validation(self) -> B.Validation:
        """These examples as a set to tune on."""
        return B.Validation(self.requests, self.targets)


class EvalData:
    """The catalogue, the training log and the held-out splits, as every model sees them."""

    def __init__(self, config: Config, max_examples: int = 0):
        data_dir = config.paths().data_dir
        items = csv_io.read_items(os.path.join(data_dir, "items.csv"))
        interactions = csv_io.read_interactions(os.path.join(data_dir, "interactions.csv"),
                                                {i["item_id"] for i in items})
        if max_examples:  # the same cap on each held-out split
            data = dataclasses.replace(config.data, max_eval_examples=max_examples,
                                       max_validation_examples=max_examples)
        else:
            data = config.data
        splits, _, _ = prepare.build_examples(items, interactions, data)
        self.item_ids = [i["item_id"] for i in items]
        self.items = items
        item_row = {item: row for row, item in enumerate(self.item_ids)}
        self.released = np.array([prepare.release_time(i) for i in items], dtype=np.int64)
        user_row = {u: i for i, u in enumerate(sorted({r["user_id"] for r in interactions}))}

        def training_log(rows):
            return B.TrainingLog(
                users=np.array([user_row[r["user_id"]] for r in rows], dtype=np.int64),
                items=np.array([item_row[r["item_id"]] for r in rows], dtype=np.int64),
                times=np.array([r["timestamp"] for r in rows], dtype=np.int64),
                num_users=len(user_row), num_items=len(items),
            )

        train = [{"user_id": e[F.USER_ID], "item_id": e[F.ITEM_ID], "timestamp": e[F.TIMESTAMP]}
                 for e in splits[F.TRAIN_SPLIT]]
        #: What every model learns from: the training split, as the Trainer gets it.
        self.log = training_log(train)
        split_of, _ = prepare.assign_splits(interactions, data)
        validation = [r for r in interactions if split_of[r["_row"]] == F.VALIDATION_SPLIT]
        #: Every interaction a request of each split may see (its context): a model
        #: that reads the log as of the request (recent popularity) reads this.
        self.context_logs = {"validation": self.log, "test": training_log(train + validation)}
        self.counts = np.bincount(self.log.items, minlength=len(items))

        def held_out(rows, split):
            requests = B.Requests(
                users=np.array([user_row[e[F.USER_ID]] for e in rows], dtype=np.int64),
                contexts=[np.array([item_row[h] for h in e[F.HISTORY_ITEM_IDS].split()], dtype=np.int64) for e in rows],
                times=np.array([e[F.TIMESTAMP] for e in rows], dtype=np.int64),
            )
            targets = np.array([item_row[e[F.ITEM_ID]] for e in rows], dtype=np.int64)
            # All of the split's interactions, not only the examples kept (the caps sample them),
            # per user in time order.
            period = collections.defaultdict(list)
            for r in interactions:
                if split_of[r["_row"]] == split:
                    period[user_row[r["user_id"]]].append((r["timestamp"], item_row[r["item_id"]]))
            for events in period.values():
                events.sort()
            excluded = []
            for user, time_, context, target in zip(requests.users, requests.times, requests.contexts, targets):
                events = period.get(user, [])
                # Strictly earlier, as a history is: an interaction at the request's own time is not before it.
                earlier = np.array([i for _, i in events[: bisect.bisect_left(events, (time_,))]], np.int64)
                excluded.append(np.union1d(context, earlier[earlier != target]))
            return HeldOut(rows, requests, targets, excluded)

        self.held_out = {name: held_out(splits[split], split) for name, split in REPORT_SPLITS.items()}

    def item_texts(self) -> List[str]:
        """What a text model reads of each item: title, tags, description."""
        return [". ".join(filter(None, (i["title"], i["tags"].replace("|", ", "), i["description"])))
                for i in self.items]

    def slices(self, held: HeldOut) -> Dict[str, np.ndarray]:
        """Boolean masks over ``held``'s examples, by slice name (the report's order)."""
        counts = self.counts
        warm_items = np.flatnonzero(counts)
        order = warm_items[np.argsort(-counts[warm_items], kind="stable")]
        head = order[: int(np.ceil(HEAD_FRACTION * len(warm_items)))]
        warm = counts[held.targets] > 0
        history = np.array([len(c) for c in held.requests.contexts])
        return {
            "all": np.ones(len(held), dtype=bool),
            "warm targets": warm,
            "cold targets": ~warm,
            "long-tail targets": warm & ~np.isin(held.targets, head),
            f"history <= {SHORT_HISTORY} items": history <= SHORT_HISTORY,
        }


def ranks_of(score: Callable[[HeldOut], np.ndarray], held: HeldOut) -> np.ndarray:
    """Target ranks under ``score`` ([chunk, N] for a chunk of examples), ``held.excluded`` excluded."""
    parts = []
    for start in range(0, len(held), CHUNK):
        chunk = held.subset(np.arange(start, min(len(held), start + CHUNK)))
        parts.append(target_ranks(score(chunk), chunk.targets, chunk.excluded))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def check_split(config: Config, model_dir: str) -> str:
    """The split fingerprint of the data evaluated; raises SplitMismatch when the
    model at ``model_dir`` was trained on another data split (or records none)."""
    expected = prepare.split_fingerprint(config.paths().data_dir, config.data)
    path = os.path.join(model_dir, "assets.extra", "training.json")
    try:
        with open(path) as f:
            recorded = json.load(f).get("split_fingerprint")
    except (OSError, ValueError) as e:
        raise SplitMismatch(f"{path}: cannot read the model's training summary ({e})") from None
    if recorded is None:
        raise SplitMismatch(f"{model_dir} records no split fingerprint (trained before bertrec recorded it, or "
                            "from examples prepared without a summary): retrain it with `bertrec run`")
    if recorded != expected:
        raise SplitMismatch(
            f"{model_dir} was trained on another data split (fingerprint {recorded}) than the one this config "
            f"gives ({expected}: {config.paths().data_dir}, data.split={config.data.split!r}, "
            f"eval_fraction={config.data.eval_fraction}, validation_fraction={config.data.validation_fraction}, "
            f"split_seed={config.data.split_seed}); evaluate it with the config it was trained with"
        )
    return expected


def bert_ranks(data: EvalData, held: HeldOut, model_dir: str, batch_size: int = 64):
    """(retrieval ranks, re-ranked ranks) of the targets under the pushed BERT model
    (re-ranking the model's own ``serve.retrieve_k`` best)."""
    import tensorflow as tf

    from serving.loader import load_model

    model = load_model(model_dir)
    model_ids = [i.decode() for i in model.catalogue_ids().numpy()]
    # This data's rows -> the model's catalogue rows (the same items, maybe in another order).
    position = {item: row for row, item in enumerate(model_ids)}
    missing = [i for i in data.item_ids if i not in position]
    if missing:
        raise UserError(f"{model_dir}: {len(missing)} items of the data are not in the model's catalogue "
                         f"(e.g. {missing[:3]}); evaluate the model trained on this data")
    to_model = np.array([position[i] for i in data.item_ids])
    to_data = np.empty_like(to_model)
    to_data[to_model] = np.arange(len(to_model))
    user_ids = [e[F.USER_ID] for e in held.examples]
    histories = [e[F.HISTORY_ITEM_IDS] for e in held.examples]
    retrieval, ranked = [], []
    for start in range(0, len(held), batch_size):
        s = slice(start, start + batch_size)
        rows, targets = held.excluded[s], held.targets[s]
        excluded = np.zeros((len(targets), len(model_ids)), dtype=bool)
        for row, items in enumerate(rows):
            excluded[row, to_model[items]] = True
        # Each example is a request made at its own time (freshness ages items by it).
        out = model.score_catalogue(tf.constant(user_ids[s]), tf.constant(histories[s]), tf.constant(excluded),
                                    tf.constant(held.requests.times[s]))
        scores, top, logits = out["scores"].numpy()[:, to_model], to_data[out["rows"].numpy()], out["logits"].numpy()
        retrieval.append(target_ranks(scores, targets, rows))
        reordered = np.take_along_axis(top, np.argsort(-logits, axis=1, kind="stable"), axis=1)
        # Targets the retrieval stage missed are out of the re-ranked list: a miss at every cut-off.
        hits = reordered == targets[:, None]
        ranked.append(np.where(hits.any(axis=1), hits.argmax(axis=1), UNRANKED))
    return np.concatenate(retrieval), np.concatenate(ranked)


def evaluate(config: Config, model_dir: str, max_examples: int = 0, split: str = "test", baselines: bool = True,
             log=print) -> dict:
    """Fits and tunes the comparison models (unless ``baselines`` is False), scores
    every model on ``split``, returns the report."""
    from bertrec.evaluation.models import comparison_models

    if split not in REPORT_SPLITS:
        raise UserError(f"unknown split {split!r}: expected one of {', '.join(REPORT_SPLITS)}")
    fingerprint = check_split(config, model_dir)
    start = time.time()
    data = EvalData(config, max_examples)
    held, validation = data.held_out[split], data.held_out["validation"]
    log(f"evaluating on {len(held)} {split} examples ({len(validation)} validation examples for tuning), "
        f"{len(data.item_ids)} items, {len(data.log.items)} training interactions")
    ranks: Dict[str, np.ndarray] = {}
    info: Dict[str, dict] = {}
    t = time.time()
    models = comparison_models(data, config, validation.validation(), data.context_logs[split], log)
    for fitted in models if baselines else ():
        ranks[fitted.name] = ranks_of(lambda chunk: fitted.model.score(chunk.requests), held)
        info[fitted.name] = {"sees": fitted.sees, "chosen": fitted.chosen, "seconds": round(time.time() - t, 1)}
        log(f"  {fitted.name}: {info[fitted.name]['seconds']}s; chosen on validation: {fitted.chosen}")
        t = time.time()
    t = time.time()
    ranks[BERT], ranks[BERT_RANKED] = bert_ranks(data, held, model_dir)
    history = ("the history items' text embeddings and ids" if config.model.query_tower == "sequence"
               else "history ids and text")
    sees = f"user id, {history}, item text, training log, release times; score terms fitted on validation"
    info[BERT] = {"sees": sees, "chosen": None, "seconds": round(time.time() - t, 1)}
    with open(os.path.join(model_dir, "assets.extra", "training.json")) as f:
        reranker = json.load(f).get("reranker")
    chosen = None if reranker is None else {"kept": reranker["kept"], **reranker.get("gate_ndcg@10", {})}
    ranked_by = "the re-ranker" if chosen and chosen["kept"] else "the ranking head and score terms"
    info[BERT_RANKED] = {"sees": sees + f"; re-orders its own top {config.serve.retrieve_k} with {ranked_by}",
                         "chosen": chosen, "seconds": 0.0}
    log(f"  bert: {info[BERT]['seconds']}s")
    report = {
        "model": model_dir, "split": split, "split_fingerprint": fingerprint, "examples": len(held),
        "validation_examples": len(validation), "items": len(data.item_ids),
        "training_interactions": int(len(data.log.items)),
        "context": "every model: the example's history (the user's training-side interactions before it), "
                   "excluded from the ranking with the items the user took earlier in the evaluated period",
        "models": info, "slices": {},
    }
    baseline_names = [name for name in ranks if name not in (BERT, BERT_RANKED)]
    # MRR is cut where the re-ranked list ends, as the Evaluator's is.
    mrr_k = config.serve.retrieve_k
    report["metrics"] = metric_names(mrr_k=mrr_k)
    report["mrr_k"] = mrr_k
    for slice_name, mask in data.slices(held).items():
        block = {"count": int(mask.sum()), "models": {n: summarize(r[mask], mrr_k=mrr_k) for n, r in ranks.items()},
                 "intervals": {}}
        if mask.sum():
            block["intervals"] = intervals({n: r[mask] for n, r in ranks.items()}, baseline_names, block["models"],
                                           held.requests.users[mask], interval_metrics(mrr_k),
                                           config.evaluate.bootstrap_samples, config.train.seed)
        report["slices"][slice_name] = block
    report["total_seconds"] = round(time.time() - start, 1)
    return report


def interval_metrics(mrr_k: int) -> List[str]:
    """The metrics the report gives intervals for."""
    return ["recall@10", f"recall@{max(DEFAULT_KS)}", "ndcg@10", f"mrr@{mrr_k}"]


def intervals(ranks: Dict[str, np.ndarray], baseline_names: List[str], summaries: Dict[str, dict],
              users: np.ndarray, metrics: List[str], samples: int = 1000, seed: int = 0) -> Dict[str, dict]:
    """Per model and metric: its paired bootstrap difference to EASE and to the
    best other baseline on that metric (difference, low, high), resampling
    users; the re-ranked BERT list also against its own retrieval list. The
    best other baseline is the strongest in hindsight (on these examples): the
    hardest comparison for the model."""
    out = {}
    for name in ranks:
        out[name] = {}
        for metric in metrics:
            others = [b for b in baseline_names if b != name]
            best = max(others, key=lambda b: summaries[b][metric], default=None)
            values = per_example(ranks[name], metric)
            entry = {}
            # The re-ranked list against the retrieval list it re-orders.
            retrieval = BERT if name == BERT_RANKED else None
            for label, other in (("vs_ease", EASE), ("vs_best_other", best), ("vs_retrieval", retrieval)):
                if other is None or other == name or other not in ranks:
                    continue
                diff, low, high = paired_bootstrap(values, per_example(ranks[other], metric), samples, seed,
                                                   groups=users)
                entry[label] = {"baseline": other, "difference": diff, "low": low, "high": high}
            out[name][metric] = entry
    return out


def table(report: dict) -> str:
    """The report as text: what each model sees, then a block per slice with
    intervals for recall@10, recall@100 and NDCG@10 against EASE, recall@10
    against the best other baseline, and the re-ranked list's recall@10,
    NDCG@10 and MRR against retrieval's (* where the interval excludes zero)."""
    names = report["metrics"]
    wide = f"recall@{max(DEFAULT_KS)}"
    columns = [("recall@10", "vs_ease", "d R@10 vs EASE"), (wide, "vs_ease", f"d R@{max(DEFAULT_KS)} vs EASE"),
               ("ndcg@10", "vs_ease", "d NDCG@10 vs EASE"), ("recall@10", "vs_best_other", "d R@10 vs best other"),
               ("recall@10", "vs_retrieval", "d R@10 vs retrieval"),
               ("ndcg@10", "vs_retrieval", "d NDCG@10 vs retrieval"),
               (interval_metrics(report["mrr_k"])[-1], "vs_retrieval", "d MRR vs retrieval")]
    lines = [f"{report['examples']} {report['split']} examples, {report['items']} items, "
             f"{report['training_interactions']} training interactions; tuned on {report['validation_examples']} "
             f"validation examples", f"context: {report['context']}",
             "intervals: paired bootstrap 95%, resampling users; * = excludes zero", "", "models:"]
    for model, info in report["models"].items():
        chosen = f"; chosen on validation: {_brief(info['chosen'])}" if info["chosen"] else ""
        lines.append(f"  {model:<26} sees {info['sees']}{chosen}")
    for slice_name, block in report["slices"].items():
        lines.append(f"\n{slice_name} ({block['count']} examples)")
        lines.append(f"  {'model':<26}" + "".join(f"{n:>11}" for n in names)
                     + "".join(f"  {title:>27}" for _, _, title in columns))
        for model, values in block["models"].items():
            row = f"  {model:<26}" + "".join(_cell(values[n]) for n in names)
            for metric, against, _ in columns:
                d = block["intervals"].get(model, {}).get(metric, {}).get(against)
                row += f"  {_interval(d):>27}"
            lines.append(row)
    return "\n".join(lines)


def _brief(chosen: dict) -> str:
    """Chosen hyper-parameters on one line (nested values such as per-bucket biases
    are left to the JSON report)."""
    def value(v):
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    parts = []
    for key, v in chosen.items():
        if isinstance(v, dict):
            parts += [f"{key}.{k}={value(x)}" for k, x in v.items() if isinstance(x, (int, float))]
        elif isinstance(v, (int, float, str)):
            parts.append(f"{key}={value(v)}")
    return ", ".join(parts)


def _interval(d) -> str:
    """'+0.012 [+0.004,+0.020]', with a star when the interval excludes zero."""
    if not d:
        return "-"
    star = "*" if d["low"] > 0 or d["high"] < 0 else " "
    return f"{d['difference']:+.3f} [{d['low']:+.3f},{d['high']:+.3f}]{star}"


def _cell(value) -> str:
    """A number, or '-' for a slice too small to measure."""
    return f"{'-':>11}" if value is None or value != value else f"{value:>11.4f}"


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
