"""The Trainer component's module: ``run_fn`` (TFX's generic trainer entry point).

Trains the recommender under MirroredStrategy for whole epochs over the
training split, on the catalogue's cached frozen encoder states
(``trainer/catalogue_cache.py``), measuring retrieval on the validation split
after each epoch and keeping the best epoch (``trainer/validation.py``); logs to
TensorBoard in the Trainer's run directory, embeds the whole catalogue with the
trained candidate tower, fits the score terms (``trainer/score_terms.py``) and
the re-ranker (``trainer/reranker.py``) on the validation split and exports the
self-contained serving model (see ``trainer/export.py``). The eval (test)
split never reaches the Trainer.

The validation and catalogue splits of the transformed examples (artifacts
recorded in ML Metadata) arrive through ``eval_args.splits``; run_fn tells
them apart.
"""
from __future__ import annotations

import time

import bertrec  # noqa: F401  (Keras 2 before TensorFlow)

# isort: split
import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs
import tensorflow_transform as tft
from absl import logging
from tfx.components.trainer.fn_args_utils import FnArgs

from bertrec import features as F
from bertrec.config import SPLIT_SUMMARY_KEY, Config
from bertrec.data.prepare import prepared_split_fingerprint
from trainer import catalogue_kit, distribution, export, inputs, priors, reranker, score_terms, validation
from trainer.catalogue_cache import CatalogueCache
from trainer.model import Recommender
from trainer.schedule import WarmupLinearDecay
from transforms.preprocessing import NUM_OOV_BUCKETS


def _split_pattern(patterns, split: str) -> str:
    """The file pattern of ``split`` among TFX's ``Split-<name>`` folders."""
    matches = [p for p in patterns if f"Split-{split}/" in p]
    if len(matches) != 1:
        raise ValueError(f"expected one file pattern for split {split!r} among {patterns}")
    return matches[0]


def read_catalogue(dataset: tf.data.Dataset) -> dict:
    """The transformed catalogue split as numpy: ids, titles, vocabulary indices,
    tokens, release times (``features.UNKNOWN_RELEASE``: unknown)."""
    columns = {"ids": F.ITEM_KEY, "titles": F.ITEM_SHORT_TEXT, "vocab_index": F.ITEM_INDEX, "tokens": F.ITEM_TOKENS,
               "released": F.TIMESTAMP}
    parts = {name: [] for name in columns}
    for batch in dataset:
        for name, feature in columns.items():
            parts[name].append(batch[feature].numpy())
    catalogue = {name: np.concatenate(values) for name, values in parts.items()}
    if len(np.unique(catalogue["ids"])) != len(catalogue["ids"]):
        raise ValueError("the catalogue split has duplicate item ids")
    return catalogue


def make_optimizer(model: Recommender, t, total_steps: int) -> tf.keras.optimizers.Optimizer:
    """Adam for the network, its learning rate warmed up and decayed over
    ``total_steps`` (``trainer.schedule``); Adagrad for each id embedding, the
    TFRS recipe for embeddings (a row only learns in the batches its id is in,
    where Adam's small steps would leave it near its start). Its learning rate is
    ``train.id_learning_rate / sqrt(embedding size)``, so a step moves a row by
    about ``id_learning_rate`` whatever its size."""
    groups = [
        (tf.keras.optimizers.legacy.Adagrad(learning_rate=t.id_learning_rate / np.sqrt(layer.output_dim)),
         lambda layer=layer: layer.trainable_weights)
        for layer in model.id_embeddings()
    ]
    schedule = WarmupLinearDecay(t.learning_rate, round(t.warmup_fraction * total_steps), total_steps)
    groups.append((tf.keras.optimizers.legacy.Adam(learning_rate=schedule), model.dense_variables))
    return tfrs.experimental.optimizers.CompositeOptimizer(groups)


def interaction_rows(log: dict, catalogue: dict, num_items: int) -> tuple:
    """(user vocabulary indices, catalogue rows) of the training interactions in
    ``log``; ``num_items``: the item vocabulary's size, out-of-vocabulary buckets included."""
    row = np.full(num_items, -1)
    row[catalogue["vocab_index"]] = np.arange(len(catalogue["vocab_index"]))
    items = row[log[F.ITEM_INDEX]]
    if (items < 0).any():
        raise ValueError(f"{int((items < 0).sum())} training interactions name items missing from the catalogue split")
    return log[F.USER_INDEX], items


