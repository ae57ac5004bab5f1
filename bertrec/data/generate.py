"""Deterministic generator of the built-in catalogue, users and interactions.

What the data contains:

- **Themes in paraphrase.** Each item has one of 16 themes; its title,
  description and tags draw a few words each from the theme's large pools of
  near-synonyms (``themes.py``), so two items of a theme share meaning but
  rarely the exact words. Tags come from an 18-phrase pool per theme (plus
  generic tags that all themes share), so any one tag is on few of a theme's
  items.
- **Interests that drift.** A user prefers one to three themes; for most users
  the main interest is replaced by a new theme at a random point in the year (a
  smooth change over a few weeks), so the early part of a long history predicts
  less well than the recent part. Ratings (1-5) are high for items of the
  themes the user likes *at that time*, low otherwise.
- **Series taken in order.** About a quarter of the items belong to series of
  2-5 parts of one theme, released in order weeks apart. A part's text names
  the series' recurring figure (the same name in every part) and says that it
  follows on in varied words. A user takes part k+1 only after part k, and
  after liking part k usually does so (often as soon as it is out).
- **Popularity, a mild novelty and noise.** Within a theme, popularity is
  long-tailed (Zipf). New releases draw extra attention that fades smoothly
  with age (at most x``1 + NOVELTY_BOOST`` at release, time constant
  ``NOVELTY_DAYS``); items released after the train/eval cut-off (cold start,
  ``cold_start_fraction``) get interactions in the eval period through it and
  through series. A share ``EXPLORATION`` of the picks that are not series
  follow-ups is in a random theme (noise). Nothing is taken twice or before
  its release.

What it rewards: reading item text by meaning (a theme is a pool of synonyms,
so items of a theme share few exact words), following series (the next part of
what a user just took), and weighting recent interests over old ones.
Popularity and a mild, smooth novelty exist, as in real data, but the data is
not built around them, nor around item age buckets or a user's whole-history
theme mix. The mechanisms are chosen to resemble real consumption, never
because a model has a term for them: figures on this data are a smoke test,
real data is the headline.
"""
from __future__ import annotations

import dataclasses
import math
import os
from typing import Dict, List, Tuple

import numpy as np

