"""The sequence query tower and the training-time catalogue cache."""
import numpy as np
import pytest
import tensorflow as tf

from bertrec import features as F
from bertrec.config import Config
from trainer import history
from trainer.catalogue_cache import CatalogueCache
from trainer.export import RecommenderServer
from trainer.inputs import HISTORY_EMBEDDINGS, HISTORY_INDEX, HISTORY_MASK
from trainer.model import Recommender
from trainer.schedule import WarmupLinearDecay
from trainer.sequence_tower import HistorySequenceEncoder
from trainer.task import plan_epochs

NUM_ITEMS = 12


def _catalogue(rng, length=10):
    tokens = np.zeros((NUM_ITEMS, length), dtype=np.int64)
    for i in range(NUM_ITEMS):
        n = rng.randint(3, length)
        tokens[i, :n] = np.concatenate([[101], rng.randint(2000, 3000, size=n - 2), [102]])
    return {"ids": np.array([f"i{i}".encode() for i in range(NUM_ITEMS)]), "tokens": tokens,
            # Vocabulary indices: items 0..9 seen in training, 10 and 11 cold (the OOV index 10).
            "vocab_index": np.minimum(np.arange(NUM_ITEMS), 10).astype(np.int64)}


def _model(**train):
    config = Config.from_dict({"model": {"encoder": "tiny", "query_sequence_length": 10, "item_sequence_length": 10,
                                         "sequence_items": 4}, "train": train})
    return config, Recommender(config, 6, np.ones(11))


def test_cached_frozen_states_give_the_uncached_candidate_embeddings():
    """Same model, same results: the item tower from cached frozen states
    equals the tower run on the tokens (and training reads those states)."""
    rng = np.random.RandomState(0)
    catalogue = _catalogue(rng)
    config, model = _model()
    cache = CatalogueCache(model, catalogue, config)
    assert cache.cached
    uncached = model.candidate_tower(tf.constant(catalogue["tokens"]), tf.constant(catalogue["vocab_index"]))
    np.testing.assert_allclose(cache.item_embeddings(), uncached.numpy(), atol=1e-5)
    batch = cache.add_inputs({F.ITEM_KEY: tf.constant([b"i3", b"i11"]), F.ITEM_INDEX: tf.constant([3, 10], tf.int64),
                              F.HISTORY_ITEM_IDS: tf.constant([b"i1 i2", b""]),
                              F.USER_INDEX: tf.constant([0, 5], tf.int64)})
    np.testing.assert_allclose(model.encode_candidate(batch).numpy(), uncached.numpy()[[3, 11]], atol=1e-5)
    plain_config, plain = _model(cache_frozen_layers=False)
    assert not CatalogueCache(plain, catalogue, plain_config).cached


def test_training_and_serving_read_a_history_the_same_way():
    """The training input pipeline and the exported model turn the same
    history string into the same sequence-tower inputs: unknown ids skipped,
    most recent first, cut at model.sequence_items."""
    rng = np.random.RandomState(1)
    catalogue = _catalogue(rng)
    config, model = _model()
    cache = CatalogueCache(model, catalogue, config)
    embeddings = cache.history_embeddings
    histories = tf.constant([b"i4 unknown i2 i9 i7 i1", b"i0", b"gone"])
    batch = cache.add_inputs({F.HISTORY_ITEM_IDS: histories, F.USER_INDEX: tf.constant([0, 1, 2], tf.int64)})
    expected_rows = [[4, 2, 9, 7], [0], []]
    mask = batch[HISTORY_MASK].numpy()
    assert mask.tolist() == [[1, 1, 1, 1], [1, 0, 0, 0], [0, 0, 0, 0]]
    for b, rows in enumerate(expected_rows):
        np.testing.assert_allclose(batch[HISTORY_EMBEDDINGS].numpy()[b, : len(rows)], embeddings[rows], atol=1e-6)
    catalogue.update({"titles": catalogue["ids"], "released": np.zeros(NUM_ITEMS, np.int64),
                      "embeddings": cache.item_embeddings(), "history_embeddings": embeddings,
                      "priors": np.zeros(NUM_ITEMS, np.float32)})
    server = RecommenderServer(model, None, catalogue, config)
    served = history.sequence_inputs(server._history_rows(histories), server.item_history_embeddings,
                                     server.item_vocab_index, config.model.sequence_items)
    np.testing.assert_allclose(served[0].numpy(), batch[HISTORY_EMBEDDINGS].numpy(), atol=1e-6)
    np.testing.assert_array_equal(served[1].numpy()[:2, :1], [[4], [0]])  # vocabulary indices
    np.testing.assert_array_equal(served[1].numpy(), batch[HISTORY_INDEX].numpy())
    np.testing.assert_array_equal(served[2].numpy(), mask)