def fit_score_terms(model: Recommender, catalogue: dict, examples: dict, query: np.ndarray, histories, targets,
                    interactions, config: Config) -> tuple:
    """Builds and fits the enabled score terms (``trainer.score_terms``), each
    given the others, on validation examples (transformed feature columns of
    the ``score_terms.fit_sample`` rows, their ``query`` embeddings, history
    catalogue rows and target rows) against the embedded catalogue; the
    item-item term learns from the training ``interactions`` (user indices,
    catalogue rows). Returns (the terms, what was chosen for the training summary)."""
    scores = model.retrieval_scores(query, catalogue["embeddings"], catalogue["priors"]).numpy()
    terms = score_terms.build(config, catalogue["embeddings"], catalogue["released"], interactions)
    return terms, terms.fit(scores, histories, targets, examples[F.TIMESTAMP])


#: Validation examples the re-ranker is held out on at least (``reranker.holdout_rows``).
RERANKER_MIN_HOLDOUT = 200


def fit_reranker(server: export.RecommenderServer, cache: CatalogueCache, examples: dict, train_rows: np.ndarray,
                 holdout_rows: np.ndarray, catalogue_ids: np.ndarray, config: Config) -> dict:
    """Fits the re-ranking stage (``trainer.reranker``) on the lists ``server``
    retrieves for validation ``examples`` (transformed feature columns), training
    on ``train_rows`` and held out on ``holdout_rows``; sets it on ``server``
    when its gate keeps it. Returns its summary."""
    _, targets = validation.example_rows(examples, catalogue_ids)
    queries = cache.encode_queries(examples)
    rows, features = [], []
    for start in range(0, len(targets), 256):
        part = slice(start, start + 256)
        retrieved, values = server.retrieved_features(
            tf.constant(queries[part]), tf.constant(examples[F.USER_INDEX][part]),
            tf.constant(examples[F.HISTORY_ITEM_IDS][part]), tf.constant(examples[F.TIMESTAMP][part]),
        )
        rows.append(retrieved.numpy())
        features.append(values.numpy())
    hits = np.concatenate(rows) == targets[:, np.newaxis]
    lists = reranker.Lists(np.concatenate(features), np.where(hits.any(axis=1), hits.argmax(axis=1), -1),
                           examples[F.USER_INDEX])
    model = reranker.Reranker(lists.features.shape[-1], config.model.reranker_hidden_units, name="reranker")
    t = config.train
    summary = reranker.fit(model, lists[train_rows], lists[holdout_rows], t.reranker_learning_rate,
                           t.reranker_max_epochs, seed=t.seed)
    summary["features"] = reranker.feature_names([term.name for term in server.score_terms.terms])
    # Not kept: the ranking stage stays the ranking head plus the score terms.
    server.reranker = model if summary["kept"] else None
    return summary


