"""Baselines of the offline report and their tuning, on cases small enough to check by hand."""
import functools

import numpy as np

from bertrec import features as F
from bertrec.evaluation import baselines as B
from bertrec.evaluation.metrics import summarize, target_ranks
from bertrec.evaluation.tuning import tune

DAY = B.DAY
NOW = 1_000 * DAY


def make_log(users, items, times=None, num_users=None, num_items=None):
    users, items = np.asarray(users), np.asarray(items)
    times = np.zeros(len(items), np.int64) if times is None else np.asarray(times, np.int64)
    return B.TrainingLog(users, items, times, num_users or int(users.max()) + 1, num_items or int(items.max()) + 1)


def make_requests(contexts, times=None, users=None):
    contexts = [np.asarray(c, np.int64) for c in contexts]
    times = np.full(len(contexts), NOW, np.int64) if times is None else np.asarray(times, np.int64)
    users = np.zeros(len(contexts), np.int64) if users is None else np.asarray(users)
    return B.Requests(users, contexts, times)


def order(scores):
    return np.argsort(-scores, kind="stable").tolist()


def test_context_matrix_weights_recent_items_more_and_counts_an_item_once_when_binary():
    contexts = [np.array([3, 1, 3]), np.array([], np.int64)]
    np.testing.assert_allclose(B.context_matrix(contexts, 4).toarray(), [[0, 1, 0, 1], [0, 0, 0, 0]])
    np.testing.assert_allclose(B.context_matrix(contexts, 4, decay=0.5).toarray(), [[0, 0.5, 0, 1.25], [0, 0, 0, 0]])


def test_most_popular_ranks_by_training_counts():
    model = B.MostPopular().fit(make_log([0] * 6, [2, 2, 2, 0, 0, 3], num_items=4))
    assert order(model.score(make_requests([[1]]))[0])[:3] == [2, 0, 3]


