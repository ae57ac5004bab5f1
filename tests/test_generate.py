"""The built-in data generator: what a user of its CSV files would notice."""
import collections
import re

import pytest

from bertrec.config import GeneratorConfig
from bertrec.data import generate
from bertrec.data.themes import GENERIC_TAGS, THEMES
from bertrec.features import TAG_SEPARATOR


@pytest.fixture(scope="module")
def data():
    return generate.generate(GeneratorConfig())


def _by_user(data):
    """Each user's interactions, oldest first."""
    rows = collections.defaultdict(list)
    for r in sorted(data.interactions, key=lambda r: r["timestamp"]):
        rows[r["user_id"]].append(r)
    return rows


def _eval_period(data, fraction=0.15):
    """The last ``fraction`` of interactions by time, as data preparation's time split takes them."""
    ordered = sorted(data.interactions, key=lambda r: r["timestamp"])
    return ordered[int(len(ordered) * (1 - fraction)):]


def test_default_size(data):
    assert len(data.items) >= 2000 and len(data.users) >= 1000 and len(data.interactions) >= 50000
    for item in data.items[:50]:
        assert item["title"] and item["tags"] and item["description"].count(".") >= 2


def test_deterministic(tmp_path):
    config = GeneratorConfig(num_items=100, num_users=30, num_interactions=800)
    a, b = tmp_path / "a", tmp_path / "b"
    generate.write(generate.generate(config), str(a))
    generate.write(generate.generate(config), str(b))
    for name in ("items.csv", "users.csv", "interactions.csv", "item_themes.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes()


def test_timestamps_distinct_per_user_and_nothing_taken_before_release_or_twice(data):
    release = {i["item_id"]: i["release_timestamp"] for i in data.items}
    assert all(r["timestamp"] >= release[r["item_id"]] for r in data.interactions)
    for rows in _by_user(data).values():
        assert len({r["timestamp"] for r in rows}) == len(rows)
        assert len({r["item_id"] for r in rows}) == len(rows)


def test_likes_follow_themes_that_share_few_words(data):
    # Users mostly interact with their themes (some picks are random), and like them more.
    on_theme = [data.item_theme[r["item_id"]] in data.user_themes[r["user_id"]] for r in data.interactions]
    assert 0.85 < sum(on_theme) / len(on_theme) < 0.97
    liked = [r["rating"] for r, on in zip(data.interactions, on_theme) if on]
    disliked = [r["rating"] for r, on in zip(data.interactions, on_theme) if not on]
    assert sum(liked) / len(liked) > sum(disliked) / len(disliked) + 1.5
    # Two items of one theme rarely share a theme word in their titles.
    by_theme = collections.defaultdict(list)
    for item in data.items:
        words = set(item["title"].lower().split()) & set(THEMES[data.item_theme[item["item_id"]]]["words"])
        by_theme[data.item_theme[item["item_id"]]].append(words)
    titles = by_theme["space"][:40]
    pairs = [(a, b) for n, a in enumerate(titles) for b in titles[n + 1:]]
    assert sum(bool(a & b) for a, b in pairs) / len(pairs) < 0.2


def test_tags_paraphrase_the_theme_instead_of_repeating_it(data):
    """No tag gives a theme away: each is on few of the theme's items, and two
    items of a theme seldom share one (generic tags aside)."""
    tags_by_theme = collections.defaultdict(list)
    for item in data.items:
        tags = set(item["tags"].split(TAG_SEPARATOR)) - set(GENERIC_TAGS)
        assert tags, item
        tags_by_theme[data.item_theme[item["item_id"]]].append(tags)
    for theme, tag_sets in tags_by_theme.items():
        counts = collections.Counter(t for tags in tag_sets for t in tags)
        assert max(counts.values()) / len(tag_sets) < 0.25, (theme, counts.most_common(3))
        sample = tag_sets[:60]
        pairs = [(a, b) for n, a in enumerate(sample) for b in sample[n + 1:]]
        assert sum(bool(a & b) for a, b in pairs) / len(pairs) < 0.25, theme


def test_series_are_released_and_taken_in_order(data):
    release = {i["item_id"]: i["release_timestamp"] for i in data.items}
    text = {i["item_id"]: i["title"] + " " + i["description"] for i in data.items}
    series = collections.defaultdict(dict)
    for item_id, (series_id, part) in data.item_series.items():
        series[series_id][part] = item_id
    assert 0.15 < len(data.item_series) / len(data.items) < 0.4
    assert {len(parts) for parts in series.values()} == {2, 3, 4, 5}
    for parts in series.values():
        ids = [parts[k] for k in sorted(parts)]
        assert sorted(parts) == list(range(1, len(parts) + 1))
        assert len({data.item_theme[i] for i in ids}) == 1
        assert all(release[a] < release[b] for a, b in zip(ids, ids[1:]))
        # Every part names the figure that the first part introduces (a first name and a surname).
        pattern = r"(?=\b([A-Z][a-z]+ [A-Z][a-z]+)\b)"
        names = set.intersection(*(set(re.findall(pattern, text[i])) for i in ids))
        assert names, [text[i] for i in ids]
    # No one takes a later part before the one it follows; a liked part is usually followed up.
    followed = liked = follow_ups = 0
    late = max(r["timestamp"] for r in data.interactions) - 45 * generate.DAY  # time left to follow up
    for rows in _by_user(data).values():
        taken = {}
        for r in rows:
            if r["item_id"] in data.item_series:
                series_id, part = data.item_series[r["item_id"]]
                if part > 1:
                    assert (series_id, part - 1) in taken, r
                    follow_ups += 1
                taken[series_id, part] = r
        for (series_id, part), r in taken.items():
            nxt = series[series_id].get(part + 1)
            if r["rating"] >= 4 and nxt and release[nxt] < late and r["timestamp"] < late:
                liked += 1
                followed += (series_id, part + 1) in taken
    assert followed / liked > 0.6, (followed, liked)
    assert follow_ups / len(data.interactions) > 0.05


def test_interests_drift_so_recent_history_predicts_better_than_old(data):
    """For users with long histories, the themes of their last fifth match the
    fifth before it better than their first fifth."""
    def share(rows):
        counts = collections.Counter(data.item_theme[r["item_id"]] for r in rows)
        return {t: c / len(rows) for t, c in counts.items()}

    def overlap(p, q):
        return sum(min(p.get(t, 0.0), q.get(t, 0.0)) for t in set(p) | set(q))

    recent, early = [], []
    for rows in _by_user(data).values():
        if len(rows) < 60:
            continue
        fifth = len(rows) // 5
        last = share(rows[-fifth:])
        recent.append(overlap(last, share(rows[-2 * fifth:-fifth])))
        early.append(overlap(last, share(rows[:fifth])))
    assert len(recent) > 200
    assert sum(recent) / len(recent) > sum(early) / len(early) + 0.15
    # The drift shows in the truth too: most users gain a theme during the year.
    assert 0.4 < len(data.user_drift) / len(data.users) < 0.9


def test_popularity_long_tail(data):
    counts = collections.Counter(r["item_id"] for r in data.interactions)
    ranked = sorted(counts.values(), reverse=True)
    top_decile = sum(ranked[: len(data.items) // 10])
    assert top_decile / len(data.interactions) > 0.35  # head: 3.5x a uniform share
    assert sum(1 for c in counts.values() if c <= 5) > len(data.items) * 0.1  # tail


def test_new_releases_draw_mild_attention_and_cold_start_items_get_eval_interactions(data):
    """New items are over-represented among eval targets, as in real data, but
    far from dominating them; items released after the cut-off (cold start)
    are taken in the eval period, and only after their release."""
    release = {i["item_id"]: i["release_timestamp"] for i in data.items}
    eval_rows = _eval_period(data)
    young = [0 <= r["timestamp"] - release[r["item_id"]] < 30 * generate.DAY for r in eval_rows]
    young_catalogue = []
    for r in eval_rows[::50]:
        released = [t for t in release.values() if t <= r["timestamp"]]
        young_catalogue.append(sum(t > r["timestamp"] - 30 * generate.DAY for t in released) / len(released))
    young_share, catalogue_share = sum(young) / len(young), sum(young_catalogue) / len(young_catalogue)
    # 0.24 (6x the catalogue share) when items under 30 days old were boosted x4.
    assert catalogue_share < young_share < 0.18, (young_share, catalogue_share)

    cutoff = generate.START_TIME + generate.COLD_START_AFTER_DAY * generate.DAY
    cold = {i["item_id"] for i in data.items if i["release_timestamp"] > cutoff}
    assert len(cold) == round(0.05 * len(data.items))
    assert all(r["timestamp"] >= cutoff for r in data.interactions if r["item_id"] in cold)
    cold_in_eval = collections.Counter(r["item_id"] for r in eval_rows if r["item_id"] in cold)
    assert len(cold_in_eval) >= 0.6 * len(cold)
    assert sum(cold_in_eval.values()) > 0.03 * len(eval_rows)
