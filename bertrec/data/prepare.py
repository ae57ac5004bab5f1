"""From CSV files to the pipeline's input: one tf.Example per interaction.

Interactions are split three ways. ``data.split = "time"`` (what production
faces): the latest ``eval_fraction`` of interactions by timestamp are the eval
(test) split, and the latest ``validation_fraction`` of the rest are the
validation split; the remaining ones train. ``data.split = "random"``: seeded
random samples of the same sizes. Validation is what every choice is made on
(early stopping, fitted score terms, baselines' hyper-parameters); the eval
split is read only by the Evaluator gate and the final report.

Each example's user side is that user's most recent *earlier* interactions,
most recent first: their item ids (at most ``max_history_items``) and the
titles of the first ``history_length`` as text. Only interactions with a
strictly smaller timestamp count, the target item is never part of its own
history, and only interactions of the splits the example may see count
(``features.CONTEXT_SPLITS``): train and validation examples see training
interactions, eval examples training and validation ones. So no held-out pair
ever reaches an input, and every model is given the same context.

A fourth split, ``catalogue``, holds one row per item (all items, including
those first seen after the cut-off), its timestamp the item's release time
(``features.UNKNOWN_RELEASE`` when unknown).

Output: ``<out_dir>/{train,validation,eval,catalogue}/data.tfrecord.gz`` and
``<out_dir>/summary.json`` (with the split fingerprint a trained model records).
Preparation is skipped when the inputs and the data config are unchanged, so
TFX's cache sees the same files and skips ExampleGen.
"""
from __future__ import annotations

import bisect
import collections
import dataclasses
import hashlib
import json
import os
import random
import shutil
from typing import Dict, List, Optional

from bertrec import features as F
from bertrec.config import DataConfig
from bertrec.data import csv_io

SUMMARY_FILE = "summary.json"
DATA_FILE = "data.tfrecord.gz"


@dataclasses.dataclass
class Prepared:
    """What preparation wrote (or found up to date)."""

    out_dir: str
    counts: Dict[str, int]
    cutoff_timestamp: int
    skipped: bool


#: The data settings that decide which interactions are held out (``split_seed``
#: too, although a time split ignores it: a changed seed is refused, not missed).
SPLIT_SETTINGS = ("split", "eval_fraction", "validation_fraction", "split_seed")


def _files_digest(paths: List[str]) -> str:
    """One read of the input files: their names and contents, hashed."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(os.path.basename(path).encode())
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _digest(files_digest: str, settings: dict, version: bytes) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode() + version + files_digest.encode()).hexdigest()


def _fingerprint(files_digest: str, data_config: DataConfig) -> str:
    """Changes with the input files or any data knob: preparation re-runs."""
    return _digest(files_digest, dataclasses.asdict(data_config), b"format-v4")


def input_paths(data_dir: str) -> List[str]:
    """The CSV files preparation reads from ``data_dir`` (users.csv when present)."""
    paths = [os.path.join(data_dir, name) for name in ("items.csv", "interactions.csv")]
    users = os.path.join(data_dir, "users.csv")
    return paths + ([users] if os.path.exists(users) else [])


def split_fingerprint(data_dir: str, data_config: DataConfig, files_digest: Optional[str] = None) -> str:
    """Identifies the data, which of its interactions are held out and which
    train (not the held-out caps or history settings): a trained model records
    it, and ``bertrec evaluate`` refuses a model whose split differs from the
    one it reports on. ``files_digest``: the inputs' digest, when already read."""
    settings = {name: getattr(data_config, name) for name in SPLIT_SETTINGS}
    if data_config.max_train_examples:  # a capped training split is another training log
        settings["max_train_examples"] = data_config.max_train_examples
    files_digest = files_digest or _files_digest(input_paths(data_dir))
    return _digest(files_digest, settings, b"split-v2")[:16]