def test_a_raw_log_with_repeats_reads_as_data_preparation_builds_a_history():
    """A client may send its raw log (repeats, ids the catalogue lacks): the graph
    keeps each item once, where it was most recent, as data preparation does
    for the training examples (bertrec.data.prepare.build_examples)."""
    rng = np.random.RandomState(5)
    catalogue = _catalogue(rng)
    table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
        tf.constant(catalogue["ids"]), tf.range(NUM_ITEMS, dtype=tf.int64)), default_value=-1)
    logs = [[f"i{i}" for i in rng.randint(NUM_ITEMS + 3, size=rng.randint(0, 15))] for _ in range(30)]
    rows = history.history_rows(table, tf.constant([" ".join(log) for log in logs])).to_list()
    for log, got in zip(logs, rows):
        expected = []
        for item in log:  # most recent first, as prepare walks the user's earlier events
            if int(item[1:]) < NUM_ITEMS and int(item[1:]) not in expected:
                expected.append(int(item[1:]))
        assert got == expected, (log, got)


def test_sequence_tower_starts_at_the_history_centroid_then_reads_order_and_ignores_padding():
    tower = HistorySequenceEncoder(dim=16, max_items=5, num_layers=1, num_heads=2, intermediate_dim=32, dropout=0.0)
    items = tf.math.l2_normalize(tf.random.stateless_normal([1, 3, 16], seed=[1, 2]), axis=-1)
    untrained = tower((items, tf.ones([1, 3], tf.int32))).numpy()
    centroid = tf.math.l2_normalize(tf.reduce_mean(items, axis=1), axis=-1).numpy()
    np.testing.assert_allclose(untrained, centroid, atol=1e-6)
    # As training would move them: recency weights and a correction from the blocks.
    tower.position_logit.embeddings.assign([[2.0], [1.0], [0.0], [0.0], [0.0]])
    tower.correction.kernel.assign(tf.random.stateless_normal([16, 16], seed=[5, 6]) * 0.1)
    padded = tf.concat([items, tf.random.stateless_normal([1, 2, 16], seed=[3, 4])], axis=1)
    short = tower((items, tf.ones([1, 3], tf.int32))).numpy()
    long = tower((padded, tf.constant([[1, 1, 1, 0, 0]]))).numpy()
    np.testing.assert_allclose(short, long, atol=1e-5)
    reversed_order = tower((items[:, ::-1], tf.ones([1, 3], tf.int32))).numpy()
    assert not np.allclose(short, reversed_order, atol=1e-3)  # positions matter
    assert np.linalg.norm(short) == pytest.approx(1.0, abs=1e-5)


def test_an_empty_history_leaves_the_query_to_the_prior():
    """No known history item: the sequence encoder's embedding is zero, so a
    user without an id embedding scores items by their prior alone."""
    tower = HistorySequenceEncoder(dim=16, max_items=5, num_layers=1, num_heads=2, intermediate_dim=32, dropout=0.0)
    empty = tower((tf.zeros([2, 0, 16]), tf.zeros([2, 0], tf.int32))).numpy()
    np.testing.assert_array_equal(empty, np.zeros((2, 16)))


def test_learning_rate_warms_up_then_decays_to_zero():
    schedule = WarmupLinearDecay(1e-3, warmup_steps=10, total_steps=110)
    rates = [float(schedule(step)) for step in (0, 4, 9, 60, 109, 200)]
    assert rates[0] == pytest.approx(1e-4) and rates[1] == pytest.approx(5e-4)
    assert rates[2] == pytest.approx(1e-3) and rates[3] == pytest.approx(0.5e-3, rel=0.02)
    assert rates[4] == pytest.approx(1e-5, rel=0.02) and rates[5] == 0.0


def test_epochs_follow_the_data_size():
    t = Config().train
    assert plan_epochs(36125, t) == (t.max_epochs, 565)  # ceil(36125 / 64)
    assert plan_epochs(100, t) == (t.max_epochs, 2)
    capped = Config.from_dict({"train": {"max_steps": 50, "max_epochs": 3}}).train
    assert plan_epochs(36125, capped) == (1, 50)
    assert plan_epochs(640, capped) == (3, 10)
