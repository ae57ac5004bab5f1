"""The item-item term: pruned EASE weights of the training log, scaled by a fit after training."""
import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from bertrec import features as F
from bertrec.config import ModelConfig
from bertrec.evaluation.baselines import Ease, TrainingLog
from trainer import item_item, score_terms

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

    term = item_item.ItemItem(columns, weights, scale=2.0)
    module = tf.Module()
    module.term = term
    module.score = tf.function(
        lambda rows, lengths: term.scores(term.prepare(score_terms.Requests(
            tf.RaggedTensor.from_row_lengths(rows, lengths), tf.zeros([3], tf.int64), None, None))),
        input_signature=[tf.TensorSpec([None], tf.int64), tf.TensorSpec([None], tf.int64)],
    )
    tf.saved_model.save(module, str(tmp_path))
    loaded = tf.saved_model.load(str(tmp_path))
    out = loaded.score(tf.constant([3, 7, 3, 28], tf.int64), tf.constant([3, 0, 1], tf.int64)).numpy()
    np.testing.assert_allclose(out, 2.0 * scores, rtol=1e-6)


def _fit(rng, targets_for, l2_grid=(20.0,)):
    """(the term fitted on 300 examples over random base scores, the fit summary,
    the unscaled scores at l2 20, the terms container)."""
    users, items = _log(rng)
    config = dataclasses.replace(ModelConfig(), item_item_l2_grid=list(l2_grid), item_item_max_items=NUM_ITEMS,
                                 item_item_neighbours=NUM_ITEMS)
    term = item_item.ItemItem.from_log(users, items, NUM_ITEMS, config)
    histories = [rng.choice(NUM_ITEMS - 5, size=4, replace=False) for _ in range(300)]
    unscaled = item_item.scores(*item_item.ease(users, items, NUM_ITEMS, 20.0, NUM_ITEMS, NUM_ITEMS), histories)
    targets = np.array([targets_for(h, unscaled[b]) for b, h in enumerate(histories)])
    terms = score_terms.ScoreTerms([term], None, np.full(NUM_ITEMS, F.UNKNOWN_RELEASE), 256)
    summary = terms.fit(rng.normal(size=(300, NUM_ITEMS)).astype(np.float32), histories, targets,
                        np.zeros(300, np.int64))
    return term, summary, unscaled, (terms, histories)


def _best_unseen(history, row):
    row = row.copy()
    row[history] = -np.inf
    return int(row.argmax())


def test_fit_uses_the_term_when_users_pick_what_it_predicts():
    term, summary, unscaled, (terms, histories) = _fit(np.random.RandomState(3), _best_unseen)
    chosen, fit = summary["item_item"], summary["score_terms_fit"]
    assert chosen["scale"] > 0 and chosen["l2"] == 20.0 and term.active
    assert fit["log_likelihood"] > fit["log_likelihood_without"] + 0.5
    np.testing.assert_allclose(terms.apply(histories, np.zeros(300, np.int64)), chosen["scale"] * unscaled,
                               rtol=1e-5, atol=1e-6)


def test_fit_chooses_the_ridge_that_predicts_best():
    # Users pick what EASE at ridge 20 predicts; a far stronger ridge predicts it less well.
    _, summary, _, _ = _fit(np.random.RandomState(3), _best_unseen, l2_grid=(20.0, 5000.0))
    assert summary["item_item"]["l2"] == 20.0


def test_fit_leaves_the_term_off_when_it_predicts_wrongly():
    def worst_unseen(history, row):
        row = row.copy()
        row[history] = np.inf
        return int(row.argmin())

    term, summary, _, (terms, histories) = _fit(np.random.RandomState(4), worst_unseen)
    fit = summary["score_terms_fit"]
    assert summary["item_item"]["scale"] == 0.0 and fit["log_likelihood"] == fit["log_likelihood_without"]
    assert not term.active and not terms.active().terms


@pytest.mark.parametrize("neighbours", [1, 100])
def test_too_few_items_for_neighbours_gives_no_weights_not_an_error(neighbours):
    columns, weights = item_item.ease(np.array([0, 1]), np.array([4, 4]), 6, 10.0, 10, neighbours)
    assert columns.shape == (6, 0) and weights.shape == (6, 0)
    assert not item_item.scores(columns, weights, [np.array([4])]).any()
