"""The history affinity: a kernel density of items among a user's history, fitted after training."""
import numpy as np
import pytest
import tensorflow as tf

from bertrec import features as F
from trainer import affinity, score_terms

BANDWIDTH = 0.05


def _unit(rng, n, dim=8):
    x = rng.normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture
def catalogue():
    return _unit(np.random.RandomState(0), 50)


def _density(catalogue, histories, candidates=None):
    rows = tf.ragged.constant(histories, dtype=tf.int64, ragged_rank=1)
    history, mask = affinity.history_embeddings(tf.constant(catalogue), rows)
    candidates = tf.constant(catalogue if candidates is None else candidates)
    return affinity.kernel_density(affinity.similarities(history, candidates), mask, BANDWIDTH).numpy()


def test_items_like_the_history_score_higher_and_empty_histories_score_nothing(catalogue):
    history = np.array([1, 2, 3])
    density = _density(catalogue, [history, np.array([], dtype=np.int64)])
    others = np.setdiff1d(np.arange(50), history)
    # A history item is at cosine 1 from itself: log(1/3) plus the others' small terms.
    assert density[0, history] == pytest.approx(np.log(1 / 3), abs=0.05)
    assert density[0, history].min() > density[0, others].max()
    assert density[0].min() >= np.log(affinity.FLOOR) - 1e-4  # far items stay finite
    np.testing.assert_array_equal(density[1], 0.0)  # no history: every item alike


def test_padding_does_not_count_and_per_user_candidates_match_shared_ones(catalogue):
    short, long = np.array([4]), np.array([4, 5, 6, 7])
    shared = _density(catalogue, [short, long])
    alone = _density(catalogue, [short])
    np.testing.assert_allclose(shared[0], alone[0], rtol=1e-5)
    rows = np.array([[10, 11], [12, 4]])
    per_user = _density(catalogue, [short, long], catalogue[rows])
    np.testing.assert_allclose(per_user, np.take_along_axis(shared, rows, axis=1), rtol=1e-5)


def _histories(rng, n):
    return [rng.choice(50, size=5, replace=False) for _ in range(n)]


def _fit(catalogue, histories, targets, rng):
    """(the fitted term, its terms container, the fit summary) over random base scores."""
    term = affinity.HistoryAffinity()
    terms = score_terms.ScoreTerms([term], catalogue, np.full(len(catalogue), F.UNKNOWN_RELEASE), 256)
    summary = terms.fit(rng.normal(size=(len(targets), len(catalogue))).astype(np.float32), histories,
                        np.array(targets), np.zeros(len(targets), np.int64))
    return term, terms, summary


def test_fit_uses_the_affinity_when_users_pick_items_like_their_history(catalogue):
    rng = np.random.RandomState(1)
    histories = _histories(rng, 300)
    # Each user picks the item nearest their history (history items aside).
    targets = []
    for h in histories:
        nearest = (catalogue @ catalogue[h].T).max(axis=1)
        nearest[h] = -np.inf
        targets.append(int(nearest.argmax()))
    term, terms, summary = _fit(catalogue, histories, targets, rng)
    chosen, fit = summary["history_affinity"], summary["score_terms_fit"]
    assert chosen["scale"] > 0 and fit["log_likelihood"] > fit["log_likelihood_without"] + 1.0
    assert term.active and float(term.bandwidth.numpy()) == pytest.approx(chosen["bandwidth"])
    # Applied to requests, the fitted term is the scaled density at the chosen bandwidth.
    density = affinity.densities(catalogue, histories)[chosen["bandwidth"]]
    np.testing.assert_allclose(terms.apply(histories, np.zeros(len(targets), np.int64)), chosen["scale"] * density,
                               rtol=1e-4, atol=1e-4)


def test_fit_leaves_the_affinity_off_when_the_history_does_not_predict(catalogue):
    rng = np.random.RandomState(2)
    histories = _histories(rng, 300)
    targets = [rng.choice(np.setdiff1d(np.arange(50), h)) for h in histories]
    term, terms, summary = _fit(catalogue, histories, targets, rng)
    fit = summary["score_terms_fit"]
    assert summary["history_affinity"]["scale"] == 0.0 and fit["log_likelihood"] == fit["log_likelihood_without"]
    assert not term.active and not terms.active().terms
