"""The report's comparison models, each fitted on the training log and tuned on validation.

:func:`comparison_models` yields them in report order, ready to score the
report's split. Two of them reuse the model's own post-training score terms
(``trainer/score_terms.py``) on other
base scores, through :class:`ScoreTermsModel`: the score terms alone (a
popularity prior, no towers) and the pretrained encoder zero-shot.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Iterator, Optional, Sequence

import numpy as np

from bertrec import features as F
from bertrec.config import Config
from bertrec.evaluation import baselines as B
from bertrec.evaluation.tuning import tune


@dataclasses.dataclass
class Fitted:
    """A comparison model ready to score, with what it sees and what validation chose."""

    name: str
    model: B.Baseline
    sees: str
    chosen: Optional[dict]


class ScoreTermsModel(B.Baseline):
    """``base(params)`` plus the model's score terms, all fitted on validation.

    ``base(requests, **params)`` gives [B, N] base scores; ``grid`` lists its
    params, chosen by the full-catalogue softmax likelihood of the validation
    targets (as the Trainer fits its terms); then the enabled terms
    (``config.model``, built by ``trainer.score_terms.build``) are fitted given
    that base: the history affinity (only with ``item_embeddings``), freshness
    (only when some release time is known) and item-item (EASE of the training
    log, the model's knobs).
    """

    def __init__(self, base: Callable[..., np.ndarray], grid: Sequence[dict], config: Config,
                 released: np.ndarray, item_embeddings: Optional[np.ndarray] = None, sees: str = ""):
        self.base, self.grid, self.config = base, list(grid), config
        self.released, self.item_embeddings, self.sees = np.asarray(released, np.int64), item_embeddings, sees
        self.chosen: dict = {}

    def fit(self, log: B.TrainingLog, validation: B.Validation) -> "ScoreTermsModel":
        """Chooses the base's params, then fits the terms, on (a sample of) ``validation``."""
        from trainer import likelihood, score_terms

        self.num_items = log.num_items
        t = self.config.train
        rows = score_terms.fit_sample(len(validation.targets), t.validation_examples, t.seed)
        requests, targets = validation.requests[rows], validation.targets[rows]
        excluded = likelihood.excluded_rows(self.num_items, requests.contexts, targets)
        search = likelihood.grid_search(
            np.zeros((len(targets), self.num_items), np.float32),
            ((params, self.base(requests, **params).astype(np.float32)) for params in self.grid), excluded, targets,
        )
        self.params = search.params or self.grid[0]
        self.terms = score_terms.build(self.config, self.item_embeddings, self.released, (log.users, log.items))
        summary = self.terms.fit(self.base(requests, **self.params).astype(np.float32), requests.contexts, targets,
                                 requests.times)
        self.chosen = {**self.params, **score_terms.summary_of(summary)}
        return self

    def _score(self, requests: B.Requests) -> np.ndarray:
        return self.base(requests, **self.params) + self.terms.apply(requests.contexts, requests.times)


def popularity_prior(requests: B.Requests, weight: float, log_counts: np.ndarray) -> np.ndarray:
    """``weight * log(1 + training count)`` for every request [B, N]."""
    return np.broadcast_to(weight * log_counts, (len(requests), len(log_counts))).astype(np.float64)


def zero_shot(requests: B.Requests, temperature: float, weight: float, *, encoder, titles: Sequence[str],
              history_length: int, item_embeddings: np.ndarray, log_counts: np.ndarray) -> np.ndarray:
    """Cosine of the pretrained encoder's history-text and item embeddings, over
    ``temperature``, plus the popularity prior (as the model's retrieval score);
    popularity breaks ties and decides for an empty history."""
    texts = [F.join_history_text(titles[h] for h in context[:history_length]) for context in requests.contexts]
    cosine = encoder.queries(texts) @ item_embeddings.T
    # No history, nothing to read: popularity decides (as the other baselines back off to it).
    empty = np.array([len(c) == 0 for c in requests.contexts])
    cosine[empty] = 0.0
    return cosine / temperature + weight * log_counts + B.tie_break(np.expm1(log_counts))


def comparison_models(data, config: Config, validation: B.Validation, context_log: B.TrainingLog,
                      log=print) -> Iterator[Fitted]:
    """Yields every comparison model, fitted on ``data.log`` and tuned on
    ``validation``; recent popularity then counts ``context_log``, everything
    the report's requests may see before their time (for the test split, the
    training and validation interactions), as a product counting the recent
    log would."""
    train = data.log
    seed, metric = config.train.seed, config.evaluate.tune_metric
    log_counts = np.log1p(train.counts())

    yield Fitted("most-popular", B.MostPopular().fit(train), B.MostPopular.sees, None)
    tuned = tune(B.RecentPopular, B.RecentPopular.GRID, train, validation, metric)
    recent = B.RecentPopular(**tuned.params).fit(context_log)
    yield Fitted("recent most-popular", recent, B.RecentPopular.sees, tuned.params)
    tuned = tune(functools.partial(B.Ease, basis=B.Ease.decompose(train)), B.Ease.GRID, train, validation, metric)
    yield Fitted("ease", tuned.model, B.Ease.sees, tuned.params)
    # Epochs (early stopping) and Adagrad's step size, both on validation.
    two_towers = [B.IdTwoTower(seed=seed, metric=metric, learning_rate=rate).fit(train, validation)
                  for rate in (0.02, 0.1, 0.5)]
    two_tower = max(two_towers, key=lambda m: max(m.curve))
    yield Fitted("id two-tower", two_tower, two_tower.sees,
                 {"learning_rate": two_tower.learning_rate, "epochs": two_tower.epochs})

    texts = data.item_texts()
    tuned = tune(functools.partial(B.TextSimilarity, texts), B.TextSimilarity.GRID, train, validation, metric)
    text = B.WithTerms(B.TextSimilarity(texts, **tuned.params), data.released, seed=seed).fit(train, validation)
    yield Fitted("text (TF-IDF) + terms", text, text.sees,
                 {**tuned.params, **{k: text.chosen[k] for k in ("scale", "weight", "freshness") if k in text.chosen}})

    prior = functools.partial(popularity_prior, log_counts=log_counts)
    terms = ScoreTermsModel(prior, [{"weight": w} for w in (0.25, 0.5, 0.75, 1.0, 1.5)], config, data.released,
                            sees="training-log counts, the context's item ids (item-item), item age at request time")
    yield Fitted("score terms alone", terms.fit(train, validation), terms.sees, terms.chosen)

    from bertrec.evaluation.zero_shot import PretrainedEncoder

    log(f"  zero-shot: embedding {len(data.items)} items, then the history texts of the validation and "
        "report examples, with the pretrained encoder")
    encoder = PretrainedEncoder(config.model)
    items = data.items
    item_embeddings = encoder.items([i["title"] for i in items], [i["tags"] for i in items],
                                    [i["description"] for i in items])
    base = functools.partial(zero_shot, encoder=encoder, titles=[i["title"] for i in items],
                             history_length=config.data.history_length, item_embeddings=item_embeddings,
                             log_counts=log_counts)
    grid = [{"temperature": t, "weight": w} for t in (0.02, 0.05, 0.1) for w in (0.0, 0.5, 1.0)]
    minilm = ScoreTermsModel(base, grid, config, data.released, item_embeddings,
                             sees="history text and item text through the pretrained encoder (not fine-tuned), "
                                  "training-log counts, the model's score terms")
    yield Fitted(f"{config.model.encoder} zero-shot + terms", minilm.fit(train, validation), minilm.sees,
                 minilm.chosen)
