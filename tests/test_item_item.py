"""The item-item term: pruned EASE weights of the training log, scaled by a fit after training."""
import numpy as np
import pytest
import tensorflow as tf

from bertrec.evaluation.baselines import Ease, TrainingLog
from trainer import item_item, likelihood

NUM_ITEMS = 30


def _log(rng, users=200, per_user=8, items=NUM_ITEMS - 5):
    """Interactions (user, item) over the first ``items`` rows; the last 5 rows have none."""
    user_rows = np.repeat(np.arange(users), per_user)
    return user_rows, rng.randint(0, items, size=len(user_rows))


def _dense(columns, weights):
    matrix = np.zeros((len(columns), len(columns)), dtype=np.float32)
    for row in range(len(columns)):
        np.add.at(matrix[row], columns[row], weights[row])
    return matrix


def test_unpruned_weights_are_the_closed_form_ease_and_items_without_interactions_get_none():
    users, items = _log(np.random.RandomState(0))
    columns, weights = item_item.ease(users, items, NUM_ITEMS, l2=20.0, max_items=NUM_ITEMS, neighbours=NUM_ITEMS)
    assert columns.shape == (NUM_ITEMS, NUM_ITEMS - 5 - 1)  # every other item that takes part
    log = TrainingLog(users, items, np.zeros(len(items), np.int64), int(users.max()) + 1, NUM_ITEMS)
    reference = Ease(20.0).fit(log).weights
    np.testing.assert_allclose(_dense(columns, weights), reference, atol=1e-6)
    assert not weights[NUM_ITEMS - 5 :].any()


def test_pruning_keeps_each_items_strongest_weights_and_max_items_the_most_interacted():
    rng = np.random.RandomState(1)
    users, items = _log(rng)
    full = _dense(*item_item.ease(users, items, NUM_ITEMS, 20.0, NUM_ITEMS, NUM_ITEMS))
    columns, weights = item_item.ease(users, items, NUM_ITEMS, 20.0, NUM_ITEMS, neighbours=3)
    for row in range(NUM_ITEMS - 5):
        np.testing.assert_allclose(np.sort(weights[row]), np.sort(full[row])[-3:], rtol=1e-6)
        assert row not in columns[row]
    # Item 0 drawn far more often: with room for 4 items it takes part, rare ones do not.
    items = np.where(rng.rand(len(items)) < 0.3, 0, items)
    counts = np.bincount(items, minlength=NUM_ITEMS)
    columns, weights = item_item.ease(users, items, NUM_ITEMS, 20.0, max_items=4, neighbours=10)
    kept = np.argsort(-counts, kind="stable")[:4]
    assert columns.shape[1] == 3 and 0 in kept
    assert set(np.flatnonzero(weights.any(axis=1))) <= set(kept)
    assert set(columns[kept].ravel()) <= set(kept)


def test_scores_sum_the_weights_of_the_distinct_history_items_and_survive_saving(tmp_path):
    users, items = _log(np.random.RandomState(2))
    columns, weights = item_item.ease(users, items, NUM_ITEMS, 20.0, NUM_ITEMS, neighbours=5)
    dense = _dense(columns, weights)
    histories = [np.array([3, 7, 3]), np.array([], dtype=np.int64), np.array([28])]
    scores = item_item.scores(columns, weights, histories)
    np.testing.assert_allclose(scores[0], dense[3] + dense[7], rtol=1e-6)  # item 3 counted once
    assert not scores[1].any() and not scores[2].any()  # no history; an item without interactions

    module = tf.Module()
    module.term = item_item.ItemItem(columns, weights, scale=2.0)
    module.score = tf.function(
        lambda rows, lengths: module.term(tf.RaggedTensor.from_row_lengths(rows, lengths)),
        input_signature=[tf.TensorSpec([None], tf.int64), tf.TensorSpec([None], tf.int64)],
    )
    tf.saved_model.save(module, str(tmp_path))
    loaded = tf.saved_model.load(str(tmp_path))
    out = loaded.score(tf.constant([3, 7, 3, 28], tf.int64), tf.constant([3, 0, 1], tf.int64)).numpy()
    np.testing.assert_allclose(out, 2.0 * scores, rtol=1e-6)


def _fit(rng, targets_for):
    users, items = _log(rng)
    columns, weights = item_item.ease(users, items, NUM_ITEMS, 20.0, NUM_ITEMS, NUM_ITEMS)
    histories = [rng.choice(NUM_ITEMS - 5, size=4, replace=False) for _ in range(300)]
    unscaled = item_item.scores(columns, weights, histories)
    targets = np.array([targets_for(h, unscaled[b]) for b, h in enumerate(histories)])
    excluded = likelihood.excluded_rows(NUM_ITEMS, histories, targets)
    return item_item.fit(unscaled, rng.normal(size=(300, NUM_ITEMS)).astype(np.float32), excluded, targets), unscaled


def test_fit_uses_the_term_when_users_pick_what_it_predicts():
    def best_unseen(history, row):
        row = row.copy()
        row[history] = -np.inf
        return int(row.argmax())

    fit, unscaled = _fit(np.random.RandomState(3), best_unseen)
    assert fit.scale > 0 and fit.log_likelihood > fit.baseline_log_likelihood + 0.5
    np.testing.assert_allclose(fit.term, fit.scale * unscaled)


def test_fit_leaves_the_term_off_when_it_does_not_predict():
    rng = np.random.RandomState(4)
    fit, _ = _fit(rng, lambda history, row: int(rng.choice(np.setdiff1d(np.arange(NUM_ITEMS), history))))
    assert fit.scale == 0.0 and fit.log_likelihood == fit.baseline_log_likelihood and not fit.term.any()


@pytest.mark.parametrize("neighbours", [1, 100])
def test_too_few_items_for_neighbours_gives_no_weights_not_an_error(neighbours):
    columns, weights = item_item.ease(np.array([0, 1]), np.array([4, 4]), 6, 10.0, 10, neighbours)
    assert columns.shape == (6, 0) and weights.shape == (6, 0)
    assert not item_item.scores(columns, weights, [np.array([4])]).any()
