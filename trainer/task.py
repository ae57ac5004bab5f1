"""The Trainer component's module: ``run_fn`` (TFX's generic trainer entry point).

Trains the recommender under MirroredStrategy, logs to TensorBoard in the
Trainer's run directory, embeds the whole catalogue with the trained candidate
tower, fits the score terms (history affinity, freshness, item-item) on
training examples drawn like the held-out ones and exports the self-contained
serving model (see ``trainer/export.py``).

The catalogue arrives as the ``catalogue`` split of the transformed examples
(an artifact recorded in ML Metadata): the pipeline asks the Trainer for it
through ``eval_args.splits``, after the eval split.
"""
from __future__ import annotations

import time

import bertrec  # noqa: F401  (Keras 2 before TensorFlow)
import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs
import tensorflow_transform as tft
from absl import logging
from tfx.components.trainer.fn_args_utils import FnArgs

from bertrec import features as F
from bertrec.config import Config
from trainer import affinity, distribution, export, freshness, inputs, item_item, likelihood, priors
from trainer.model import Recommender
from transforms.preprocessing import NUM_OOV_BUCKETS


def _split_pattern(patterns, split: str) -> str:
    """The file pattern of ``split`` among TFX's ``Split-<name>`` folders."""
    matches = [p for p in patterns if f"Split-{split}/" in p]
    if len(matches) != 1:
        raise ValueError(f"expected one file pattern for split {split!r} among {patterns}")
    return matches[0]


def read_catalogue(dataset: tf.data.Dataset) -> dict:
    """The transformed catalogue split as numpy: ids, titles, vocabulary indices,
    tokens, release times (0: unknown)."""
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


