"""From CSV files to the pipeline's input: one tf.Example per interaction.

Each example's user side is that user's most recent *earlier* interactions,
most recent first: their item ids (at most ``max_history_items``) and the
titles of the first ``history_length`` as text. Only interactions
with a strictly smaller timestamp count, and the target item itself is never
part of its own history, so no example sees its label or its future.

Train/eval are split by time: the latest ``eval_fraction`` of interactions (by
timestamp) form the eval split, so evaluation asks the model to predict the
future from the past, as in production. ``data.split = "random"`` instead puts
a seeded random ``eval_fraction`` of interactions in eval (the TFRS tutorial's
MovieLens protocol); histories still hold only strictly earlier interactions. A third split, ``catalogue``, holds
one row per item (all items, including those first seen after the cut-off),
its timestamp the item's release time (0 when unknown).

Output: ``<out_dir>/{train,eval,catalogue}/data.tfrecord.gz`` and
``<out_dir>/summary.json``. Preparation is skipped when the inputs and the data
config are unchanged, so TFX's cache sees the same files and skips ExampleGen.
"""
from __future__ import annotations

import bisect
import collections
import random
import dataclasses
import hashlib
import json
import os
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


def _fingerprint(paths: List[str], data_config: DataConfig) -> str:
    digest = hashlib.sha256(json.dumps(dataclasses.asdict(data_config), sort_keys=True).encode())
    digest.update(b"format-v2")
    for path in paths:
        digest.update(path.encode())
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def build_examples(items, interactions, data_config: DataConfig):
    """Returns ({split: [feature dict]}, cutoff_timestamp, notes).

    Pure function of its inputs; ``notes`` lists counted, documented handling
    (capped splits) for the summary.
    """
    by_id = {item["item_id"]: item for item in items}

    timestamps = sorted(r["timestamp"] for r in interactions)
    cut_index = min(len(timestamps) - 1, int(len(timestamps) * (1.0 - data_config.eval_fraction)))
    cutoff = timestamps[cut_index]
    if data_config.split == "random":
        rows = sorted(r["_row"] for r in interactions)
        random.Random(data_config.split_seed).shuffle(rows)
        eval_rows = set(rows[cut_index:])

        def in_eval(r):
            return r["_row"] in eval_rows

        cutoff = 0  # no time cut-off
    else:

        def in_eval(r):
            return r["timestamp"] >= cutoff

    per_user = collections.defaultdict(list)
    for r in interactions:
        per_user[r["user_id"]].append(r)

    splits = {F.TRAIN_SPLIT: [], F.EVAL_SPLIT: []}
    for user_id in sorted(per_user):
        events = sorted(per_user[user_id], key=lambda r: (r["timestamp"], r["_row"]))
        times = [r["timestamp"] for r in events]
        for r in events:
            # Strictly earlier events only: ties with the target are not "the past".
            earlier = events[: bisect.bisect_left(times, r["timestamp"])]
            history = []
            for e in reversed(earlier):
                if e["item_id"] != r["item_id"] and e["item_id"] not in history:
                    history.append(e["item_id"])
                if len(history) == data_config.max_history_items:
                    break
            item = by_id[r["item_id"]]
            split = F.EVAL_SPLIT if in_eval(r) else F.TRAIN_SPLIT
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
    for split, cap in ((F.TRAIN_SPLIT, data_config.max_train_examples), (F.EVAL_SPLIT, data_config.max_eval_examples)):
        rows = sorted(splits[split], key=lambda e: (e[F.TIMESTAMP], e[F.USER_ID]))
        if cap and len(rows) > cap:
            # An even stride keeps the sample spread over the whole period.
            stride = len(rows) / cap
            kept = [rows[int(i * stride)] for i in range(cap)]
            notes.append(f"{split}: kept {cap} of {len(rows)} examples (data.max_{split}_examples)")
            rows = kept
        splits[split] = rows

    splits[F.CATALOGUE_SPLIT] = [
        {
            F.USER_ID: "", F.HISTORY_ITEM_IDS: "", F.HISTORY_TEXT: "",
            F.ITEM_ID: item["item_id"], F.ITEM_TITLE: item["title"],
            F.ITEM_DESCRIPTION: item["description"], F.ITEM_TAGS: item["tags"],
            # A catalogue row's timestamp is the item's release (0: unknown).
            F.RATING: 0.0, F.TIMESTAMP: item.get("release_timestamp", 0),
        }
        for item in items
    ]
    return splits, cutoff, notes


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
    items_path = os.path.join(data_dir, "items.csv")
    interactions_path = os.path.join(data_dir, "interactions.csv")
    users_path = os.path.join(data_dir, "users.csv")
    inputs = [items_path, interactions_path] + ([users_path] if os.path.exists(users_path) else [])
    for path in inputs[:2]:
        if not os.path.exists(path):
            raise csv_io.DataError(f"{path}: file not found (see README, 'Bring your own data')")
    fingerprint = _fingerprint(inputs, data_config)
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
        log(f"  wrote {counts} to {out_dir} (eval: random sample, seed {data_config.split_seed})")
    else:
        log(f"  wrote {counts} to {out_dir} (eval from timestamp {cutoff})")
    return Prepared(out_dir, counts, cutoff, skipped=False)


def _read_summary(path: str) -> Optional[dict]:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
