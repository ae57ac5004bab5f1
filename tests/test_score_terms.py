"""Fitting the score terms together, and applying the fitted terms to new examples."""
import numpy as np

from bertrec import features as F
from trainer import affinity, freshness, item_item, score_terms

DAY = freshness.DAY
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
    ease = item_item.ease(users, log_items, items, l2=10.0, max_items=items, neighbours=20)
    return embeddings, released, histories, np.array(targets), ease


def test_apply_reproduces_the_fitted_terms_and_fitting_raises_the_likelihood():
    embeddings, released, histories, targets, ease = _world()
    times = np.full(len(targets), NOW, dtype=np.int64)
    base = np.zeros((len(targets), len(embeddings)), dtype=np.float32)
    layers = {"affinity_layer": affinity.HistoryAffinity(), "freshness_layer": freshness.Freshness()}
    terms, summary = score_terms.fit(base, histories, targets, embeddings=embeddings, request_times=times,
                                     released=released, ease_weights=ease, **layers)
    assert set(terms) == {"history_affinity", "freshness", "item_item"}
    fit = summary["score_terms_fit"]
    assert fit["log_likelihood"] > fit["log_likelihood_without"] + 0.1, fit
    # The users choose within their cluster and new releases: both terms take a positive weight.
    assert summary["history_affinity"]["scale"] > 0
    assert summary["freshness"]["bias"]["0-7d"] > summary["freshness"]["bias"]["90-365d"]
    applied = score_terms.apply(histories, len(embeddings), embeddings=embeddings, request_times=times,
                                released=released, ease_weights=ease, item_item_scale=summary["item_item"]["scale"],
                                batch_size=64, **layers)
    np.testing.assert_allclose(applied, sum(terms.values()), atol=1e-4)


def test_only_the_terms_given_their_inputs_are_fitted():
    embeddings, released, histories, targets, _ = _world(seed=1)
    base = np.zeros((len(targets), len(embeddings)), dtype=np.float32)
    terms, summary = score_terms.fit(base, histories, targets, freshness_layer=freshness.Freshness(),
                                     request_times=np.full(len(targets), NOW), released=released)
    assert set(terms) == {"freshness"} and "history_affinity" not in summary
    assert score_terms.apply(histories, len(embeddings)).shape == base.shape
    assert not score_terms.apply(histories, len(embeddings)).any()