def embed(tower, tokens: np.ndarray, vocab_index: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """A tower's embeddings of tokens [N, length] and vocabulary indices [N] -> [N, dim]."""
    # One traced graph for all batches: calling the tower eagerly is many times slower.
    encode = tf.function(lambda t, i: tower(t, i, training=False))
    return np.concatenate([
        encode(tf.constant(tokens[i : i + batch_size]), tf.constant(vocab_index[i : i + batch_size])).numpy()
        for i in range(0, len(tokens), batch_size)
    ]).astype(np.float32)


def make_optimizer(model: Recommender, t) -> tf.keras.optimizers.Optimizer:
    """Adam for the network; Adagrad for each id embedding, the TFRS recipe for
    embeddings (a row only learns in the batches its id is in, where Adam's small
    steps would leave it near its start). Its learning rate is
    ``train.id_learning_rate / sqrt(embedding size)``, so a step moves a row by
    about ``id_learning_rate`` whatever its size."""
    groups = [
        (tf.keras.optimizers.legacy.Adagrad(learning_rate=t.id_learning_rate / np.sqrt(layer.output_dim)),
         lambda layer=layer: layer.trainable_weights)
        for layer in model.id_embeddings()
    ]
    groups.append((tf.keras.optimizers.legacy.Adam(learning_rate=t.learning_rate), model.dense_variables))
    return tfrs.experimental.optimizers.CompositeOptimizer(groups)


#: Rounds of fitting each score term given the others (two settle them).
FIT_ROUNDS = 2


def fit_sample(timestamps: np.ndarray, config: Config) -> np.ndarray:
    """Positions (sorted) of the ``train.affinity_fit_examples`` training examples
    the score terms are fitted on, drawn like the held-out ones: the most recent
    for a time split (the future comes next), a seeded random sample for a random split."""
    count = min(config.train.affinity_fit_examples, len(timestamps))
    if config.data.split == "time":
        chosen = np.argsort(timestamps, kind="stable")[len(timestamps) - count :]
    else:
        chosen = np.random.RandomState(config.train.seed).choice(len(timestamps), size=count, replace=False)
    return np.sort(chosen)


def interaction_rows(log: dict, catalogue: dict, num_items: int) -> tuple:
    """(user vocabulary indices, catalogue rows) of the training interactions in
    ``log``; ``num_items``: the item vocabulary's size, out-of-vocabulary buckets included."""
    row = np.full(num_items, -1)
    row[catalogue["vocab_index"]] = np.arange(len(catalogue["vocab_index"]))
    items = row[log[F.ITEM_INDEX]]
    if (items < 0).any():
        raise ValueError(f"{int((items < 0).sum())} training interactions name items missing from the catalogue split")
    return log[F.USER_INDEX], items


def item_item_weights(users: np.ndarray, items: np.ndarray, config: Config, num_items: int):
    """Pruned EASE weights (``trainer.item_item.ease``) of interactions (users, catalogue rows)."""
    m = config.model
    return item_item.ease(users, items, num_items, m.item_item_l2, m.item_item_max_items, m.item_item_neighbours)


def fit_score_terms(model: Recommender, catalogue: dict, examples: dict, config: Config,
                    item_item_fit_weights=None) -> dict:
    """Fits the enabled score terms (history affinity, freshness, item-item), each
    given the others, on ``examples`` (transformed feature columns of the
    ``fit_sample`` rows) against the embedded catalogue; the item-item term uses
    ``item_item_fit_weights`` (columns, weights), learnt without the fit examples.
    Returns what was chosen, for the training summary."""
    row = {item: r for r, item in enumerate(catalogue["ids"])}
    separator = F.HISTORY_ID_SEPARATOR.encode()
    histories = [
        np.array([row[i] for i in ids.split(separator) if i in row], dtype=np.int64)
        for ids in examples[F.HISTORY_ITEM_IDS]
    ]
    targets = np.array([row[i] for i in examples[F.ITEM_KEY]])
    excluded = likelihood.excluded_rows(len(row), histories, targets)
    query = embed(model.query_tower, examples[F.QUERY_TOKENS], examples[F.USER_INDEX])
    scores = model.retrieval_scores(query, catalogue["embeddings"], catalogue["priors"]).numpy()

    # name -> fit(the other terms' scores) -> (term [M, N], summary entry)
    fitters = {}
    if config.model.history_affinity:
        density = affinity.densities(catalogue["embeddings"], histories)

        def fit_affinity(others):
            fit = affinity.fit(model.history_affinity, others, density, excluded, targets)
            return fit.term, {"scale": fit.scale, "bandwidth": fit.bandwidth}

        fitters["history_affinity"] = fit_affinity
    if config.model.freshness:
        def fit_freshness(others):
            fit = freshness.fit(model.freshness, others, examples[F.TIMESTAMP], catalogue["released"], excluded, targets)
            return fit.term, {"bias": fit.bias}

        fitters["freshness"] = fit_freshness
    if item_item_fit_weights is not None:
        unscaled = item_item.scores(*item_item_fit_weights, histories)

        def fit_item_item(others):
            fit = item_item.fit(unscaled, others, excluded, targets)
            return fit.term, {"scale": fit.scale}

        fitters["item_item"] = fit_item_item
    terms = {name: 0.0 for name in fitters}
    summary = {}
    # Each term is fitted given the others; with one term, one round settles it.
    for _ in range(FIT_ROUNDS if len(fitters) > 1 else 1):
        for name, fit in fitters.items():
            terms[name], summary[name] = fit(scores + sum(v for other, v in terms.items() if other != name))
    summary["score_terms_fit"] = {
        "examples": len(targets),
        "log_likelihood_without": round(likelihood.mean_log_likelihood(scores, excluded, targets), 4),
        "log_likelihood": round(likelihood.mean_log_likelihood(scores + sum(terms.values()), excluded, targets), 4),
    }
    return summary


#: Config sections the Trainer reads; only these are its custom_config, so that
#: e.g. a changed work directory does not re-train.
TRAINER_SECTIONS = ("data", "model", "train", "serve", "evaluate")


def trainer_config(config: Config) -> dict:
    """The part of the config the Trainer uses (its custom_config)."""
    return {name: value for name, value in config.to_dict().items() if name in TRAINER_SECTIONS}


def run_fn(fn_args: FnArgs) -> None:
    """Trains, embeds the catalogue and exports the serving model."""
    config = Config.from_dict(fn_args.custom_config, source="Trainer custom_config")
    t = config.train
    tf.keras.utils.set_random_seed(t.seed)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    num_users = tf_transform_output.vocabulary_size_by_name(F.USER_VOCAB) + NUM_OOV_BUCKETS
    num_items = tf_transform_output.vocabulary_size_by_name(F.ITEM_VOCAB) + NUM_OOV_BUCKETS

    def dataset(pattern, **kwargs):
        return inputs.transformed_dataset([pattern], fn_args.data_accessor, tf_transform_output, **kwargs)

    train_ds = dataset(fn_args.train_files[0], batch_size=t.batch_size, shuffle=True, seed=t.seed)
    eval_ds = dataset(_split_pattern(fn_args.eval_files, F.EVAL_SPLIT), batch_size=t.batch_size, shuffle=False)

    log = inputs.read_features(
        fn_args.train_files, fn_args.data_accessor, tf_transform_output, [F.USER_INDEX, F.ITEM_INDEX, F.TIMESTAMP]
    )
    item_counts = np.bincount(log[F.ITEM_INDEX], minlength=num_items)[:num_items]
    catalogue = read_catalogue(
        dataset(_split_pattern(fn_args.eval_files, F.CATALOGUE_SPLIT), batch_size=256, shuffle=False, num_epochs=1)
    )
    # Freshness ages items by their release times, new releases included:
    # with it, the new-item prior would boost them twice.
    ages_known = config.model.freshness and bool((catalogue["released"] > 0).any())
    unseen_item_prior = 0.0
    if config.model.new_item_prior and config.data.split == "time" and not ages_known:
        unseen_item_prior = priors.new_item_boost(log[F.ITEM_INDEX], log[F.TIMESTAMP], config.data.eval_fraction)
    logging.info("bertrec: %d training interactions over %d items; unseen items' prior %+.2f%s",
                 len(log[F.ITEM_INDEX]), int((item_counts > 0).sum()), unseen_item_prior,
                 " (freshness covers new releases)" if ages_known else "")
    strategy = distribution.make_strategy()
    logging.info("bertrec: training on %d replica(s): %s", strategy.num_replicas_in_sync, strategy.extended.worker_devices)
    with strategy.scope():
        model = Recommender(config, num_users, item_counts, unseen_item_prior)
        model.compile(optimizer=make_optimizer(model, t))
    epochs = max(1, min(t.epochs, t.train_steps))
    steps_per_epoch = max(1, t.train_steps // epochs)
    start = time.time()
    model.fit(
        train_ds,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        validation_data=eval_ds,
        validation_steps=t.validation_steps,
        callbacks=[tf.keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir, update_freq="epoch")],
        verbose=2,
    )
    summary = {
        "steps": epochs * steps_per_epoch,
        "batch_size": t.batch_size,
        "replicas": strategy.num_replicas_in_sync,
        "train_seconds": round(time.time() - start, 1),
        "unseen_item_prior": round(unseen_item_prior, 4),
        "trainable_parameters": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
        "total_parameters": int(sum(np.prod(w.shape) for w in model.weights)),
    }
    logging.info("bertrec: trained %d steps in %.1fs (%d of %d parameters trainable)", summary["steps"],
                 summary["train_seconds"], summary["trainable_parameters"], summary["total_parameters"])

    start = time.time()
    catalogue["embeddings"] = embed(model.candidate_tower, catalogue["tokens"], catalogue["vocab_index"])
    catalogue["priors"] = model.item_prior(catalogue["embeddings"], catalogue["vocab_index"]).numpy()
    logging.info("bertrec: embedded %d catalogue items in %.1fs", len(catalogue["ids"]), time.time() - start)
    m = config.model
    item_item_term = None
    if m.history_affinity or m.freshness or m.item_item:
        start = time.time()
        # Wide columns (query tokens, whole histories) for the fit sample only.
        sample = fit_sample(log[F.TIMESTAMP], config)
        examples = inputs.read_features(
            fn_args.train_files, fn_args.data_accessor, tf_transform_output,
            [F.ITEM_KEY, F.USER_INDEX, F.QUERY_TOKENS, F.HISTORY_ITEM_IDS], rows=sample,
        )
        examples[F.TIMESTAMP] = log[F.TIMESTAMP][sample]
        fit_weights = None
        if m.item_item:
            users, items = interaction_rows(log, catalogue, num_items)
            others = np.ones(len(items), dtype=bool)
            others[sample] = False
            fit_weights = item_item_weights(users[others], items[others], config, len(catalogue["ids"]))
        summary.update(fit_score_terms(model, catalogue, examples, config, fit_weights))
        if summary.get("item_item", {}).get("scale"):
            item_item_term = item_item.ItemItem(
                *item_item_weights(users, items, config, len(catalogue["ids"])), scale=summary["item_item"]["scale"]
            )
        summary["score_terms_fit"]["seconds"] = round(time.time() - start, 1)
        logging.info("bertrec: score terms fitted: %s", summary)
    server = export.RecommenderServer(model, tf_transform_output.transform_features_layer(), catalogue, config,
                                      item_item_term)
    export.export(server, fn_args.serving_model_dir, config, summary)
    logging.info("bertrec: exported the serving model to %s", fn_args.serving_model_dir)
