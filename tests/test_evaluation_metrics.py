"""Offline metrics, on cases small enough to check by hand."""
import numpy as np
import pytest

from bertrec.evaluation.metrics import UNRANKED, metric_names, paired_bootstrap, per_example, summarize, target_ranks


def test_ranks_exclude_seen_items_and_ties_count_against_the_target():
    scores = np.array([[0.9, 0.8, 0.1, 0.5], [1.0, 1.0, 1.0, 1.0]])
    # Row 0: item 0 is excluded (seen), so target 1 ranks first. Row 1: all tied -> last.
    ranks = target_ranks(scores, np.array([1, 2]), [[0], []])
    assert ranks.tolist() == [0, 3]
    with pytest.raises(ValueError, match="target item 1 is among its excluded"):
        target_ranks(scores, np.array([1, 2]), [[1], []])


def test_a_nan_score_is_never_a_hit():
    nan = np.nan
    scores = np.array([
        [nan, 1.0, 0.5, 0.2],  # NaN target: last of the 4
        [nan, nan, nan, nan],  # all NaN: last, not first by an accident of comparison
        [nan, 0.2, nan, 0.1],  # NaNs elsewhere do not rank ahead of the target
        [nan, 1.0, 0.5, 0.2],  # NaN target with item 1 excluded: last of the 3 left
    ])
    ranks = target_ranks(scores, np.array([0, 0, 1, 0]), [[], [], [], [1]])
    # A NaN target is a miss at every cut-off, even one as large as the catalogue.
    assert ranks.tolist() == [UNRANKED, UNRANKED, 0, UNRANKED]
    assert summarize(ranks, ks=(1, 4))["recall@4"] == 0.25


def test_summary_metrics():
    m = summarize(np.array([0, 1, 9, 10, 99]), ks=(1, 10), ndcg_k=10)
    assert m["recall@1"] == pytest.approx(1 / 5) and m["recall@10"] == pytest.approx(3 / 5)
    assert m["ndcg@10"] == pytest.approx((1 + 1 / np.log2(3) + 1 / np.log2(11)) / 5)
    assert m["mrr@100"] == pytest.approx((1 + 1 / 2 + 1 / 10 + 1 / 11 + 1 / 100) / 5)
    assert m["count"] == 5
    assert list(m) == metric_names(ks=(1, 10)) + ["count"]


def test_mrr_counts_a_target_past_the_cutoff_as_a_miss():
    m = summarize(np.array([0, 4, 5, 1000]), ks=(10,), mrr_k=5)
    assert "mrr" not in m and m["mrr@5"] == pytest.approx((1 + 1 / 5) / 4)
    assert metric_names(ks=(10,), mrr_k=5) == ["recall@10", "ndcg@10", "mrr@5"]
    assert np.isnan(summarize(np.array([]), ks=(10,))["mrr@100"])


def test_per_example_values():
    ranks = np.array([0, 2, 10])
    np.testing.assert_allclose(per_example(ranks, "recall@3"), [1, 1, 0])
    np.testing.assert_allclose(per_example(ranks, "ndcg@10"), [1, 0.5, 0])
    np.testing.assert_allclose(per_example(ranks, "mrr@11"), [1, 1 / 3, 1 / 11])
    with pytest.raises(ValueError, match="unknown metric"):
        per_example(ranks, "mrr")


def test_paired_bootstrap_finds_a_clear_difference_and_not_an_absent_one():
    rng = np.random.default_rng(1)
    n = 2000
    # Paired hits: b hits on 30% of examples, a on those and another 30%; true difference 0.3.
    u = rng.random(n)
    a, b = (u < 0.6).astype(float), (u < 0.3).astype(float)
    diff, low, high = paired_bootstrap(a, b, samples=1000, seed=0)
    assert diff == pytest.approx(a.mean() - b.mean())
    assert low < 0.3 < high and low > 0
    # About +-1.96 standard errors of the mean difference.
    se = (a - b).std() / np.sqrt(n)
    assert high - low == pytest.approx(2 * 1.96 * se, rel=0.15)
    assert paired_bootstrap(a, a) == (0.0, 0.0, 0.0)
    # The same hits on other examples (equal means, but not paired): the interval covers 0.
    c = (rng.random(n) < 0.4).astype(float)
    d = rng.permutation(c)
    diff, low, high = paired_bootstrap(c, d)
    assert diff == 0 and low < 0 < high
    assert paired_bootstrap(c, d, seed=3) == paired_bootstrap(c, d, seed=3)


def test_resampling_users_widens_the_interval_when_a_users_examples_agree():
    # 50 users with 20 examples each; within a user the difference is the same.
    rng = np.random.default_rng(1)
    user_effect = rng.normal(0.05, 0.3, size=50)
    a = np.repeat(user_effect, 20) + rng.normal(0, 0.01, size=1000)
    b = np.zeros(1000)
    users = np.repeat(np.arange(50), 20)
    _, low, high = paired_bootstrap(a, b, seed=0)
    _, user_low, user_high = paired_bootstrap(a, b, seed=0, groups=users)
    assert user_high - user_low > 3 * (high - low)
    assert user_low <= a.mean() <= user_high