def plan_epochs(train_examples: int, t) -> tuple:
    """(epochs, steps per epoch): whole passes over ``train_examples``, at most
    ``train.max_epochs``, within ``train.max_steps`` when set."""
    steps_per_epoch = max(1, -(-train_examples // t.batch_size))
    epochs = t.max_epochs
    if t.max_steps:
        steps_per_epoch = min(steps_per_epoch, t.max_steps)
        epochs = min(epochs, max(1, t.max_steps // steps_per_epoch))
    return epochs, steps_per_epoch


def run_fn(fn_args: FnArgs) -> None:
    """Trains, embeds the catalogue and exports the serving model."""
    config = Config.from_dict(fn_args.custom_config, source="Trainer custom_config")
    split_fingerprint = prepared_split_fingerprint(fn_args.custom_config.get(SPLIT_SUMMARY_KEY, ""))
    if split_fingerprint is None:
        logging.warning("bertrec: no split fingerprint in %s: `bertrec evaluate` will refuse this model",
                        fn_args.custom_config.get(SPLIT_SUMMARY_KEY))
    t = config.train
    tf.keras.utils.set_random_seed(t.seed)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    num_users = tf_transform_output.vocabulary_size_by_name(F.USER_VOCAB) + NUM_OOV_BUCKETS
    num_items = tf_transform_output.vocabulary_size_by_name(F.ITEM_VOCAB) + NUM_OOV_BUCKETS

    def dataset(pattern, **kwargs):
        return inputs.transformed_dataset([pattern], fn_args.data_accessor, tf_transform_output, **kwargs)

    train_ds = dataset(fn_args.train_files[0], batch_size=t.batch_size, shuffle=True, seed=t.seed)
    validation_pattern = _split_pattern(fn_args.eval_files, F.VALIDATION_SPLIT)

    log = inputs.read_features(
        fn_args.train_files, fn_args.data_accessor, tf_transform_output, [F.USER_INDEX, F.ITEM_INDEX, F.TIMESTAMP]
    )
    item_counts = np.bincount(log[F.ITEM_INDEX], minlength=num_items)[:num_items]
    catalogue = read_catalogue(
        dataset(_split_pattern(fn_args.eval_files, F.CATALOGUE_SPLIT), batch_size=256, shuffle=False, num_epochs=1)
    )
    # Freshness ages items by their release times, new releases included:
    # with it, the new-item prior would boost them twice.
    ages_known = config.model.freshness and bool((catalogue["released"] != F.UNKNOWN_RELEASE).any())
    unseen_item_prior = 0.0
    if config.model.new_item_prior and config.data.split == "time" and not ages_known:
        unseen_item_prior = priors.new_item_boost(log[F.ITEM_INDEX], log[F.TIMESTAMP], config.data.eval_fraction)
    logging.info("bertrec: %d training interactions over %d items; unseen items' prior %+.2f%s",
                 len(log[F.ITEM_INDEX]), int((item_counts > 0).sum()), unseen_item_prior,
                 " (freshness covers new releases)" if ages_known else "")
    # The validation sample that early stopping measures and the score terms
    # are fitted on. Drawn like the held-out split (its histories hold training
    # interactions only), so both see what serving will. Never empty: data
    # preparation refuses a split that would be.
    count = len(inputs.read_features([validation_pattern], fn_args.data_accessor, tf_transform_output,
                                     [F.TIMESTAMP])[F.TIMESTAMP])
    sample = score_terms.fit_sample(count, t.validation_examples, t.seed)
    # The re-ranker trains on the sample and is held out on other validation examples.
    rows = sample
    if config.model.reranker:
        rerank_rows = reranker.holdout_rows(count, sample, RERANKER_MIN_HOLDOUT, t.validation_examples, t.seed)
        rows = np.union1d(sample, rerank_rows[1])
    # Wide columns (query tokens, whole histories) for those rows only.
    read = inputs.read_features(
        [validation_pattern], fn_args.data_accessor, tf_transform_output,
        [F.ITEM_KEY, F.USER_INDEX, F.QUERY_TOKENS, F.HISTORY_ITEM_IDS, F.TIMESTAMP], rows=rows,
    )
    examples = {name: values[np.searchsorted(rows, sample)] for name, values in read.items()}
    histories, targets = validation.example_rows(examples, catalogue["ids"])

    epochs, steps_per_epoch = plan_epochs(len(log[F.ITEM_INDEX]), t)
    strategy = distribution.make_strategy()
    logging.info("bertrec: training on %d replica(s): %s", strategy.num_replicas_in_sync,
                 strategy.extended.worker_devices)
    with strategy.scope():
        model = Recommender(config, num_users, item_counts, unseen_item_prior)
        model.compile(optimizer=make_optimizer(model, t, epochs * steps_per_epoch))
    start = time.time()
    cache = CatalogueCache(model, catalogue, config)
    logging.info("bertrec: catalogue cache ready in %.1fs (frozen layers %s)", time.time() - start,
                 "cached" if cache.cached else "not cached")
    train_ds = train_ds.map(cache.add_inputs, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    validator = validation.CatalogueValidation(
        cache, examples, histories, targets,
        metric_names=sorted({t.early_stopping_metric, "recall@10", "recall@100", "ndcg@10"}),
    )
    monitor = validation.log_name(t.early_stopping_metric)
    early_stopping = tf.keras.callbacks.EarlyStopping(
        monitor=monitor, mode="max", patience=t.early_stopping_patience, restore_best_weights=True, verbose=1
    )
    logging.info("bertrec: training up to %d epoch(s) of %d steps (%d examples, batch %d)", epochs, steps_per_epoch,
                 len(log[F.ITEM_INDEX]), t.batch_size)
    start = time.time()
    model.fit(
        train_ds,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        # Validation first: early stopping and TensorBoard read what it logs.
        callbacks=[validator, early_stopping,
                   tf.keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir, update_freq="epoch")],
        verbose=2,
    )
    train_seconds = time.time() - start
    epochs_run = len(validator.curve)
    best_epoch = int(np.argmax([c[t.early_stopping_metric] for c in validator.curve])) + 1
    summary = {
        # Which data and held-out split the model was trained for (``bertrec evaluate`` checks it).
        "split_fingerprint": split_fingerprint,
        "steps": epochs_run * steps_per_epoch,
        "steps_per_epoch": steps_per_epoch,
        "epochs": epochs_run,
        "best_epoch": best_epoch,
        "validation_curve": validator.curve,
        "batch_size": t.batch_size,
        "replicas": strategy.num_replicas_in_sync,
        "train_seconds": round(train_seconds, 1),
        "examples_per_second": round(epochs_run * steps_per_epoch * t.batch_size / train_seconds, 1),
        "frozen_layers_cached": cache.cached,
        "unseen_item_prior": round(unseen_item_prior, 4),
        "trainable_parameters": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
        "total_parameters": int(sum(np.prod(w.shape) for w in model.weights)),
    }
    logging.info("bertrec: trained %d epoch(s) (%d steps) in %.1fs, kept epoch %d; %d of %d parameters trainable",
                 epochs_run, summary["steps"], train_seconds, best_epoch, summary["trainable_parameters"],
                 summary["total_parameters"])

    start = time.time()
    # The kept (best) weights' embeddings.
    catalogue["embeddings"] = cache.item_embeddings()
    catalogue["history_embeddings"] = cache.history_embeddings
    catalogue["priors"] = model.item_prior(catalogue["embeddings"], catalogue["vocab_index"]).numpy()
    logging.info("bertrec: embedded %d catalogue items in %.1fs", len(catalogue["ids"]), time.time() - start)
    start = time.time()
    interactions = interaction_rows(log, catalogue, num_items) if config.model.item_item else None
    terms, fitted = fit_score_terms(model, catalogue, examples, cache.encode_queries(examples), histories, targets,
                                    interactions, config)
    summary.update(fitted)
    summary["score_terms_fit"]["seconds"] = round(time.time() - start, 1)
    logging.info("bertrec: score terms fitted: %s", fitted)
    server = export.RecommenderServer(model, tf_transform_output.transform_features_layer(), catalogue, config,
                                      terms)
    if config.model.reranker:
        start = time.time()
        train_rows, holdout_rows = (np.searchsorted(rows, part) for part in rerank_rows)
        summary["reranker"] = fit_reranker(server, cache, read, train_rows, holdout_rows, catalogue["ids"], config)
        summary["reranker"]["seconds"] = round(time.time() - start, 1)
    kit = catalogue_kit.Kit(
        config.to_dict(), num_users, item_counts, [term.name for term in server.score_terms.terms],
        server.reranker is not None,
        {"ids": catalogue["ids"], "titles": catalogue["titles"], "vocab_index": catalogue["vocab_index"],
         "released": catalogue["released"], "withdrawn": np.zeros(len(catalogue["ids"]), dtype=bool),
         "unavailable": np.zeros(len(catalogue["ids"]), dtype=bool),
         "digests": catalogue_kit.item_digests(catalogue["titles"], catalogue["tokens"], catalogue["released"])},
        fn_args.transform_output,
    )
    export.export(server, fn_args.serving_model_dir, config, summary, kit)
    logging.info("bertrec: exported the serving model to %s", fn_args.serving_model_dir)
