"""Fitting the score terms together, and applying the fitted terms to new examples."""
import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from bertrec import features as F
from bertrec.config import Config
from trainer import score_terms

DAY = 86_400
NOW = 2_000 * DAY


def _world(seed=0, items=60, examples=300):
    """Items in two clusters; each user takes items near their history, and new releases more often."""
    rng = np.random.RandomState(seed)
    centres = rng.normal(size=(2, 8))
    cluster = rng.randint(2, size=items)
    embeddings = centres[cluster] + 0.3 * rng.normal(size=(items, 8))
    embeddings = (embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)).astype(np.float32)
    released = (NOW - rng.uniform(0, 300, size=items) * DAY).astype(np.int64)
    released[:5] = F.UNKNOWN_RELEASE
    histories, targets = [], []
    for _ in range(examples):
        c = rng.randint(2)
        members = np.flatnonzero(cluster == c)
        history = rng.choice(members, size=4, replace=False)
        rest = np.setdiff1d(members, history)
        age = (NOW - released[rest]) / DAY
        weight = np.where(released[rest] == F.UNKNOWN_RELEASE, 1.0, np.where(age < 30, 3.0, 1.0))
        histories.append(history.astype(np.int64))
        targets.append(rest[rng.choice(len(rest), p=weight / weight.sum())])
    users = np.repeat(np.arange(40), 6)
    log_items = np.concatenate([rng.choice(np.flatnonzero(cluster == u % 2), size=6, replace=False) for u in range(40)])
    return embeddings, released, histories, np.array(targets), (users, log_items)


def _config(**model):
    config = Config()
    config.model = dataclasses.replace(config.model, item_item_l2_grid=[10.0], item_item_neighbours=20, **model)
    return config


def test_apply_reproduces_the_fitted_terms_and_fitting_raises_the_likelihood():
    embeddings, released, histories, targets, log = _world()
    times = np.full(len(targets), NOW, dtype=np.int64)
    base = np.zeros((len(targets), len(embeddings)), dtype=np.float32)
    terms = score_terms.build(_config(), embeddings, released, log)
    assert [t.name for t in terms.terms] == ["history_affinity", "freshness", "item_item"]
    summary = terms.fit(base, histories, targets, times)
    fit = summary["score_terms_fit"]
    assert fit["log_likelihood"] > fit["log_likelihood_without"] + 0.1, fit
    # The users choose within their cluster and new releases: both terms take a positive weight.
    assert summary["history_affinity"]["scale"] > 0
    assert summary["freshness"]["bias"]["0-7d"] > summary["freshness"]["bias"]["90-365d"]
    # The terms as applied to requests give the likelihood the fit reported.
    from trainer import likelihood

    applied = terms.apply(histories, times, batch_size=64)
    excluded = likelihood.excluded_rows(len(embeddings), histories, targets)
    assert likelihood.mean_log_likelihood(applied, excluded, targets) == pytest.approx(fit["log_likelihood"], abs=1e-3)


def test_the_ranking_stage_gets_the_retrieval_stages_terms_for_its_rows():
    embeddings, released, histories, targets, log = _world(seed=2)
    times = np.full(len(targets), NOW, dtype=np.int64)
    terms = score_terms.build(_config(), embeddings, released, log)
    terms.fit(np.zeros((len(targets), len(embeddings)), np.float32), histories, targets, times)
    rows = tf.ragged.constant([h for h in histories[:8]], dtype=tf.int64)
    states = terms.prepare(rows, tf.constant(times[:8]))
    candidates = tf.constant(np.random.RandomState(0).randint(len(embeddings), size=(8, 5)), tf.int64)
    np.testing.assert_allclose(terms.scores(states, candidates).numpy(),
                               np.take_along_axis(terms.scores(states).numpy(), candidates.numpy(), axis=1), rtol=1e-6)


def test_only_the_terms_given_their_inputs_are_built():
    embeddings, released, histories, targets, _ = _world(seed=1)
    # No item embeddings (no affinity), no training log (no item-item), no release time known (no freshness).
    assert not score_terms.build(_config(), None, np.full(len(released), F.UNKNOWN_RELEASE), None).terms
    terms = score_terms.build(_config(item_item=False), None, released, None)
    assert [t.name for t in terms.terms] == ["freshness"]
    summary = terms.fit(np.zeros((len(targets), len(embeddings)), np.float32), histories, targets,
                        np.full(len(targets), NOW))
    assert set(summary) == {"freshness", "score_terms_fit"}
    empty = score_terms.build(_config(), None, np.full(len(released), F.UNKNOWN_RELEASE), None)
    applied = empty.apply(histories, np.full(len(targets), NOW))
    assert applied.shape == (len(targets), len(embeddings)) and not applied.any()
