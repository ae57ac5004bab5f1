"""The re-ranking stage: features of retrieved candidates, fitted listwise on validation lists."""
import numpy as np
import pytest
import tensorflow as tf

from trainer import reranker

NAMES = reranker.feature_names(["item_item"])


def _unit(rng, *shape):
    x = rng.normal(size=shape).astype(np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_features_relate_each_candidate_to_the_history_and_ignore_padding():
    rng = np.random.RandomState(0)
    candidates, history = _unit(rng, 2, 3, 8), _unit(rng, 2, 4, 8)
    mask = np.array([[True, True, True, False], [False] * 4])
    retrieval, head, prior, term = (rng.normal(size=(2, 3)).astype(np.float32) for _ in range(4))
    values = reranker.features(tf.constant(retrieval), tf.constant(head), tf.constant(prior), [tf.constant(term)],
                               tf.constant(candidates), tf.constant(history), tf.constant(mask)).numpy()
    assert values.shape == (2, 3, len(NAMES))
    column = {name: values[..., i] for i, name in enumerate(NAMES)}
    cosines = np.einsum("kd,hd->kh", candidates[0], history[0, :3])  # the padded fourth entry left out
    np.testing.assert_allclose(column["cosine_last"][0], cosines[:, 0], atol=1e-6)
    np.testing.assert_allclose(column["cosine_max"][0], cosines.max(axis=1), atol=1e-6)
    np.testing.assert_allclose(column["cosine_mean"][0], cosines.mean(axis=1), atol=1e-6)
    np.testing.assert_allclose(column["log_recent_items"][0], np.log1p(3), atol=1e-6)
    # No history: nothing to relate to.
    for name in ("cosine_last", "cosine_max", "cosine_mean", "log_recent_items"):
        np.testing.assert_array_equal(column[name][1], 0.0)
    np.testing.assert_allclose(column["retrieval_score"], retrieval)
    np.testing.assert_allclose(column["term_item_item"], term)


def _lists(rng, count, k=20, signal=True):
    """Retrieved lists of ``count`` users where the ranking stage's scores are
    noise and, with ``signal``, the target is the candidate closest to the last
    history item."""
    values = rng.normal(size=(count, k, len(NAMES))).astype(np.float32)
    positions = rng.randint(k, size=count)
    if signal:
        values[np.arange(count), positions, NAMES.index("cosine_last")] += 3.0
    positions[: count // 10] = -1  # retrieval missed these targets
    return reranker.Lists(values, positions, np.arange(count))


def test_fit_learns_what_retrieval_cannot_see_and_keeps_the_stage():
    rng = np.random.RandomState(1)
    model = reranker.Reranker(len(NAMES), [16])
    summary = reranker.fit(model, _lists(rng, 800), _lists(rng, 400), 3e-3, 50)
    gate = summary["gate_ndcg@10"]
    assert summary["kept"] and gate["reranked"] > gate["without_reranker"] + 0.2, summary
    assert summary["train_lists"] == 720  # lists without their target teach nothing
    assert summary["stop_lists"] + summary["gate_lists"] == 400


def test_fit_does_not_keep_a_stage_whose_features_do_not_predict():
    rng = np.random.RandomState(2)
    model = reranker.Reranker(len(NAMES), [16])
    summary = reranker.fit(model, _lists(rng, 800, signal=False), _lists(rng, 400, signal=False), 3e-3, 50)
    assert not summary["kept"], summary


def test_the_fallback_stage_is_the_ranking_head_plus_the_score_terms():
    lists = _lists(np.random.RandomState(3), 5)
    expected = lists.features[..., NAMES.index("ranking_head")] + lists.features[..., NAMES.index("term_item_item")]
    np.testing.assert_allclose(lists.fallback_logits(), expected)


def test_an_untrained_reranker_keeps_retrievals_order():
    lists = _lists(np.random.RandomState(3), 10)
    model = reranker.Reranker(len(NAMES), [8, 4])
    np.testing.assert_allclose(model(tf.constant(lists.features)).numpy(), lists.features[..., 0])


@pytest.mark.parametrize("count, expected_holdout", [(3000, 1000), (5000, 2000), (300, 60)])
def test_the_holdout_is_disjoint_from_what_the_reranker_trains_on(count, expected_holdout):
    fit_rows = np.sort(np.random.RandomState(4).choice(count, size=min(count, 2000), replace=False))
    train, holdout = reranker.holdout_rows(count, fit_rows, minimum=200, maximum=2000, seed=0)
    assert len(holdout) == expected_holdout and not np.intersect1d(train, holdout).size
    assert set(train) <= set(fit_rows)