def assign_splits(interactions, data_config: DataConfig):
    """Each interaction's split (train / validation / eval) and the eval cut-off time.

    Time split: the latest ``eval_fraction`` of interactions are eval, and the
    latest ``validation_fraction`` of the rest are validation (interactions at
    a cut-off's very time go to the later split: one moment is never split).
    Random split: seeded random samples of the same sizes. Returns ({row:
    split}, cutoff) with cutoff 0 for a random split. Raises DataError when a
    split would be empty.
    """
    def cut(count, fraction):
        # Where the last ``fraction`` of ``count`` rows starts: at least one row on each side.
        return max(1, min(count - 1, int(count * (1.0 - fraction))))

    if len(interactions) < 3:
        raise csv_io.DataError(f"interactions.csv: {len(interactions)} interactions; the train, validation "
                               "and eval splits need at least one each")
    if data_config.split == "random":
        order = sorted(r["_row"] for r in interactions)
        random.Random(data_config.split_seed).shuffle(order)
        eval_start = cut(len(order), data_config.eval_fraction)
        validation_start = cut(eval_start, data_config.validation_fraction)
        split_of = {row: F.TRAIN_SPLIT for row in order[:validation_start]}
        split_of.update({row: F.VALIDATION_SPLIT for row in order[validation_start:eval_start]})
        split_of.update({row: F.EVAL_SPLIT for row in order[eval_start:]})
        return split_of, 0
    times = sorted(r["timestamp"] for r in interactions)
    cutoff = times[cut(len(times), data_config.eval_fraction)]
    before = [t for t in times if t < cutoff]
    validation_cut = before[cut(len(before), data_config.validation_fraction)] if len(before) > 1 else cutoff
    split_of = {}
    for r in interactions:
        t = r["timestamp"]
        split_of[r["_row"]] = (
            F.EVAL_SPLIT if t >= cutoff else F.VALIDATION_SPLIT if t >= validation_cut else F.TRAIN_SPLIT
        )
    counts = collections.Counter(split_of.values())
    empty = [s for s in (F.TRAIN_SPLIT, F.VALIDATION_SPLIT, F.EVAL_SPLIT) if not counts[s]]
    if empty:
        raise csv_io.DataError(
            f"interactions.csv: the time split leaves {', '.join(empty)} empty: too many interactions share the "
            f"cut-off timestamps ({validation_cut}, {cutoff}); use more data, other data.eval_fraction / "
            "data.validation_fraction, or data.split = 'random'"
        )
    return split_of, cutoff


def build_examples(items, interactions, data_config: DataConfig):
    """Returns ({split: [feature dict]}, cutoff_timestamp, notes).

    An example's history holds only the same user's interactions that are
    strictly earlier and in one of ``features.CONTEXT_SPLITS[its split]``: a
    validation example sees training interactions, an eval example training and
    validation ones, so no held-out pair ever reaches a model's input.
    Pure function of its inputs; ``notes`` lists counted, documented handling
    (capped splits) for the summary.
    """
    by_id = {item["item_id"]: item for item in items}
    split_of, cutoff = assign_splits(interactions, data_config)

    per_user = collections.defaultdict(list)
    for r in interactions:
        per_user[r["user_id"]].append(r)

    splits = {name: [] for name in F.CONTEXT_SPLITS}
    for user_id in sorted(per_user):
        events = sorted(per_user[user_id], key=lambda r: (r["timestamp"], r["_row"]))
        visible = {}  # split -> (times, events) of what its examples may see
        for split, sources in F.CONTEXT_SPLITS.items():
            seen = [e for e in events if split_of[e["_row"]] in sources]
            visible[split] = ([e["timestamp"] for e in seen], seen)
        for r in events:
            split = split_of[r["_row"]]
            times, seen = visible[split]
            # Strictly earlier events only: ties with the target are not "the past".
            earlier = seen[: bisect.bisect_left(times, r["timestamp"])]
            history = []
            for e in reversed(earlier):
                if e["item_id"] != r["item_id"] and e["item_id"] not in history:
                    history.append(e["item_id"])
                if len(history) == data_config.max_history_items:
                    break
            item = by_id[r["item_id"]]
            splits[split].append({
                F.USER_ID: user_id,
                F.HISTORY_ITEM_IDS: F.HISTORY_ID_SEPARATOR.join(history),
                F.HISTORY_TEXT: F.join_history_text(by_id[h]["title"] for h in history[: data_config.history_length]),
                F.ITEM_ID: item["item_id"],
                F.ITEM_TITLE: item["title"],
                F.ITEM_DESCRIPTION: item["description"],
                F.ITEM_TAGS: item["tags"],
                F.RATING: float(r["rating"]),
                F.TIMESTAMP: int(r["timestamp"]),
            })

    notes = []
    caps = {
        F.TRAIN_SPLIT: ("data.max_train_examples", data_config.max_train_examples),
        F.VALIDATION_SPLIT: ("data.max_validation_examples", data_config.max_validation_examples),
        F.EVAL_SPLIT: ("data.max_eval_examples", data_config.max_eval_examples),
    }
    for split, (knob, cap) in caps.items():
        rows = sorted(splits[split], key=lambda e: (e[F.TIMESTAMP], e[F.USER_ID]))
        if cap and len(rows) > cap:
            # An even stride keeps the sample spread over the whole period.
            stride = len(rows) / cap
            kept = [rows[int(i * stride)] for i in range(cap)]
            notes.append(f"{split}: kept {cap} of {len(rows)} examples ({knob})")
            rows = kept
        splits[split] = rows

    splits[F.CATALOGUE_SPLIT] = [
        {
            F.USER_ID: "", F.HISTORY_ITEM_IDS: "", F.HISTORY_TEXT: "",
            F.ITEM_ID: item["item_id"], F.ITEM_TITLE: item["title"],
            F.ITEM_DESCRIPTION: item["description"], F.ITEM_TAGS: item["tags"],
            # A catalogue row's timestamp is the item's release time.
            F.RATING: 0.0, F.TIMESTAMP: release_time(item),
        }
        for item in items
    ]
    return splits, cutoff, notes


