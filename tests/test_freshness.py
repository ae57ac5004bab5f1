"""Freshness: a bias by the item's age at request time, fitted after training."""
import numpy as np
import pytest
import tensorflow as tf

from bertrec import features as F
from trainer import freshness, score_terms

DAY = freshness.DAY
NOW = 1_000 * DAY


def test_items_fall_in_the_bucket_of_their_age_at_request_time():
    released = np.array([F.UNKNOWN_RELEASE, NOW + 1, NOW, NOW - 7 * DAY + 1, NOW - 7 * DAY, NOW - 100 * DAY,
                         NOW - 400 * DAY, 0, -30 * 365 * DAY])
    names = [freshness.BUCKET_NAMES[b] for b in freshness.buckets(tf.constant([NOW]), tf.constant(released)).numpy()[0]]
    # The epoch and times before 1970 are release times like any other.
    assert names == ["unknown", "unreleased", "0-7d", "0-7d", "7-30d", "90-365d", "365d+", "365d+", "365d+"]
    # Per-request candidates [B, M] and requests at different times.
    per_request = freshness.buckets(tf.constant([NOW, NOW + 10 * DAY]), tf.constant([[NOW + 1], [NOW + 1]])).numpy()
    assert [freshness.BUCKET_NAMES[b] for b in per_request[:, 0]] == ["unreleased", "7-30d"]


def test_fit_learns_that_new_releases_draw_attention_and_unreleased_items_none():
    rng = np.random.RandomState(0)
    items, examples = 40, 400
    released = NOW - rng.uniform(-20, 200, size=items).astype(np.int64) * DAY  # some released after NOW
    times = NOW + rng.randint(0, 10, size=examples) * DAY
    age = (times[:, None] - released[None, :]) / DAY
    # Users choose among released items, four times as often among the 30 days old.
    weights = np.where(age < 0, 0.0, np.where(age < 30, 4.0, 1.0))
    targets = np.array([rng.choice(items, p=w / w.sum()) for w in weights])
    term = freshness.Freshness()
    terms = score_terms.ScoreTerms([term], None, released, 256)
    no_history = [np.zeros(0, np.int64)] * examples
    summary = terms.fit(np.zeros((examples, items), np.float32), no_history, targets, times)
    fit, bias = summary["score_terms_fit"], summary["freshness"]["bias"]
    assert fit["log_likelihood"] > fit["log_likelihood_without"]
    new = (bias["0-7d"] + bias["7-30d"]) / 2
    assert new - bias["90-365d"] == pytest.approx(np.log(4.0), abs=0.4)
    assert bias["unreleased"] < bias["90-365d"] - 4.0
    # No item was over 365 days old: such items are taken to be like the oldest seen.
    assert bias["365d+"] == bias["90-365d"] and bias["unknown"] == 0.0
    np.testing.assert_allclose(term.bias.numpy(), [bias[n] for n in freshness.BUCKET_NAMES], atol=1e-3)
    # Applied to requests, each item gets its age bucket's bias at the request's time.
    applied = terms.apply(no_history, times)
    expected = term.bias.numpy()[freshness.buckets(tf.constant(times), tf.constant(released)).numpy()]
    np.testing.assert_allclose(applied, expected)
