"""Deterministic generator of the built-in catalogue, users and interactions.

What a user likes follows the *meaning* of item text: each user prefers one or
two themes, each theme is described by a large pool of near-synonyms (see
``themes.py``), and an item uses only a handful of them. Popularity within a
theme is long-tailed (Zipf), items are released over time, and a fraction of
items is released only after the train/eval cut-off (cold start), with a
novelty boost so they do get interactions in the eval period.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Dict, List

import numpy as np

from bertrec.config import GeneratorConfig
from bertrec.data import csv_io
from bertrec.data.themes import (
    ADJECTIVES,
    CHARACTERS,
    FORMATS,
    GENERIC_TAGS,
    GENERIC_TITLE_WORDS,
    SENTENCE_TEMPLATES,
    THEMES,
    TITLE_TEMPLATES,
)
from bertrec.features import TAG_SEPARATOR

START_TIME = 1_735_689_600  # 2025-01-01T00:00:00Z
DAY = 86_400
HORIZON_DAYS = 365
#: Interactions after this point in time form (roughly) the eval period; cold-start
#: items are released after it. Data preparation cuts by quantile, so this only
#: needs to sit near the last eval_fraction of interactions.
COLD_START_AFTER_DAY = 320


@dataclasses.dataclass
class GeneratedData:
    """Rows of the three CSV files plus the hidden truth (themes) for tests."""

    items: List[Dict[str, object]]
    users: List[Dict[str, object]]
    interactions: List[Dict[str, object]]
    item_theme: Dict[str, str]
    user_themes: Dict[str, List[str]]


def _title(rng: np.random.RandomState, words: List[str]) -> str:
    template = TITLE_TEMPLATES[rng.randint(len(TITLE_TEMPLATES))]
    w1, w2 = rng.choice(words, size=2, replace=False)
    g = GENERIC_TITLE_WORDS[rng.randint(len(GENERIC_TITLE_WORDS))]
    return template.format(G=g, W1=w1.title(), W2=w2.title())


def _description(rng: np.random.RandomState, words: List[str]) -> str:
    n_sentences = rng.randint(2, 5)
    templates = rng.choice(len(SENTENCE_TEMPLATES), size=n_sentences, replace=False)
    sentences = []
    for t in templates:
        w1, w2, w3 = rng.choice(words, size=3, replace=False)
        char = CHARACTERS[rng.randint(len(CHARACTERS))]
        sentences.append(
            SENTENCE_TEMPLATES[t].format(
                adj=ADJECTIVES[rng.randint(len(ADJECTIVES))],
                fmt=FORMATS[rng.randint(len(FORMATS))],
                w1=w1, w2=w2, w3=w3, char=char, Char=char[0].upper() + char[1:],
            )
        )
    return " ".join(sentences)


def _tags(rng: np.random.RandomState, theme_tags: List[str]) -> str:
    tags = list(rng.choice(theme_tags, size=rng.randint(1, 3), replace=False))
    if rng.rand() < 0.4:
        tags.append(GENERIC_TAGS[rng.randint(len(GENERIC_TAGS))])
    return TAG_SEPARATOR.join(tags)


def _unseen_released(members: np.ndarray, release_day: np.ndarray, day: float, seen: set) -> np.ndarray:
    released = members[release_day[members] <= day]
    return np.array([m for m in released if m not in seen], dtype=int)


def generate(config: GeneratorConfig) -> GeneratedData:
    """Builds the catalogue, users and interactions; same config, same output."""
    rng = np.random.RandomState(config.seed)
    theme_names = sorted(THEMES)
    n_themes = len(theme_names)

    # Items: theme, text, release time, popularity (Zipf rank within the theme).
    item_ids = [f"i{n:05d}" for n in range(1, config.num_items + 1)]
    item_theme_idx = rng.randint(n_themes, size=config.num_items)
    n_cold = int(round(config.num_items * config.cold_start_fraction))
    cold = np.zeros(config.num_items, dtype=bool)
    cold[rng.choice(config.num_items, size=n_cold, replace=False)] = True
    release_day = np.where(
        cold,
        rng.uniform(COLD_START_AFTER_DAY + 1, HORIZON_DAYS - 20, size=config.num_items),
        # Most of the catalogue exists from the start; the rest trickles in.
        np.where(rng.rand(config.num_items) < 0.7, 0.0, rng.uniform(0, COLD_START_AFTER_DAY, config.num_items)),
    )
    popularity = np.empty(config.num_items)
    for t in range(n_themes):
        members = np.flatnonzero(item_theme_idx == t)
        ranks = rng.permutation(len(members)) + 1
        popularity[members] = 1.0 / ranks**1.6
    items = []
    for i, item_id in enumerate(item_ids):
        theme = THEMES[theme_names[item_theme_idx[i]]]
        items.append({
            "item_id": item_id,
            "title": _title(rng, theme["words"]),
            "description": _description(rng, theme["words"]),
            "tags": _tags(rng, theme["tags"]),
            "release_timestamp": int(START_TIME + release_day[i] * DAY),
        })

    # Users: a main theme, usually a second and sometimes a third, plus a little exploration.
    user_ids = [f"u{n:05d}" for n in range(1, config.num_users + 1)]
    user_pref = np.zeros((config.num_users, n_themes))
    user_themes = {}
    for u in range(config.num_users):
        n_liked = rng.choice([1, 2, 3], p=[0.3, 0.45, 0.25])
        chosen = list(rng.choice(n_themes, size=n_liked, replace=False))
        user_pref[u, chosen] = [1.0] + list(rng.uniform(0.3, 0.7, size=n_liked - 1))
        user_pref[u] /= user_pref[u].sum()
        user_themes[user_ids[u]] = [theme_names[t] for t in chosen]
    exploration = 0.1

    # Activity is long-tailed too; counts sum to num_interactions.
    activity = rng.lognormal(0.0, 0.6, size=config.num_users)
    counts = np.maximum(3, np.floor(activity / activity.sum() * config.num_interactions)).astype(int)
    while counts.sum() > config.num_interactions:
        counts[np.argmax(counts)] -= 1
    np.add.at(counts, rng.randint(config.num_users, size=config.num_interactions - counts.sum()), 1)

    interactions = []
    members_by_theme = [np.flatnonzero(item_theme_idx == t) for t in range(n_themes)]
    for u in range(config.num_users):
        days = np.sort(rng.uniform(0, HORIZON_DAYS, size=counts[u]))
        seen = set()
        for day in days:
            explore = rng.rand() < exploration
            theme = rng.randint(n_themes) if explore else rng.choice(n_themes, p=user_pref[u])
            candidates = _unseen_released(members_by_theme[theme], release_day, day, seen)
            if len(candidates) == 0:  # theme exhausted for this user: explore instead
                theme = rng.randint(n_themes)
                candidates = _unseen_released(np.arange(config.num_items), release_day, day, seen)
            age = day - release_day[candidates]
            novelty = np.where(age < 30, 4.0, 1.0)  # new releases get attention
            weights = popularity[candidates] * novelty
            item = candidates[rng.choice(len(candidates), p=weights / weights.sum())]
            seen.add(item)
            liked = user_pref[u, item_theme_idx[item]] > 0
            rating = rng.choice([3, 4, 5], p=[0.15, 0.4, 0.45]) if liked else rng.choice([1, 2, 3], p=[0.4, 0.4, 0.2])
            interactions.append({
                "user_id": user_ids[u],
                "item_id": item_ids[item],
                "rating": float(rating),
                # A per-user offset keeps a user's timestamps distinct.
                "timestamp": int(START_TIME + day * DAY) + len(seen),
            })
    interactions.sort(key=lambda r: (r["timestamp"], r["user_id"]))
    return GeneratedData(
        items=items,
        users=[{"user_id": u} for u in user_ids],
        interactions=interactions,
        item_theme={item_ids[i]: theme_names[item_theme_idx[i]] for i in range(config.num_items)},
        user_themes=user_themes,
    )


def write(data: GeneratedData, out_dir: str) -> Dict[str, str]:
    """Writes items.csv, users.csv, interactions.csv and item_themes.csv to ``out_dir``.

    item_themes.csv is the hidden truth, for evaluation and tests only; the
    pipeline never reads it.
    """
    os.makedirs(out_dir, exist_ok=True)
    paths = {
        "items": csv_io.write_rows(os.path.join(out_dir, "items.csv"), csv_io.ITEM_COLUMNS, data.items),
        "users": csv_io.write_rows(os.path.join(out_dir, "users.csv"), csv_io.USER_COLUMNS, data.users),
        "interactions": csv_io.write_rows(
            os.path.join(out_dir, "interactions.csv"), csv_io.INTERACTION_COLUMNS, data.interactions
        ),
        "item_themes": csv_io.write_rows(
            os.path.join(out_dir, "item_themes.csv"),
            ("item_id", "theme"),
            [{"item_id": k, "theme": v} for k, v in data.item_theme.items()],
        ),
    }
    return paths