from bertrec.config import GeneratorConfig
from bertrec.data import csv_io
from bertrec.data.themes import (
    ADJECTIVES,
    CHARACTERS,
    FIRST_NAMES,
    FORMATS,
    GENERIC_TAGS,
    GENERIC_TITLE_WORDS,
    ORDINALS,
    ROMAN,
    SENTENCE_TEMPLATES,
    SEQUEL_TITLE_SUFFIXES,
    SERIES_FIRST_SENTENCES,
    SERIES_SEQUEL_SENTENCES,
    SERIES_TITLE_TEMPLATES,
    SURNAMES,
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
#: Items are released at least this long before the end of the log.
LAST_RELEASE_BEFORE_END_DAYS = 20

#: Attention to new releases: weight x (1 + NOVELTY_BOOST * exp(-age / NOVELTY_DAYS)).
NOVELTY_BOOST = 1.0
NOVELTY_DAYS = 12.0
#: Share of independent picks made in a random theme rather than a liked one.
EXPLORATION = 0.1
#: Share of the catalogue in series, and the gap between the releases of two parts.
SERIES_SHARE = 0.25
SERIES_GAP_DAYS = (20.0, 75.0)
#: Chance that a user who took part k goes on to part k+1, by the rating of part k,
#: and the mean delay (days) after part k+1 is available before they want it.
FOLLOW_UP_BY_RATING = {1: 0.05, 2: 0.1, 3: 0.35, 4: 0.7, 5: 0.85}
FOLLOW_UP_DELAY_DAYS = 6.0
#: Share of users whose main interest is replaced by another theme during the year,
#: and how gradual the change is (days; logistic width).
DRIFT_SHARE = 0.65
DRIFT_WIDTH_DAYS = 8.0
#: An old main interest keeps this weight (before normalising) after the change.
DRIFT_LEFTOVER = 0.1
#: A theme is liked at a time if it has at least this share of the user's interest then.
LIKED_SHARE = 0.08
#: Chances of ratings 3, 4, 5 for a liked item and of 1, 2, 3 for another.
LIKED_RATINGS = np.array([0.15, 0.4, 0.45])
DISLIKED_RATINGS = np.array([0.4, 0.4, 0.2])


@dataclasses.dataclass
class GeneratedData:
    """Rows of the three CSV files plus the hidden truth for tests.

    ``user_themes`` lists every theme a user likes at some time (the initial
    ones, main first, then the one their interest drifts to, if any);
    ``item_series`` maps each item in a series to (series id, part number from
    1); ``user_drift`` maps each drifting user to (day of the change, old main
    theme, new theme).
    """

    items: List[Dict[str, object]]
    users: List[Dict[str, object]]
    interactions: List[Dict[str, object]]
    item_theme: Dict[str, str]
    user_themes: Dict[str, List[str]]
    item_series: Dict[str, Tuple[str, int]] = dataclasses.field(default_factory=dict)
    user_drift: Dict[str, Tuple[float, str, str]] = dataclasses.field(default_factory=dict)


def _pick(rng: np.random.RandomState, options: List[str]) -> str:
    return options[rng.randint(len(options))]


def _draw(rng: np.random.RandomState, weights: np.ndarray) -> int:
    """An index drawn in proportion to ``weights`` (rng.choice(p=...) without its checks)."""
    cumulative = np.cumsum(weights)
    return min(int(np.searchsorted(cumulative, rng.rand() * cumulative[-1], side="right")), len(weights) - 1)


def _title(rng: np.random.RandomState, words: List[str], name: str = "", part: int = 0) -> str:
    """A title from theme words; a series part may carry its figure's name or a sequel marker."""
    w1, w2 = rng.choice(words, size=2, replace=False)
    g = _pick(rng, GENERIC_TITLE_WORDS)
    if name and rng.rand() < 0.4:
        title = _pick(rng, SERIES_TITLE_TEMPLATES).format(N=name, G=g, W1=w1.title())
    else:
        title = _pick(rng, TITLE_TEMPLATES).format(G=g, W1=w1.title(), W2=w2.title())
    if part >= 2 and rng.rand() < 0.35:
        suffixes = [x for x in SEQUEL_TITLE_SUFFIXES if ":" not in x or ":" not in title]
        title += _pick(rng, suffixes).format(R=ROMAN[part - 1])
    return title


def _description(rng: np.random.RandomState, words: List[str], name: str = "", part: int = 0) -> str:
    n_sentences = rng.randint(2, 5)
    templates = rng.choice(len(SENTENCE_TEMPLATES), size=n_sentences, replace=False)
    sentences = []
    for t in templates:
        w1, w2, w3 = rng.choice(words, size=3, replace=False)
        char = _pick(rng, CHARACTERS)
        sentences.append(
            SENTENCE_TEMPLATES[t].format(
                adj=_pick(rng, ADJECTIVES), fmt=_pick(rng, FORMATS),
                w1=w1, w2=w2, w3=w3, char=char, Char=char[0].upper() + char[1:],
            )
        )
    if name:
        pool = SERIES_FIRST_SENTENCES if part == 1 else SERIES_SEQUEL_SENTENCES
        link = _pick(rng, pool).format(N=name, fmt=_pick(rng, FORMATS), ord=ORDINALS[part - 1])
        sentences.insert(rng.randint(len(sentences) + 1), link)
    return " ".join(sentences)


def _tags(rng: np.random.RandomState, theme_tags: List[str]) -> str:
    """One or two of the theme's paraphrase tags, sometimes a generic one."""
    tags = list(rng.choice(theme_tags, size=rng.randint(1, 3), replace=False))
    if rng.rand() < 0.4:
        tags.append(_pick(rng, GENERIC_TAGS))
    return TAG_SEPARATOR.join(tags)


def _series_names(rng: np.random.RandomState, n: int) -> List[str]:
    names = [f"{f} {s}" for f in FIRST_NAMES for s in SURNAMES]
    order = rng.permutation(len(names))
    out = []
    for k in range(n):  # beyond the combinations, add a middle initial
        name = names[order[k % len(names)]]
        if k >= len(names):
            first, last = name.split(" ")
            name = f"{first} {chr(ord('A') + (k // len(names) - 1) % 26)}. {last}"
        out.append(name)
    return out


def _release_days(rng: np.random.RandomState, n: int) -> np.ndarray:
    """Most of the catalogue exists from the start; the rest trickles in before the cut-off."""
    return np.where(rng.rand(n) < 0.7, 0.0, rng.uniform(0, COLD_START_AFTER_DAY, n))


def _build_series(rng, item_theme_idx, n_themes, n_cold):
    """Groups items of a theme into series with release days in part order.

    Returns (series list of item-index arrays, release days of their items,
    number of series parts released after the cut-off).
    """
    last_release = HORIZON_DAYS - LAST_RELEASE_BEFORE_END_DAYS
    target = int(round(len(item_theme_idx) * SERIES_SHARE))
    # A series' theme is drawn uniformly (themes are of about equal size).
    pool = [list(rng.permutation(np.flatnonzero(item_theme_idx == t))) for t in range(n_themes)]
    series, release, cold_parts, placed = [], {}, 0, 0
    for _ in range(100 * target):  # bounded: tiny catalogues may not fit the target
        if placed >= target:
            break
        t = rng.randint(n_themes)
        length = rng.randint(2, 6)
        if len(pool[t]) < length:
            if all(len(p) < 2 for p in pool):
                break
            continue
        members = [pool[t].pop() for _ in range(length)]
        days = [float(_release_days(rng, 1)[0])]
        for _ in range(length - 1):
            days.append(days[-1] + rng.uniform(*SERIES_GAP_DAYS))
        kept = []
        for m, d in zip(members, days):
            after_cutoff = d > COLD_START_AFTER_DAY
            if d > last_release or (after_cutoff and cold_parts >= n_cold):
                break
            cold_parts += after_cutoff
            kept.append(m)
            release[m] = d
        pool[t].extend(members[len(kept):])  # parts not released in time stay ordinary items
        if len(kept) >= 2:
            series.append(np.array(kept))
            placed += len(kept)
        elif kept:
            pool[t].append(kept[0])
            cold_parts -= release.pop(kept[0]) > COLD_START_AFTER_DAY
    return series, release, cold_parts


def generate(config: GeneratorConfig) -> GeneratedData:
    """Builds the catalogue, users and interactions; same config, same output."""
    rng = np.random.RandomState(config.seed)
    theme_names = sorted(THEMES)
    n_themes = len(theme_names)
    n_items = config.num_items

    # Items: theme, series, release time, popularity (Zipf rank within the theme), text.
    item_ids = [f"i{n:05d}" for n in range(1, n_items + 1)]
    item_theme_idx = rng.randint(n_themes, size=n_items)
    n_cold = int(round(n_items * config.cold_start_fraction))
    series, series_release, series_cold = _build_series(rng, item_theme_idx, n_themes, n_cold)
    release_day = _release_days(rng, n_items)
    in_series = np.zeros(n_items, dtype=bool)
    previous_part = np.full(n_items, -1)  # the part a user must have taken first
    next_part = np.full(n_items, -1)
    part_number = np.zeros(n_items, dtype=int)
    for members in series:
        in_series[members] = True
        part_number[members] = np.arange(1, len(members) + 1)
        previous_part[members[1:]] = members[:-1]
        next_part[members[:-1]] = members[1:]
        release_day[members] = [series_release[m] for m in members]
    others = np.flatnonzero(~in_series)
    cold = rng.choice(others, size=min(len(others), max(0, n_cold - series_cold)), replace=False)
    release_day[cold] = rng.uniform(
        COLD_START_AFTER_DAY + 1, HORIZON_DAYS - LAST_RELEASE_BEFORE_END_DAYS, size=len(cold)
    )
    popularity = np.empty(n_items)
    for t in range(n_themes):
        members = np.flatnonzero(item_theme_idx == t)
        ranks = rng.permutation(len(members)) + 1
        popularity[members] = 1.0 / ranks**1.6
    series_of = {}
    for s, (members, name) in enumerate(zip(series, _series_names(rng, len(series)))):
        for m in members:
            series_of[m] = (f"s{s + 1:04d}", name)
    items = []
    for i, item_id in enumerate(item_ids):
        theme = THEMES[theme_names[item_theme_idx[i]]]
        name = series_of[i][1] if i in series_of else ""
        items.append({
            "item_id": item_id,
            "title": _title(rng, theme["words"], name, part_number[i]),
            "description": _description(rng, theme["words"], name, part_number[i]),
            "tags": _tags(rng, theme["tags"]),
            "release_timestamp": int(START_TIME + release_day[i] * DAY),
        })

    # Users: a main theme, usually a second and sometimes a third; for most, the
    # main interest gives way to a new theme at a random time.
    user_ids = [f"u{n:05d}" for n in range(1, config.num_users + 1)]
    pref_start = np.zeros((config.num_users, n_themes))
    pref_end = np.zeros((config.num_users, n_themes))
    switch_day = np.full(config.num_users, np.inf)
    user_themes, user_drift = {}, {}
    for u in range(config.num_users):
        n_liked = rng.choice([1, 2, 3], p=[0.3, 0.45, 0.25])
        chosen = list(rng.choice(n_themes, size=n_liked, replace=False))
        pref_start[u, chosen] = [1.0] + list(rng.uniform(0.3, 0.7, size=n_liked - 1))
        pref_end[u] = pref_start[u]
        user_themes[user_ids[u]] = [theme_names[t] for t in chosen]
        if rng.rand() < DRIFT_SHARE:
            new = rng.choice([t for t in range(n_themes) if t not in chosen])
            pref_end[u, chosen[0]] = DRIFT_LEFTOVER
            pref_end[u, new] = 1.0
            switch_day[u] = rng.uniform(0.15 * HORIZON_DAYS, 0.85 * HORIZON_DAYS)
            user_themes[user_ids[u]].append(theme_names[new])
            user_drift[user_ids[u]] = (float(switch_day[u]), theme_names[chosen[0]], theme_names[new])
    pref_start /= pref_start.sum(axis=1, keepdims=True)
    pref_end /= pref_end.sum(axis=1, keepdims=True)

    # Activity is long-tailed too; counts sum to num_interactions (a user who has taken
    # everything available skips a turn: only in tiny catalogues, e.g. 1,495 of 1,500
    # interactions at 120 items and 40 users).
    activity = rng.lognormal(0.0, 0.6, size=config.num_users)
    counts = np.maximum(3, np.floor(activity / activity.sum() * config.num_interactions)).astype(int)
    while counts.sum() > config.num_interactions:
        counts[np.argmax(counts)] -= 1
    np.add.at(counts, rng.randint(config.num_users, size=config.num_interactions - counts.sum()), 1)

    interactions = []
    members_by_theme = [np.flatnonzero(item_theme_idx == t) for t in range(n_themes)]
    everything = np.arange(n_items)
    has_previous = previous_part >= 0
    for u in range(config.num_users):
        days = np.sort(rng.uniform(0, HORIZON_DAYS, size=counts[u]))
        taken = np.zeros(n_items, dtype=bool)
        pending: Dict[int, float] = {}  # next part -> day from which the user wants it
        for n, day in enumerate(days):
            s = 1.0 / (1.0 + math.exp(-min(50.0, max(-50.0, (day - switch_day[u]) / DRIFT_WIDTH_DAYS))))
            pref = (1.0 - s) * pref_start[u] + s * pref_end[u]
            due = [(d, m) for m, d in pending.items() if d <= day]
            if due:  # a follow-up the user has been waiting for
                item = min(due)[1]
                del pending[item]
            else:
                explore = rng.rand() < EXPLORATION
                theme = rng.randint(n_themes) if explore else _draw(rng, pref)
                item = -1
                for pool in (members_by_theme[theme], everything):  # theme used up: anything
                    available = (
                        (release_day[pool] <= day)
                        & ~taken[pool]
                        & (~has_previous[pool] | taken[np.maximum(previous_part[pool], 0)])
                    )
                    candidates = pool[available]
                    if len(candidates):
                        age = day - release_day[candidates]
                        weights = popularity[candidates] * (1.0 + NOVELTY_BOOST * np.exp(-age / NOVELTY_DAYS))
                        item = candidates[_draw(rng, weights)]
                        break
                if item < 0:
                    continue  # nothing left to take (tiny catalogues only)
                pending.pop(item, None)
            taken[item] = True
            liked = pref[item_theme_idx[item]] >= LIKED_SHARE
            rating = (3 + _draw(rng, LIKED_RATINGS)) if liked else (1 + _draw(rng, DISLIKED_RATINGS))
            follow = next_part[item]
            if follow >= 0 and not taken[follow] and rng.rand() < FOLLOW_UP_BY_RATING[rating]:
                pending[follow] = max(day, release_day[follow]) + rng.exponential(FOLLOW_UP_DELAY_DAYS)
            interactions.append({
                "user_id": user_ids[u],
                "item_id": item_ids[item],
                "rating": float(rating),
                # A per-user offset keeps a user's timestamps distinct.
                "timestamp": int(START_TIME + day * DAY) + n + 1,
            })
    interactions.sort(key=lambda r: (r["timestamp"], r["user_id"]))
    return GeneratedData(
        items=items,
        users=[{"user_id": u} for u in user_ids],
        interactions=interactions,
        item_theme={item_ids[i]: theme_names[item_theme_idx[i]] for i in range(n_items)},
        user_themes=user_themes,
        item_series={item_ids[i]: (series_of[i][0], int(part_number[i])) for i in sorted(series_of)},
        user_drift=user_drift,
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