def release_time(item) -> int:
    """The item's release time, or ``features.UNKNOWN_RELEASE``."""
    released = item.get("release_timestamp")
    return F.UNKNOWN_RELEASE if released is None else int(released)


def to_tf_example(row: Dict[str, object]):
    """A raw feature dict as a serialized tf.train.Example."""
    import tensorflow as tf

    feature = {}
    for name in F.STRING_FEATURES:
        feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[str(row[name]).encode()]))
    for name in F.FLOAT_FEATURES:
        feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(row[name])]))
    for name in F.INT_FEATURES:
        feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(row[name])]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _write_split(path: str, rows) -> None:
    import tensorflow as tf

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for row in rows:
            writer.write(to_tf_example(row))


def prepare(data_dir: str, out_dir: str, data_config: DataConfig, log=print) -> Prepared:
    """Validates the CSV files in ``data_dir`` and writes the example splits to ``out_dir``."""
    inputs = input_paths(data_dir)
    items_path, interactions_path = inputs[:2]
    users_path = os.path.join(data_dir, "users.csv")
    for path in inputs[:2]:
        if not os.path.exists(path):
            raise csv_io.DataError(f"{path}: file not found (see README, 'Bring your own data')")
    files_digest = _files_digest(inputs)
    fingerprint = _fingerprint(files_digest, data_config)
    summary_path = os.path.join(out_dir, SUMMARY_FILE)
    previous = _read_summary(summary_path)
    if previous and previous.get("fingerprint") == fingerprint:
        log(f"examples in {out_dir} are up to date")
        return Prepared(out_dir, previous["counts"], previous["cutoff_timestamp"], skipped=True)

    log(f"reading {data_dir}")
    items = csv_io.read_items(items_path)
    users: Optional[set] = set(csv_io.read_users(users_path)) if users_path in inputs else None
    interactions = csv_io.read_interactions(interactions_path, {i["item_id"] for i in items}, users)
    log(f"  {len(items)} items, {len(interactions)} interactions"
        + (f", {len(users)} users listed" if users is not None else ""))
    splits, cutoff, notes = build_examples(items, interactions, data_config)

    # Write into a fresh folder and swap it in, so a failure never leaves half a split.
    staging = out_dir.rstrip("/") + ".tmp"
    shutil.rmtree(staging, ignore_errors=True)
    for split in F.SPLITS:
        _write_split(os.path.join(staging, split, DATA_FILE), splits[split])
    counts = {split: len(rows) for split, rows in splits.items()}
    summary = {
        "fingerprint": fingerprint,
        "counts": counts,
        "cutoff_timestamp": cutoff,
        "split_fingerprint": split_fingerprint(data_dir, data_config, files_digest),
        "notes": notes,
        "inputs": inputs,
    }
    with open(os.path.join(staging, SUMMARY_FILE), "w") as f:
        json.dump(summary, f, indent=2)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(staging, out_dir)
    for note in notes:
        log(f"  {note}")
    if data_config.split == "random":
        log(f"  wrote {counts} to {out_dir} (validation and eval: random samples, seed {data_config.split_seed})")
    else:
        log(f"  wrote {counts} to {out_dir} "
            f"(validation: the latest training interactions; eval from timestamp {cutoff})")
    return Prepared(out_dir, counts, cutoff, skipped=False)


def prepared_split_fingerprint(summary_path: str) -> Optional[str]:
    """The split fingerprint in a preparation summary (``<out_dir>/summary.json``,
    local or remote such as ``gs://``); None when there is none to read."""
    import tensorflow as tf

    try:
        with tf.io.gfile.GFile(summary_path) as f:
            return json.load(f).get("split_fingerprint")
    except (tf.errors.OpError, ValueError):
        return None


def _read_summary(path: str) -> Optional[dict]:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
