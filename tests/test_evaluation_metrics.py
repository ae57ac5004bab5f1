"""Offline metrics and the collaborative baselines, on cases small enough to check by hand."""
import numpy as np
import pytest

from bertrec.evaluation.baselines import Ease, MostPopular
from bertrec.evaluation.metrics import summarize, target_ranks


def test_ranks_exclude_seen_items_and_ties_count_against_the_target():
    scores = np.array([[0.9, 0.8, 0.1, 0.5], [1.0, 1.0, 1.0, 1.0]])
    # Row 0: item 0 is excluded (seen), so target 1 ranks first. Row 1: all tied -> last.
    ranks = target_ranks(scores, np.array([1, 2]), [[0], []])
    assert ranks.tolist() == [0, 3]
    with pytest.raises(ValueError, match="target item 1 is among its excluded"):
        target_ranks(scores, np.array([1, 2]), [[1], []])


def test_summary_metrics():
    m = summarize(np.array([0, 1, 9, 10, 99]), ks=(1, 10), ndcg_k=10)
    assert m["recall@1"] == pytest.approx(1 / 5) and m["recall@10"] == pytest.approx(3 / 5)
    assert m["ndcg@10"] == pytest.approx((1 + 1 / np.log2(3) + 1 / np.log2(11)) / 5)
    assert m["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 10 + 1 / 11 + 1 / 100) / 5)
    assert m["count"] == 5


def test_most_popular_ranks_by_training_counts():
    model = MostPopular(4).fit([2, 2, 2, 0, 0, 3])
    assert np.argsort(-model.score([[1]])[0]).tolist()[:3] == [2, 0, 3]


def test_ease_learns_co_occurrence_and_cannot_score_unseen_items():
    # Items 0 and 1 always go together, as do 2 and 3; item 4 never appears in training.
    users = [[0, 1]] * 20 + [[2, 3]] * 20
    model = Ease(5, l2=1.0).fit(users)
    scores = model.score([[0], [2]])
    assert scores[0].argmax() == 1 and scores[1].argmax() == 3
    assert scores[0, 4] == 0 and scores[1, 4] == 0
    assert np.all(np.diag(model.weights) == 0)


def test_id_two_tower_learns_which_users_like_which_items():
    from bertrec.evaluation.baselines import IdTwoTower
    from bertrec.evaluation.metrics import summarize, target_ranks

    rng = np.random.default_rng(0)
    # 40 users in two groups; group g interacts with items 10g..10g+9; items 20 and 21 are never seen.
    users, items = [], []
    for u in range(40):
        for _ in range(30):
            users.append(u)
            items.append((u % 2) * 10 + rng.integers(10))
    model = IdTwoTower(40, 22, dim=8, epochs=30, batch_size=64, learning_rate=0.2).fit(users, items)
    scores = model.score([0, 1])
    targets = np.array([rng.integers(10), 10 + rng.integers(10)])
    assert summarize(target_ranks(scores, targets, [[], []]), ks=(10,))["recall@10"] == 1.0
    # Unseen items share the out-of-vocabulary embedding: the model cannot tell them apart.
    np.testing.assert_array_equal(scores[:, 20], scores[:, 21])
