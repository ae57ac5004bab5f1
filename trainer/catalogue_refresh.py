"""Catalogue refresh (``bertrec index``): new, edited and withdrawn items, and
availability, live without retraining.

Takes the newest pushed version (the Pusher's last push or the last refresh;
an older one is refused: its refresh would replace the newer model in
serving) and pushes a new version beside it with the same weights and a new
catalogue, under the ``serve`` settings of the config given:

- ``items`` (``--items items.csv``, the data's ``items.csv`` format): the whole
  catalogue as it is now. Items the model does not know are **added**: embedded
  by its item tower, with the cold-start prior (their ids are outside the
  training vocabulary, as a cold-start item's are). Items whose title, text or
  release time changed are **edited** and re-embedded. Items missing from the
  file are **withdrawn**: never returned, but still read in users' histories.
  The others keep their embeddings bit for bit.
- ``unavailable`` (``--unavailable ids.txt``): item ids, one per line, not to
  return (out of stock, region, blocklist). It replaces the previous version's
  list (an empty file clears it); without it that list stands. When only this
  changes nothing is embedded.

Catalogue rows only grow: a new item is appended, a withdrawn one keeps its
row, so per-row state (the item-item weights) stays aligned.

Nothing is pushed unless every check passes: the file (``csv_io.read_items``:
file, row and field in the message), the ids, finite new embeddings, the
rebuilt item tower reproducing the stored embeddings of unchanged items, and
the new model scoring unchanged items as the old one does. The version is
written under a hidden name, loaded with its warm-up requests replayed (what a
server does) and only then renamed into place, so a server never sees half a
version and a failure leaves nothing behind.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time
from typing import Callable, Dict, List, Optional

import bertrec  # noqa: F401  (Keras 2 before TensorFlow)

# isort: split
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from bertrec import features as F
from bertrec.config import Config
from bertrec.data import csv_io, prepare
from bertrec.errors import UserError
from serving.model_versions import latest_version_dir, versions
from trainer import affinity, catalogue_kit, export, freshness, item_item, reranker, score_terms
from trainer.model import Recommender

#: Items transformed and embedded per call.
BATCH_SIZE = 256
#: Unchanged items re-embedded to check the rebuilt item tower against the stored embeddings.
CHECK_ITEMS = 16
#: Largest difference allowed in those checks (embeddings and scores are float32).
TOLERANCE = 1e-3


@dataclasses.dataclass
class Plan:
    """What a refresh changes, by position in the new items file (``added``,
    ``edited``) or catalogue row (``withdrawn``)."""

    added: List[int]
    edited: List[int]
    unchanged: List[int]
    withdrawn: List[int]


def read_id_list(path: str, known: Dict[str, int]) -> np.ndarray:
    """Catalogue rows of the ids listed in ``path`` (one per line; blank lines
    and ``#`` comments skipped); an id not in ``known`` (id -> row) is an error
    naming its line."""
    name = os.path.basename(path)
    rows = []
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                item_id = line.split("#", 1)[0].strip()
                if not item_id:
                    continue
                if item_id not in known:
                    raise csv_io.DataError(f"{name}, line {number}: unknown item id {item_id!r} (not in the catalogue)")
                rows.append(known[item_id])
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise csv_io.DataError(f"{name}: not UTF-8 text ({e.reason})") from None
    return np.unique(np.array(rows, dtype=np.int64))


def plan(old_ids: List[str], old_digests: np.ndarray, new_ids: List[str], new_digests: np.ndarray) -> Plan:
    """Which items of the new file are added, edited or unchanged, and which old rows are withdrawn."""
    row = {item: r for r, item in enumerate(old_ids)}
    added, edited, unchanged = [], [], []
    for i, item in enumerate(new_ids):
        if item not in row:
            added.append(i)
        elif new_digests[i] != old_digests[row[item]]:
            edited.append(i)
        else:
            unchanged.append(i)
    listed = set(new_ids)
    return Plan(added, edited, unchanged, [r for r, item in enumerate(old_ids) if item not in listed])


def transform_items(layer, items: List[dict]) -> Dict[str, np.ndarray]:
    """What the Transform makes of catalogue items (``ids``, ``titles``,
    ``tokens``, ``vocab_index``, ``released``), in batches, as training did."""
    parts = {"titles": [], "tokens": [], "vocab_index": []}
    for start in range(0, len(items), BATCH_SIZE):
        chunk = items[start : start + BATCH_SIZE]
        out = layer({
            F.ITEM_ID: tf.constant([i["item_id"] for i in chunk]),
            F.ITEM_TITLE: tf.constant([i["title"] for i in chunk]),
            F.ITEM_DESCRIPTION: tf.constant([i["description"] for i in chunk]),
            F.ITEM_TAGS: tf.constant([i["tags"] for i in chunk]),
        })
        parts["titles"].append(out[F.ITEM_SHORT_TEXT].numpy())
        parts["tokens"].append(out[F.ITEM_TOKENS].numpy())
        parts["vocab_index"].append(out[F.ITEM_INDEX].numpy())
    transformed = {name: np.concatenate(values) for name, values in parts.items()}
    transformed["ids"] = np.array([i["item_id"] for i in items])
    transformed["released"] = np.array([prepare.release_time(i) for i in items], dtype=np.int64)
    return transformed


def embed(function: Callable, tokens: np.ndarray, vocab_index: np.ndarray) -> np.ndarray:
    """``function(tokens, vocab_index)`` over batches, as numpy [N, D]."""
    if len(tokens) == 0:
        return np.zeros((0, 0), np.float32)
    parts = [function(tf.constant(tokens[i : i + BATCH_SIZE]), tf.constant(vocab_index[i : i + BATCH_SIZE])).numpy()
             for i in range(0, len(tokens), BATCH_SIZE)]
    return np.concatenate(parts).astype(np.float32)


def _empty_terms(names: List[str], shapes: Dict[str, list]) -> List[score_terms.ScoreTerm]:
    """Unfitted score terms shaped as the exported ones (restored from the checkpoint next)."""
    terms = []
    for i, name in enumerate(names):
        if name == "history_affinity":
            terms.append(affinity.HistoryAffinity())
        elif name == "freshness":
            terms.append(freshness.Freshness())
        elif name == "item_item":
            shape = shapes[f"score_terms/terms/{i}/columns/.ATTRIBUTES/VARIABLE_VALUE"]
            terms.append(item_item.ItemItem(np.zeros(shape, np.int64), np.zeros(shape, np.float32)))
        else:
            raise UserError(f"the model exports a score term this bertrec does not know: {name!r}")
    return terms


def _differences(before, after) -> str:
    return ", ".join(f"{f.name} {getattr(before, f.name)!r} -> {getattr(after, f.name)!r}"
                     for f in dataclasses.fields(before) if getattr(before, f.name) != getattr(after, f.name))


def _check_newest(source: str) -> None:
    """A refresh of an older version would be served instead of the newer one: refused."""
    newest = latest_version_dir(os.path.dirname(source))
    if newest != source:
        raise UserError(f"{source} is not the newest version in {os.path.dirname(source)} ({newest} is): its "
                        "refresh would replace the newer model in serving; refresh the newest version")


def _checkpoint(source: str) -> str:
    return os.path.join(source, "variables", "variables")


def stored_catalogue(source: str) -> Dict[str, np.ndarray]:
    """The catalogue arrays the exported model at ``source`` holds: ``item_embeddings``,
    ``item_priors`` and (sequence query tower) ``item_history_embeddings``."""
    reader = tf.train.load_checkpoint(_checkpoint(source))
    return {name: reader.get_tensor(f"{name}/.ATTRIBUTES/VARIABLE_VALUE")
            for name in ("item_embeddings", "item_priors", "item_history_embeddings")
            if reader.has_tensor(f"{name}/.ATTRIBUTES/VARIABLE_VALUE")}


def new_model(kit: catalogue_kit.Kit, train_config: Config) -> Recommender:
    """The kit's model as training built it, before its weights are restored
    (the encoder as shipped)."""
    tf.keras.utils.set_random_seed(train_config.train.seed)
    return Recommender(train_config, kit.num_users, kit.item_counts)


def restore(model: Recommender, kit: catalogue_kit.Kit, source: str, train_config: Config):
    """Restores ``model``, the exported score terms and the re-ranker (when used)
    from the exported model at ``source``: (terms, re-ranker or None, the
    checkpoint status; its ``assert_existing_objects_matched`` holds once every
    layer is built)."""
    reader = tf.train.load_checkpoint(_checkpoint(source))
    terms = _empty_terms(kit.term_names, reader.get_variable_to_shape_map())
    holder = tf.Module()
    holder.terms = terms
    objects = {"model": model, "score_terms": holder}
    ranker = None
    if kit.reranker:
        ranker = reranker.Reranker(len(reranker.FEATURE_NAMES) + len(terms), train_config.model.reranker_hidden_units,
                                   name="reranker")
        objects["reranker"] = ranker
    # The SavedModel also holds what serving needs no more (optimizer slots): partial by design.
    status = tf.train.Checkpoint(**objects).read(_checkpoint(source)).expect_partial()
    return terms, ranker, status


def rebuild_server(model: Recommender, layer, catalogue: Dict[str, np.ndarray], config: Config,
                   terms: List[score_terms.ScoreTerm], ranker, added: int) -> export.RecommenderServer:
    """The serving model of a restored ``model`` (``restore``'s ``terms`` and
    ``ranker``) over ``catalogue``, whose last ``added`` rows are new."""
    grown = score_terms.ScoreTerms([term.extended(added) for term in terms], None, catalogue["released"],
                                   config.data.max_history_items)
    server = export.RecommenderServer(model, layer, catalogue, config, grown)
    server.reranker = ranker
    return server


def _check_close(what: str, actual: np.ndarray, expected: np.ndarray) -> float:
    """The largest difference; a UserError when it exceeds ``TOLERANCE``."""
    gap = float(np.max(np.abs(actual - expected))) if actual.size else 0.0
    if not np.isfinite(gap) or gap > TOLERANCE:
        raise UserError(f"refused: the rebuilt model does not reproduce the pushed one ({what} differ by {gap:.3g}); "
                        "nothing was pushed")
    return gap


def _decode(values) -> List[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def refresh(config: Config, items_path: Optional[str] = None, unavailable_path: Optional[str] = None,
            source: Optional[str] = None, log=print) -> dict:
    """Pushes a new version of the model at ``source`` (default: the newest under
    ``config.paths().serving_model_dir``) with the catalogue of ``items_path``
    and the unavailable ids of ``unavailable_path`` (see module docstring), next
    to ``source``. Returns the summary (also in the new version's training.json)."""
    if not items_path and not unavailable_path:
        raise UserError("nothing to do: give the catalogue (--items), the unavailable ids (--unavailable) or both")
    started = time.time()
    source = source or latest_version_dir(config.paths().serving_model_dir)
    if source is None:
        raise UserError(f"no model has been pushed to {config.paths().serving_model_dir}: run the pipeline first")
    source = os.path.abspath(source)
    if not os.path.exists(os.path.join(source, "saved_model.pb")):
        raise UserError(f"{source} is not a model version directory (no saved_model.pb)")
    _check_newest(source)
    try:
        kit = catalogue_kit.read(source)
    except catalogue_kit.KitMissing as e:
        raise UserError(str(e)) from None
    trained = Config.from_dict(kit.config, source=f"{source} catalogue kit")
    # Serving knobs come from the config given (a refresh may switch serve.index); the rest is the model's.
    train_config = dataclasses.replace(trained, serve=config.serve)
    if trained.serve != config.serve:
        log(f"serve settings differ from the model's: {_differences(trained.serve, config.serve)}")
    with tempfile.TemporaryDirectory(prefix="bertrec-index-") as scratch:
        # The transform's assets must outlive the export, which copies them.
        layer = tft.TFTransformOutput(kit.extract_transform(scratch)).transform_features_layer()
        return _refresh(kit, source, items_path, unavailable_path, train_config, layer, started, log)


def _refresh(kit: catalogue_kit.Kit, source: str, items_path: Optional[str],
             unavailable_path: Optional[str], train_config: Config, layer, started: float, log) -> dict:
    """``refresh`` once the kit is read and its transform extracted."""
    old = kit.catalogue
    old_ids = _decode(old["ids"])
    items = csv_io.read_items(items_path) if items_path else None
    if items is None:
        new = None
        changes = Plan([], [], list(range(len(old_ids))), [])
    else:
        log(f"reading {len(items)} items from {items_path}")
        new = transform_items(layer, items)
        new["digests"] = catalogue_kit.item_digests(new["titles"], new["tokens"], new["released"])
        changes = plan(old_ids, old["digests"], _decode(new["ids"]), new["digests"])
    log(f"catalogue of {source}: {len(old_ids)} items; {len(changes.added)} added, {len(changes.edited)} edited, "
        f"{len(changes.withdrawn)} withdrawn, {len(changes.unchanged)} unchanged")
    all_ids = old_ids + (_decode(new["ids"][changes.added]) if new else [])
    # Checked before any embedding work.
    unavailable = (read_id_list(unavailable_path, {item: r for r, item in enumerate(all_ids)})
                   if unavailable_path else None)

    stored = stored_catalogue(source)
    model = new_model(kit, train_config)
    # What the items to embed are, and a few unchanged ones to check the rebuild on.
    old_row = {item: r for r, item in enumerate(old_ids)}
    check = changes.unchanged[:: max(1, len(changes.unchanged) // CHECK_ITEMS)][:CHECK_ITEMS] if new else []
    embed_rows = np.array(changes.added + changes.edited + check, dtype=np.int64)
    tokens = new["tokens"][embed_rows] if new else np.zeros((0, 1), np.int64)
    index = new["vocab_index"][embed_rows] if new else np.zeros(0, np.int64)
    encoder = model.candidate_tower.encoder
    start = time.time()
    # The sequence tower reads the encoder's embedding as shipped: computed before the weights are restored.
    shipped = (embed(tf.function(lambda t, _: encoder(t, training=False)), tokens, index)
               if model.reads_history_sequence else None)

    terms, ranker, status = restore(model, kit, source, train_config)
    embeddings = embed(tf.function(lambda t, i: model.candidate_tower(t, i, training=False)), tokens, index)
    if len(embed_rows):
        seconds = time.time() - start
        log(f"embedded {len(embed_rows) - len(check)} new or edited items and {len(check)} unchanged ones (to check "
            f"the rebuild) in {seconds:.1f}s ({len(embed_rows) / seconds:.0f} items/s)")
        if not np.isfinite(embeddings).all():
            raise UserError("refused: an item embedding is not finite; nothing was pushed")
    changed = len(changes.added) + len(changes.edited)
    checked = [old_row[new["ids"][i]] for i in check] if new else []
    gaps = {"embeddings": _check_close("stored and recomputed item embeddings", embeddings[changed:],
                                       stored["item_embeddings"][checked])}
    if shipped is not None:
        gaps["history_embeddings"] = _check_close("stored and recomputed history embeddings", shipped[changed:],
                                                  stored["item_history_embeddings"][checked])
    priors = (model.item_prior(tf.constant(embeddings[:changed]), tf.constant(index[:changed])).numpy()
              if changed else np.zeros(0, np.float32))

    # The new catalogue: old rows (edited ones updated), then the added items.
    n_old, added = len(old_ids), len(changes.added)

    def appended(values: np.ndarray, name: str, extra: Optional[np.ndarray] = None) -> np.ndarray:
        more = (new[name][changes.added] if new else values[:0]) if extra is None else extra[:added]
        return np.concatenate([values, more.astype(values.dtype)]) if added else values.copy()

    catalogue = {
        "ids": np.array(all_ids, dtype=object),
        "titles": appended(old["titles"].astype(object), "titles"),
        "vocab_index": appended(old["vocab_index"], "vocab_index"),
        "released": appended(old["released"], "released"),
        "digests": appended(old["digests"].astype(object), "digests"),
        "embeddings": appended(stored["item_embeddings"], "", embeddings),
        "priors": appended(stored["item_priors"], "", priors),
    }
    if shipped is not None:
        catalogue["history_embeddings"] = appended(stored["item_history_embeddings"], "", shipped)
    edited_rows = np.array([old_row[new["ids"][i]] for i in changes.edited], dtype=np.int64)
    if len(edited_rows):
        pick = slice(added, changed)
        for name in ("titles", "released", "digests"):
            catalogue[name][edited_rows] = new[name][changes.edited]
        catalogue["embeddings"][edited_rows] = embeddings[pick]
        catalogue["priors"][edited_rows] = priors[pick]
        if shipped is not None:
            catalogue["history_embeddings"][edited_rows] = shipped[pick]
    if new is None:  # no catalogue file: what was withdrawn stays withdrawn
        catalogue["withdrawn"] = old["withdrawn"].copy()
    else:
        catalogue["withdrawn"] = np.zeros(n_old + added, dtype=bool)
        catalogue["withdrawn"][changes.withdrawn] = True
    if unavailable is not None:
        catalogue["unavailable"] = np.zeros(n_old + added, dtype=bool)
        catalogue["unavailable"][unavailable] = True
    else:
        catalogue["unavailable"] = np.concatenate([old["unavailable"], np.zeros(added, dtype=bool)])
    catalogue["available"] = ~(catalogue["withdrawn"] | catalogue["unavailable"])
    if not catalogue["available"].any():
        raise UserError("refused: no item would be available; nothing was pushed")

    server = rebuild_server(model, layer, catalogue, train_config, terms, ranker, added)
    gaps["scores"] = _check_scores(server, source, catalogue, changes, old_row, new, log)
    status.assert_existing_objects_matched()

    base = os.path.dirname(source)
    version = max([int(time.time())] + [v + 1 for v in versions(base)])
    with open(os.path.join(source, "assets.extra", export.TRAINING_SUMMARY)) as f:
        training_summary = json.load(f)
    summary = {
        "from_version": os.path.basename(source), "version": version, "items": int(n_old + added),
        "added": added, "edited": len(changes.edited), "withdrawn": int(catalogue["withdrawn"].sum()),
        "embedded": int(len(embed_rows)),
        "unavailable": int(catalogue["unavailable"].sum()), "available": int(catalogue["available"].sum()),
        "reproduction_gaps": {k: float(f"{v:.3g}") for k, v in gaps.items()},
    }
    new_kit = dataclasses.replace(kit, catalogue={name: catalogue[name] for name in catalogue_kit.COLUMNS})
    _push(server, source, version, train_config, {**training_summary, "catalogue_refresh": summary}, new_kit, log)
    summary["seconds"] = round(time.time() - started, 1)
    log(f"pushed version {version} to {base} in {summary['seconds']}s: {summary['available']} of "
        f"{summary['items']} items available")
    return summary


def _check_scores(server, source: str, catalogue: dict, changes: Plan, old_row: dict, new, log) -> float:
    """The largest retrieval score difference between the pushed model and the
    rebuilt one, on unchanged items, for requests whose histories hold only
    unchanged items; a UserError beyond ``TOLERANCE``."""
    from serving.loader import load_model

    unchanged = np.array(sorted(old_row[new["ids"][i]] for i in changes.unchanged) if new
                         else range(len(old_row)), dtype=np.int64)
    if len(unchanged) < 3:
        log("too few unchanged items to compare the old and new models' scores: check skipped")
        return 0.0
    ids = _decode(catalogue["ids"])
    histories = [" ".join(ids[r] for r in unchanged[i :: 7][:5]) for i in range(4)]
    users = [f"index-check-{i}" for i in range(len(histories))]
    times = tf.constant([int(time.time())] * len(histories), dtype=tf.int64)

    def scores(model, num_items):
        out = model.score_catalogue(tf.constant(users), tf.constant(histories),
                                    tf.zeros([len(users), num_items], tf.bool), times)
        return out["scores"].numpy()[:, unchanged]

    old = load_model(source)
    return _check_close("old and new retrieval scores of unchanged items",
                        scores(server, len(ids)), scores(old, len(old_row)))


def _push(server, source: str, version: int, config: Config, summary: dict, kit: catalogue_kit.Kit, log) -> None:
    """Exports under a hidden name beside ``source``, loads it with its warm-up
    requests replayed, then renames it to version ``version`` unless ``source``
    is no longer the newest; removes it on any failure."""
    base = os.path.dirname(source)
    from serving.model_manager import load_servable

    hidden = os.path.join(base, f".index-{version}.partial")
    final = os.path.join(base, str(version))
    try:
        export.export(server, hidden, config, summary, kit)
        load_servable("index-check", version, hidden)
        # Checked again: a push or another refresh may have come meanwhile.
        _check_newest(source)
        if os.path.exists(final):
            raise UserError(f"{final} appeared while the refresh ran; nothing was pushed")
        os.rename(hidden, final)
    finally:
        if os.path.exists(hidden):
            shutil.rmtree(hidden, ignore_errors=True)
    log(f"exported and checked version {version}")