def test_recent_popular_counts_only_the_window_before_the_request():
    items = [0] * 3 + [1] * 2 + [3] + [2] * 10
    times = [NOW - 5 * DAY] * 3 + [NOW - DAY // 2] * 3 + [NOW] * 5 + [NOW + DAY] * 5
    log = make_log(np.arange(len(items)), items, times, num_items=4)
    # Item 2's interactions are all at or after the request time: it never counts.
    requests = make_requests([[], [], []], times=[NOW, NOW - 10 * DAY, NOW])
    day = B.RecentPopular(window_days=1).fit(log).score(requests)
    # In the last day: item 1 twice, item 3 once; items 0 and 2 none, 0 first by its count before the request.
    assert order(day[0]) == [1, 3, 0, 2]
    # Before any interaction there is nothing to count: all tied.
    assert np.all(day[1] == day[1][0])
    week = B.RecentPopular(window_days=7).fit(log).score(requests)
    assert order(week[0]) == [0, 1, 3, 2]
    np.testing.assert_allclose(week[0] // 1, [3, 2, 0, 1])  # whole counts, the tie-break below 1
    # Scoring in chunks of unsorted request times changes nothing.
    np.testing.assert_array_equal(B.RecentPopular(window_days=7).fit(log).score(requests[[2, 1, 0]])[2], week[0])


def test_tuning_picks_the_window_under_which_the_targets_were_popular():
    # Item 0 was popular two months ago, item 1 in the last two days: the targets are item 1.
    items = [0] * 10 + [1] * 3
    times = [NOW - 60 * DAY] * 10 + [NOW - 2 * DAY] * 3
    log = make_log(np.arange(13), items, times, num_items=5)
    validation = B.Validation(make_requests([[]] * 4), np.array([1, 1, 1, 1]))
    tuned = tune(B.RecentPopular, B.RecentPopular.GRID, log, validation)
    assert tuned.params == {"window_days": 3}  # the first window that holds item 1's interactions
    assert [v["window_days"] for v in tuned.values] == [1, 3, 7, 14, 30, 90, 365]
    assert tuned.values[1]["ndcg@10"] == 1.0 and tuned.values[-1]["ndcg@10"] < 1.0
    assert isinstance(tuned.model, B.RecentPopular) and tuned.model.window_days == 3


def random_log(seed=0, users=60, items=25, per_user=6):
    rng = np.random.default_rng(seed)
    u = np.repeat(np.arange(users), per_user)
    return make_log(u, rng.integers(0, items, len(u)), num_users=users, num_items=items)


def test_ease_weights_from_one_eigendecomposition_equal_the_direct_inverse():
    log = random_log()
    basis = B.Ease.decompose(log)
    for l2 in (3.0, 50.0):
        direct = B.Ease(l2).fit(log)
        np.testing.assert_allclose(B.Ease(l2, basis=basis).fit(log).weights, direct.weights, atol=1e-5)
        x = np.zeros((1, 25))
        x[0, [1, 2]] = 1
        np.testing.assert_allclose(direct.score(make_requests([[1, 2]]))[0], (x @ direct.weights)[0] + direct._tie,
                                   atol=1e-6)
    tuned = tune(functools.partial(B.Ease, basis=basis), B.Ease.GRID, log,
                 B.Validation(make_requests([[1, 2]]), np.array([3])))
    assert len(tuned.values) == len(B.Ease.GRID) and tuned.params["l2"] in [p["l2"] for p in B.Ease.GRID]


def test_ease_learns_co_occurrence_and_backs_off_to_popularity():
    # Items 0 and 1 always go together, as do 2 and 3; item 3 is more popular than 2; item 4 never appears.
    baskets = [[0, 1]] * 20 + [[2, 3]] * 20 + [[3]] * 5 + [[0]] * 30
    users = np.repeat(np.arange(len(baskets)), [len(b) for b in baskets])
    model = B.Ease(l2=1.0).fit(make_log(users, np.concatenate(baskets), num_items=5))
    assert np.all(np.diag(model.weights) == 0)
    scores = model.score(make_requests([[0], [2], []]))
    assert scores[0].argmax() == 1 and scores[1].argmax() == 3
    # Item 0 says nothing of items 2 and 3 (weight 0): popularity orders them, the unseen item last.
    assert order(scores[0])[-3:] == [3, 2, 4]
    # No context: the most-popular order (0: 50, 3: 25, 1: 20, 2: 20 by user order of ties, 4: 0).
    assert order(scores[2]) == [0, 3, 1, 2, 4]


def test_text_similarity_ranks_the_item_sharing_words_with_the_history_first():
    texts = [
        "Space rocket. launch. A rocket launch into orbit.",
        "Pasta night. cooking. A pasta recipe for the kitchen.",
        "Orbit mission. space. The rocket engine reaches orbit.",
        "Spring garden. gardening. Flowers in the spring garden.",
        "Kitchen dinner. cooking. A pasta sauce for dinner.",
    ]
    log = make_log([0, 1, 1, 2], [3, 3, 3, 1], num_users=3, num_items=5)
    model = B.TextSimilarity(texts).fit(log)
    scores = model.score(make_requests([[0], [], [0, 1]]))
    assert order(scores[0])[:2] == [0, 2]  # the history item itself (excluded later), then its neighbour
    assert order(scores[1])[:2] == [3, 1]  # no history: popularity
    assert target_ranks(scores[:1], np.array([2]), [[0]]).tolist() == [0]
    # Recency weights: the neighbour of the most recent history item leads that of the older one.
    recent = B.TextSimilarity(texts, decay=0.2).fit(log).score(make_requests([[0, 1], [1, 0]]))
    assert recent[0][2] > recent[0][4] > recent[0][3] and recent[1][4] > recent[1][2] > recent[1][3]


class Zeros(B.Baseline):
    """A base scorer that knows nothing."""

    sees = "nothing"

    def fit(self, log):
        self.num_items = log.num_items
        return self

    def _score(self, requests):
        return np.zeros((len(requests), self.num_items))


def popularity_data(seed=0, items=40, examples=2000, unreleased=5):
    """A log with Zipf-like counts; validation targets drawn in proportion to 1 + count among
    released items; the ``unreleased`` most popular are released after every request."""
    rng = np.random.default_rng(seed)
    counts = (200 / np.arange(1, items + 1)).astype(int)
    log = make_log(np.arange(counts.sum()), np.repeat(np.arange(items), counts), num_items=items)
    released = np.full(items, NOW - 400 * DAY, np.int64)
    released[:unreleased] = NOW + 100 * DAY
    p = (1.0 + counts) * (released <= NOW)
    targets = rng.choice(items, size=examples, p=p / p.sum())
    times = NOW + rng.integers(0, 30, examples) * DAY
    return log, released, B.Validation(make_requests([[]] * examples, times=times), targets)


def test_score_terms_recover_popularity_and_push_unreleased_items_down():
    log, released, validation = popularity_data()
    model = B.WithTerms(Zeros(), released).fit(log, validation)
    assert 0.5 <= model.weight <= 1.5
    assert model.chosen["freshness"]["unreleased"] < model.chosen["freshness"]["365d+"] - 3
    assert "item age" in model.sees
    scores = model.score(validation.requests[:1])[0]
    # The most popular item is not out yet: every released item ranks ahead of it.
    assert scores[0] < scores[5:].min()
    assert scores[5] > scores[6] > scores[39]

    # Freshness off (no release times): popularity alone.
    log, released, validation = popularity_data(unreleased=0)
    plain = B.WithTerms(Zeros(), np.full(len(released), F.UNKNOWN_RELEASE)).fit(log, validation)
    assert plain.bias is None and 0.5 <= plain.weight <= 1.5 and "item age" not in plain.sees
    assert order(plain.score(validation.requests[:1])[0])[:3] == [0, 1, 2]


def two_group_data(seed=0):
    """40 users in two groups; group g interacts with items 10g..10g+9; items 20 and 21 are never seen."""
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(40), 30)
    items = (users % 2) * 10 + rng.integers(0, 10, len(users))
    log = make_log(users, items, num_users=41, num_items=22)
    val_users = np.arange(41)  # user 40 has no interactions
    targets = (val_users % 2) * 10 + rng.integers(0, 10, len(val_users))
    validation = B.Validation(make_requests([[]] * len(val_users), users=val_users), targets)
    return log, validation


def test_id_two_tower_chooses_its_epochs_on_validation_deterministically():
    log, validation = two_group_data()

    def fit():
        return B.IdTwoTower(dim=8, max_epochs=8, patience=2, batch_size=64, learning_rate=0.2,
                            seed=1).fit(log, validation)

    first, second = fit(), fit()
    assert 1 <= first.epochs <= 8 and len(first.curve) <= 8
    assert first.curve[first.epochs - 1] == max(first.curve)
    assert first.epochs == second.epochs and first.curve == second.curve
    np.testing.assert_array_equal(first.score(validation.requests), second.score(validation.requests))


def test_id_two_tower_learns_which_users_like_which_items_and_backs_off_to_popularity():
    log, validation = two_group_data()
    model = B.IdTwoTower(dim=8, epochs=30, batch_size=64, learning_rate=0.2).fit(log)
    scores = model.score(validation.requests)
    ranks = target_ranks(scores[:40], validation.targets[:40], [[]] * 40)
    assert summarize(ranks, ks=(10,))["recall@10"] == 1.0
    # Unseen items share the untrained out-of-vocabulary embedding: last, alike, for everyone.
    np.testing.assert_array_equal(scores[:, 20], scores[:, 21])
    assert (scores[:, 20] < scores[:, :20].min(axis=1)).all()
    # A user without interactions gets the most-popular list.
    seen = log.counts() > 0
    np.testing.assert_array_equal(scores[40, seen], log.counts()[seen])
