import collections
import os

import pytest

from bertrec.config import GeneratorConfig
from bertrec.data import generate
from bertrec.data.themes import THEMES


@pytest.fixture(scope="module")
def data():
    return generate.generate(GeneratorConfig())


def test_default_size(data):
    assert len(data.items) >= 2000 and len(data.users) >= 1000 and len(data.interactions) >= 50000
    for item in data.items[:50]:
        assert item["title"] and item["tags"] and item["description"].count(".") >= 2


def test_deterministic(tmp_path):
    config = GeneratorConfig(num_items=100, num_users=30, num_interactions=800)
    a, b = tmp_path / "a", tmp_path / "b"
    generate.write(generate.generate(config), str(a))
    generate.write(generate.generate(config), str(b))
    for name in ("items.csv", "users.csv", "interactions.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes()


def test_likes_follow_themes_that_share_few_words(data):
    # Users mostly interact with their themes, and like them more.
    on_theme = [data.item_theme[r["item_id"]] in data.user_themes[r["user_id"]] for r in data.interactions]
    assert sum(on_theme) / len(on_theme) > 0.85
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


def test_popularity_long_tail_and_cold_start(data):
    counts = collections.Counter(r["item_id"] for r in data.interactions)
    ranked = sorted(counts.values(), reverse=True)
    top_decile = sum(ranked[: len(data.items) // 10])
    assert top_decile / len(data.interactions) > 0.35  # head: 3.5x a uniform share
    assert sum(1 for c in counts.values() if c <= 5) > len(data.items) * 0.1  # tail
    cutoff = generate.START_TIME + generate.COLD_START_AFTER_DAY * generate.DAY
    cold = {i["item_id"] for i in data.items if i["release_timestamp"] > cutoff}
    assert len(cold) >= 0.04 * len(data.items)
    assert sum(1 for r in data.interactions if r["item_id"] in cold) > 100
    assert all(r["timestamp"] >= cutoff for r in data.interactions if r["item_id"] in cold)
