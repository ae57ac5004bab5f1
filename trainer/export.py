"""The exported SavedModel: the product's contract with serving.

Self-contained: the transform graph (tokenizer, id vocabularies), the trained
towers and ranking head, and the whole item catalogue (ids, titles, candidate
embeddings) are inside, so it answers with the pipeline's folders deleted.

Signatures (batch dimension first; clients send what they have):

``serving_default(user_id: string[B], history_item_ids: string[B])``
    -> ``item_ids: string[B, top_k]``, ``titles: string[B, top_k]``,
    ``scores: float[B, top_k]``.
    ``history_item_ids`` are the user's item ids, most recent first,
    space-separated (send the whole history, the raw log if need be: an item
    repeated counts once, where most recent, as data preparation builds the
    training examples' histories; the history affinity and the
    item-item term read up to ``data.max_history_items``). The query tower
    reads the text embeddings of the ``model.sequence_items`` most recent
    items (``model.query_tower = "sequence"``) or the history text the model
    builds from the titles of the ``data.history_length`` most recent
    (``"text"``), both from its catalogue. It
    retrieves ``retrieve_k`` candidates over the whole catalogue (items in the
    history excluded), re-ranks them (the fitted re-ranker, or the ranking head
    plus the score terms where the re-ranker's gate left it out) and returns the best
    ``top_k`` with their ranking probabilities (a softmax of the ranking logits
    over the retrieved list: the chance that each is the user's next pick).
``retrieve(user_id, history_item_ids)``
    -> ``item_ids``, ``titles``: string[B, retrieve_k], ``scores`` (retrieval
    score: cosine similarity / temperature + the item's popularity prior + the
    fitted score terms, ``trainer/score_terms.py``).
``rank(user_id, history_item_ids, candidate_ids: string[B, C])``
    -> ``scores: float[B, C]`` (ranking probability: softmax over the given
    candidates of the ranking logits; 0 for an unavailable candidate).

Items marked unavailable or withdrawn (``item_available``, set by ``bertrec
index``: ``trainer/catalogue_refresh.py``) are never retrieved or returned;
they stay in the catalogue, so histories still read them. Where fewer items
than asked for can be returned (history and unavailable items excluded), the
remaining slots hold an empty id and title with score 0.
``evaluate(examples: string[B])`` serialized raw tf.Examples (what TFMA feeds)
    -> per example: ``retrieval_hit`` (target item among the top ``recall_k``
    retrieved), ``ranked_hit`` (among the final ``top_k``), ``ranked_ndcg`` and
    ``ranked_reciprocal_rank``: float[B] (see ``RecommenderServer.evaluate``).

The three client signatures check their requests inside the graph, so stock
TensorFlow Serving and the local server reject the same requests with the same
INVALID_ARGUMENT message: batch sizes that differ between inputs or exceed
``serve.max_batch_size``, an empty ``history_item_ids`` (unknown ids in a
non-empty history are skipped), strings over ``serve.max_input_bytes``, and
candidate lists that are empty, longer than ``serve.max_candidates`` or name
items not in the catalogue.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List, NamedTuple, Optional

import numpy as np
import tensorflow as tf

from bertrec import features as F
from bertrec.config import Config
from serving import warmup
from trainer import catalogue_kit, history, partitioned_index, score_terms
from trainer.inputs import HISTORY_EMBEDDINGS, HISTORY_INDEX, HISTORY_MASK
from trainer.reranker import features as reranker_features


class Context(NamedTuple):
    """What every stage needs of a batch of requests (``RecommenderServer._context``)."""

    history_rows: tf.RaggedTensor  # catalogue rows of the history, most recent first
    query: tf.Tensor  # query embeddings [B, D]
    user_index: tf.Tensor  # user vocabulary indices [B]
    terms: List[Any]  # each score term's state (``trainer.score_terms.ScoreTerms.prepare``)


class RecommenderServer(tf.Module):
    """Raw features in, ranked items out (see module docstring)."""

    def __init__(self, model, tft_layer, catalogue: Dict[str, np.ndarray], config: Config,
                 terms: Optional[score_terms.ScoreTerms] = None):
        """``terms``: the fitted score terms (None: none). The ranking stage is the
        ranking head's logits plus the terms until a fitted ``reranker``
        (``trainer.reranker``) is set."""
        super().__init__(name="bertrec")
        self.model = model
        self.reranker: Optional[tf.keras.Model] = None
        self.tft_layer = tft_layer
        self._history_length = config.data.history_length
        self._sequence_items = config.model.sequence_items
        n = len(catalogue["ids"])
        self._top_k = min(config.serve.top_k, n)
        self._retrieve_k = min(config.serve.retrieve_k, n)
        self._recall_k = min(config.evaluate.recall_k, n)
        self._max_batch_size = config.serve.max_batch_size
        self._max_candidates = config.serve.max_candidates
        self._max_input_bytes = config.serve.max_input_bytes
        self.item_ids = tf.constant(catalogue["ids"], dtype=tf.string)
        self.item_titles = tf.constant(catalogue["titles"], dtype=tf.string)
        self.item_vocab_index = tf.constant(catalogue["vocab_index"], dtype=tf.int64)
        self.item_released = tf.constant(catalogue["released"], dtype=tf.int64)
        self.item_embeddings = tf.Variable(catalogue["embeddings"], trainable=False, name="item_embeddings")
        self.item_priors = tf.Variable(catalogue["priors"], trainable=False, name="item_priors")
        # Unavailable items (withdrawn, out of stock, blocked: ``bertrec index``) are
        # never returned; they stay in the catalogue, so histories still read them.
        available = catalogue.get("available")
        self.item_available = tf.Variable(np.ones(n, dtype=bool) if available is None else available,
                                          trainable=False, name="item_available")
        # What the sequence query tower reads per history item (``trainer.catalogue_cache``).
        self.item_history_embeddings = (
            tf.Variable(catalogue["history_embeddings"], trainable=False, name="item_history_embeddings")
            if model.reads_history_sequence else None
        )
        # A term the fit left without effect costs requests nothing: it is not
        # computed (nor exported) at all. The terms share the server's catalogue.
        self.score_terms = score_terms.ScoreTerms(
            [] if terms is None else terms.active().terms, self.item_embeddings, self.item_released,
            config.data.max_history_items,
        )
        self._index = config.serve.index
        if self._index == "partitioned":
            centroids, members = partitioned_index.build(
                catalogue["embeddings"], catalogue["priors"], config.model.temperature,
                partitioned_index.partitions_for(n, config.serve.index_partitions), config.serve.index_prior_weight,
                config.train.seed)
            self.index_centroids = tf.Variable(centroids, trainable=False, name="index_centroids")
            self.index_members = tf.Variable(members, trainable=False, name="index_members")
            # Enough partitions to fill a retrieved list past a long history, even from the smallest pieces.
            smallest = np.cumsum(np.sort((members >= 0).sum(axis=1)))
            enough = int(np.searchsorted(smallest, self._retrieve_k + config.data.max_history_items)) + 1
            # A variable, not a constant of the graph: one exported index serves any probe count.
            self.index_probe = tf.Variable(min(len(centroids), max(config.serve.index_probe, enough)),
                                           trainable=False, dtype=tf.int32, name="index_probe")
        self.item_row = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(self.item_ids, tf.range(n, dtype=tf.int64)), default_value=-1
        )

    # -- request checks ------------------------------------------------------
    def _check_context(self, user_id: tf.Tensor, history_item_ids: tf.Tensor):
        """Assertions on the user side of a request (INVALID_ARGUMENT when violated)."""
        batch = tf.size(user_id)
        limit = self._max_input_bytes

        def examples_where(condition):
            return tf.reshape(tf.where(condition), [-1])

        history_empty = tf.equal(tf.strings.length(tf.strings.strip(history_item_ids)), 0)
        return [
            tf.debugging.Assert(
                tf.equal(batch, tf.size(history_item_ids)),
                ["user_id and history_item_ids differ in batch size:", batch, tf.size(history_item_ids)],
            ),
            tf.debugging.Assert(
                tf.logical_and(batch >= 1, batch <= self._max_batch_size),
                [f"batch size must be 1..{self._max_batch_size}, got", batch],
            ),
            tf.debugging.Assert(
                tf.reduce_all(tf.strings.length(user_id) <= limit),
                [f"user_id longer than {limit} bytes in example(s)",
                 examples_where(tf.strings.length(user_id) > limit)],
            ),
            tf.debugging.Assert(
                tf.reduce_all(tf.strings.length(history_item_ids) <= limit),
                [
                    f"history_item_ids longer than {limit} bytes in example(s)",
                    examples_where(tf.strings.length(history_item_ids) > limit),
                ],
            ),
            tf.debugging.Assert(
                tf.logical_not(tf.reduce_any(history_empty)),
                ["history_item_ids is empty (send the user's recent item ids) in example(s)",
                 examples_where(history_empty)],
            ),
        ]

    def _check_candidates(self, candidate_ids: tf.Tensor, rows: tf.Tensor, batch: tf.Tensor):
        """Assertions on ``rank``'s candidate lists."""
        count = tf.shape(candidate_ids)[1]
        return [
            tf.debugging.Assert(
                tf.equal(tf.shape(candidate_ids)[0], batch),
                ["candidate_ids has a different batch size than user_id:", tf.shape(candidate_ids)[0], batch],
            ),
            tf.debugging.Assert(
                tf.logical_and(count >= 1, count <= self._max_candidates),
                [f"candidate_ids must list 1..{self._max_candidates} items per example, got", count],
            ),
            tf.debugging.Assert(
                tf.reduce_all(rows >= 0),
                ["candidate_ids not in the catalogue:", tf.boolean_mask(candidate_ids, rows < 0)],
                summarize=20,
            ),
        ]

    # -- building blocks ---------------------------------------------------
    def _history_rows(self, history_item_ids: tf.Tensor) -> tf.RaggedTensor:
        """Catalogue rows of the history ids (unknown ids skipped), as ragged [B, None]."""
        return history.history_rows(self.item_row, history_item_ids)

    def _encode_query(self, user_id: tf.Tensor, history_rows: tf.RaggedTensor):
        """Query embeddings [B, D] and user vocabulary indices [B]."""
        if self.model.reads_history_sequence:
            features = dict(zip(
                (HISTORY_EMBEDDINGS, HISTORY_INDEX, HISTORY_MASK),
                history.sequence_inputs(history_rows, self.item_history_embeddings, self.item_vocab_index,
                                        self._sequence_items),
            ))
            features[F.USER_INDEX] = self.tft_layer({F.USER_ID: user_id})[F.USER_INDEX]
        else:
            recent = history_rows[:, : self._history_length]
            text = tf.strings.reduce_join(
                tf.gather(self.item_titles, recent), axis=-1, separator=F.HISTORY_TEXT_SEPARATOR
            )
            features = self.tft_layer({F.USER_ID: user_id, F.HISTORY_TEXT: text})
        return self.model.encode_query(features, training=False), features[F.USER_INDEX]

    def _context(self, user_id: tf.Tensor, history_item_ids: tf.Tensor, request_time=None) -> Context:
        """What every stage needs of a request; ``request_time`` [B] in seconds
        (None or <= 0: the server's clock)."""
        history_rows = self._history_rows(history_item_ids)
        query, user_index = self._encode_query(user_id, history_rows)
        now = tf.fill(tf.shape(user_id), tf.cast(tf.timestamp(), tf.int64))
        request_time = now if request_time is None else tf.where(request_time > 0, request_time, now)
        return self.context_of(history_rows, query, user_index, request_time)

    def context_of(self, history_rows: tf.RaggedTensor, query: tf.Tensor, user_index: tf.Tensor,
                   request_time: tf.Tensor) -> Context:
        """The context of requests whose query embeddings are already computed
        (the Trainer's, for validation examples)."""
        return Context(history_rows, query, user_index, self.score_terms.prepare(history_rows, request_time))

    def _catalogue_scores(self, context: Context) -> tf.Tensor:
        """Retrieval scores [B, N] of every catalogue item."""
        scores = self.model.retrieval_scores(context.query, self.item_embeddings, self.item_priors)
        return scores + self.score_terms.scores(context.terms)

    def _retrieve(self, context: Context, k: int):
        """Top-k retrieval scores and catalogue rows over the whole catalogue (or
        the partitions the index probes), history rows masked."""
        if self._index == "partitioned":
            return self._retrieve_partitioned(context, k)
        scores = self._catalogue_scores(context)
        history = context.history_rows
        excluded = tf.scatter_nd(
            tf.stack([history.value_rowids(), history.flat_values], axis=1),
            tf.ones_like(history.flat_values, dtype=tf.float32),
            tf.shape(scores, out_type=tf.int64),
        )
        return self._top(scores, excluded > 0, k)

    def _retrieve_partitioned(self, context: Context, k: int):
        """Top-k retrieval scores and catalogue rows among the items of the
        ``serve.index_probe`` partitions nearest each query (``trainer.partitioned_index``)."""
        query = tf.concat([context.query, tf.ones_like(context.query[:, :1])], axis=1)  # [query, 1]
        probed = tf.math.top_k(tf.matmul(query, self.index_centroids, transpose_b=True), k=self.index_probe).indices
        rows = tf.reshape(tf.gather(self.index_members, probed), [tf.shape(probed)[0], -1])  # [B, probe x width]
        padding = rows < 0
        rows = tf.where(padding, tf.zeros_like(rows), rows)
        scores = self.model.candidate_scores(context.query, tf.gather(self.item_embeddings, rows),
                                             tf.gather(self.item_priors, rows))
        scores += self.score_terms.scores(context.terms, rows)
        history = context.history_rows.to_tensor(-1)
        in_history = tf.reduce_any(tf.equal(rows[:, :, tf.newaxis], history[:, tf.newaxis, :]), axis=-1)
        excluded = padding | in_history | tf.logical_not(tf.gather(self.item_available, rows))
        top = tf.math.top_k(tf.where(excluded, tf.fill(tf.shape(scores), -np.inf), scores), k=k)
        return top.values, tf.gather(rows, top.indices, batch_dims=1)

    def _top(self, scores: tf.Tensor, excluded: tf.Tensor, k: int):
        """Top-k scores and catalogue rows of scores [B, N], where ``excluded`` [B, N]
        is False and the item is available."""
        excluded = tf.logical_or(excluded, tf.logical_not(self.item_available)[tf.newaxis, :])
        top = tf.math.top_k(tf.where(excluded, tf.fill(tf.shape(scores), -np.inf), scores), k=k)
        return top.values, tf.cast(top.indices, tf.int64)

    def _rank(self, context: Context, rows: tf.Tensor) -> tf.Tensor:
        """Ranking logits [B, C] of catalogue rows [B, C]."""
        if self.reranker is not None:
            return self.reranker(self.rank_features(context, rows))
        candidates = tf.gather(self.item_embeddings, rows)
        logits = self.model.ranking_logits(
            context.query, candidates, tf.gather(self.item_priors, rows), context.user_index,
            tf.gather(self.item_vocab_index, rows),
        )
        return logits + self.score_terms.scores(context.terms, rows)

    def rank_features(self, context: Context, rows: tf.Tensor) -> tf.Tensor:
        """The re-ranker's features [B, C, F] of catalogue rows [B, C] (``trainer.reranker.features``)."""
        candidates = tf.gather(self.item_embeddings, rows)
        priors = tf.gather(self.item_priors, rows)
        terms = [term.scores(state, rows) for term, state in zip(self.score_terms.terms, context.terms)]
        retrieval = self.model.candidate_scores(context.query, candidates, priors) + sum(terms, 0.0)
        head = self.model.ranking_logits(context.query, candidates, priors, context.user_index,
                                         tf.gather(self.item_vocab_index, rows))
        recent = context.history_rows[:, : self._sequence_items]
        recent_embeddings = tf.gather(self.item_embeddings, recent.to_tensor(0, shape=[None, self._sequence_items]))
        mask = tf.sequence_mask(recent.row_lengths(), self._sequence_items)
        return reranker_features(retrieval, head, priors, terms, candidates, recent_embeddings, mask)

    def retrieved_features(self, query: tf.Tensor, user_index: tf.Tensor, history_item_ids: tf.Tensor,
                           request_time: tf.Tensor):
        """(rows [B, K], re-ranker features [B, K, F]) of the ``retrieve_k`` items
        retrieval returns for requests with known query embeddings: what the
        re-ranker is fitted on (``trainer.task``), by the serving code."""
        context = self.context_of(self._history_rows(history_item_ids), query, user_index, request_time)
        _, rows = self._retrieve(context, self._retrieve_k)
        return rows, self.rank_features(context, rows)

    def _recommend(self, context: Context):
        """(retrieved scores, retrieved rows, ranked scores, ranked rows, ranked
        filled): every retrieved item, in retrieval order and re-ranked (callers
        keep the top_k). A slot retrieval could not fill (fewer recommendable
        items than ``retrieve_k``: its score is -inf) ranks last, not filled."""
        retrieved_scores, retrieved_rows = self._retrieve(context, self._retrieve_k)
        filled = tf.math.is_finite(retrieved_scores)
        probabilities = self._softmax_over(self._rank(context, retrieved_rows), filled)
        order = tf.math.top_k(probabilities, k=self._retrieve_k)
        ranked_rows = tf.gather(retrieved_rows, order.indices, batch_dims=1)
        ranked_filled = tf.gather(filled, order.indices, batch_dims=1)
        return retrieved_scores, retrieved_rows, order.values, ranked_rows, ranked_filled

    @staticmethod
    def _softmax_over(logits: tf.Tensor, keep: tf.Tensor) -> tf.Tensor:
        """Softmax [B, K] of ``logits`` over the entries ``keep`` marks; 0 elsewhere
        (also where a row keeps none: softmax alone would give NaN)."""
        probabilities = tf.nn.softmax(tf.where(keep, logits, -np.inf), axis=-1)
        return tf.where(keep, probabilities, 0.0)

    def _items(self, rows: tf.Tensor, scores: tf.Tensor, filled: tf.Tensor) -> Dict[str, tf.Tensor]:
        """A signature's answer for catalogue rows [B, K]; a slot not ``filled``
        (fewer recommendable items than asked for) is an empty id and title, score 0."""
        return {
            F.OUT_ITEM_IDS: tf.where(filled, tf.gather(self.item_ids, rows), ""),
            F.OUT_TITLES: tf.where(filled, tf.gather(self.item_titles, rows), ""),
            F.OUT_SCORES: tf.where(filled, scores, 0.0),
        }

    # -- signatures ----------------------------------------------------------
    @tf.function(input_signature=[
        tf.TensorSpec([None], tf.string, name=F.USER_ID),
        tf.TensorSpec([None], tf.string, name=F.HISTORY_ITEM_IDS),
    ])
    def serve(self, user_id, history_item_ids):
        """Top-k recommendations: retrieval over the catalogue, then re-ranking."""
        with tf.control_dependencies(self._check_context(user_id, history_item_ids)):
            _, _, scores, rows, filled = self._recommend(self._context(user_id, history_item_ids))
            return self._items(rows[:, : self._top_k], scores[:, : self._top_k], filled[:, : self._top_k])

    @tf.function(input_signature=[
        tf.TensorSpec([None], tf.string, name=F.USER_ID),
        tf.TensorSpec([None], tf.string, name=F.HISTORY_ITEM_IDS),
    ])
    def retrieve(self, user_id, history_item_ids):
        """The retrieval stage alone: the retrieve_k best-scored items."""
        with tf.control_dependencies(self._check_context(user_id, history_item_ids)):
            scores, rows = self._retrieve(self._context(user_id, history_item_ids), self._retrieve_k)
            return self._items(rows, scores, tf.math.is_finite(scores))

    @tf.function(input_signature=[
        tf.TensorSpec([None], tf.string, name=F.USER_ID),
        tf.TensorSpec([None], tf.string, name=F.HISTORY_ITEM_IDS),
        tf.TensorSpec([None, None], tf.string, name=F.CANDIDATE_IDS),
    ])
    def rank(self, user_id, history_item_ids, candidate_ids):
        """The ranking stage alone: ranking probabilities of the given candidates."""
        rows = self.item_row.lookup(candidate_ids)
        checks = self._check_context(user_id, history_item_ids)
        checks += self._check_candidates(candidate_ids, rows, tf.size(user_id))
        with tf.control_dependencies(checks):
            context = self._context(user_id, history_item_ids)
            available = tf.gather(self.item_available, rows)
            return {F.OUT_SCORES: self._softmax_over(self._rank(context, rows), available)}

    # -- offline evaluation hooks (saved functions, not serving signatures) ----------
    @tf.function(input_signature=[
        tf.TensorSpec([None], tf.string, name=F.USER_ID),
        tf.TensorSpec([None], tf.string, name=F.HISTORY_ITEM_IDS),
        tf.TensorSpec([None, None], tf.bool, name="excluded"),
        tf.TensorSpec([None], tf.int64, name="request_time"),
    ])
    def score_catalogue(self, user_id, history_item_ids, excluded, request_time):
        """Both stages over the whole catalogue, without request limits, encoding
        each query once (``bertrec evaluate``). ``excluded`` [B, N] marks the
        catalogue rows (in ``catalogue_ids`` order) not to retrieve;
        ``request_time`` [B] is each request's time in seconds. Returns the
        retrieval ``scores`` [B, N] of every row (nothing excluded), the
        ``retrieve_k`` best rows not excluded (``rows`` [B, K], in retrieval
        order) and their ranking ``logits`` [B, K]."""
        context = self._context(user_id, history_item_ids, request_time)
        scores = self._catalogue_scores(context)
        _, rows = self._top(scores, excluded, self._retrieve_k)
        return {"scores": scores, "rows": rows, "logits": self._rank(context, rows)}

    @tf.function(input_signature=[])
    def catalogue_ids(self):
        """The catalogue's item ids, in the column order of ``score_catalogue``."""
        return self.item_ids

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def evaluate(self, examples):
        """For TFMA: serialized raw examples in; per example, where the target item
        landed (the history's items excluded, as serving does). Means over examples:

        - ``retrieval_hit``: target among the top ``recall_k`` retrieved (recall@recall_k);
        - ``ranked_hit``: among the final ``top_k`` (recall@top_k);
        - ``ranked_ndcg``: 1 / log2(2 + rank) in the final ``top_k``, else 0 (NDCG@top_k);
        - ``ranked_reciprocal_rank``: 1 / (1 + rank) in the re-ranked ``retrieve_k``,
          else 0 (MRR, a target retrieval missed counting as 0).
        """
        features = {name: tf.io.FixedLenFeature([], tf.string, default_value="")
                    for name in F.SERVING_INPUTS + (F.ITEM_ID,)}
        features[F.TIMESTAMP] = tf.io.FixedLenFeature([], tf.int64, default_value=0)
        parsed = tf.io.parse_example(examples, features)
        context = self._context(parsed[F.USER_ID], parsed[F.HISTORY_ITEM_IDS], parsed[F.TIMESTAMP])
        _, retrieved_rows, _, ranked_rows, _ = self._recommend(context)
        target = self.item_row.lookup(parsed[F.ITEM_ID])[:, tf.newaxis]

        def hit(rows):
            return tf.cast(tf.reduce_any(tf.equal(rows, target), axis=1), tf.float32)

        # 0-based position of the target in the re-ranked list (retrieve_k when absent).
        found = tf.equal(ranked_rows, target)
        rank = tf.cast(tf.where(tf.reduce_any(found, axis=1), tf.argmax(tf.cast(found, tf.int32), axis=1),
                                self._retrieve_k), tf.float32)
        in_top = tf.cast(rank < self._top_k, tf.float32)
        return {
            F.EVAL_RETRIEVAL_HIT: hit(retrieved_rows[:, : self._recall_k]),
            F.EVAL_RANKED_HIT: in_top,
            F.EVAL_RANKED_NDCG: in_top / (tf.math.log(rank + 2.0) / tf.math.log(2.0)),
            F.EVAL_RANKED_RECIPROCAL_RANK: tf.cast(rank < self._retrieve_k, tf.float32) / (rank + 1.0),
        }

    def signatures(self):
        """The concrete functions to save, by signature name."""
        return {
            F.SIGNATURE_DEFAULT: self.serve.get_concrete_function(),
            F.SIGNATURE_RETRIEVE: self.retrieve.get_concrete_function(),
            F.SIGNATURE_RANK: self.rank.get_concrete_function(),
            F.SIGNATURE_EVALUATE: self.evaluate.get_concrete_function(),
        }


#: What training cost, beside the model (``assets.extra/``; TF Serving ignores it).
TRAINING_SUMMARY = "training.json"


def export(server: RecommenderServer, path: str, config: Config, training_summary: dict,
           kit: catalogue_kit.Kit) -> None:
    """Saves the server as a SavedModel with its signatures, TF Serving warm-up
    requests built from its catalogue, the training summary and the catalogue
    ``kit`` that ``bertrec index`` refreshes the catalogue from (``assets.extra/``)."""
    tf.saved_model.save(server, path, signatures=server.signatures())
    kit.write(path)
    item_ids = [i.decode() for i in server.item_ids.numpy()]
    warmup.write(path, warmup.build(item_ids, config.serve.max_batch_size, config.serve.max_candidates))
    with tf.io.gfile.GFile(os.path.join(path, "assets.extra", TRAINING_SUMMARY), "w") as f:
        f.write(json.dumps(training_summary, indent=2))
