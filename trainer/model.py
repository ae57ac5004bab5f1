"""The recommender: BERT two-tower retrieval plus a ranking head, one TFRS model.

- Query tower (``model.query_tower``): the sequence of the user's recent items'
  embeddings -> a small transformer (``trainer/sequence_tower.py``), or the
  user's history text -> sentence embedding (the candidate tower's backbone).
- Candidate tower: the item's text -> sentence embedding.
- Retrieval task: in-batch softmax over ``cosine / temperature + item prior``,
  with the log-Q correction for in-batch negatives (they are drawn in
  proportion to popularity; uncorrected, the softmax learns popularity-free
  scores, which rank the long tail too high). The prior is the item's learned
  log-popularity: an id term for items seen in training plus a term read from
  the item's embedding; an unseen (cold-start) item gets that term plus the
  boost new items drew in the training log.
- Ranking stage: re-scores a user's candidates as ``(cosine + correction) /
  temperature + prior``, the correction an MLP over cross features (both embeddings,
  their product, user and item id embeddings), trained listwise: a softmax over
  each user's in-batch list, log-Q corrected like retrieval. Embeddings and
  retrieval scores enter it as constants, so it learns what retrieval misses
  without pulling the towers away from retrieval.
- Fitted after training and added to both stages' scores by the exported
  model: the score terms (``trainer/score_terms.py``).
"""
from __future__ import annotations

from typing import Dict

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

from bertrec import features as F
from bertrec.config import Config
from trainer.encoder import TextEncoder, build_backbone
from trainer.inputs import HISTORY_EMBEDDINGS, HISTORY_INDEX, HISTORY_MASK, ITEM_STATES, ITEM_STATES_MASK
from trainer.sequence_tower import HistorySequenceEncoder
from transforms.preprocessing import NUM_OOV_BUCKETS


class RankingHead(tf.keras.layers.Layer):
    """The ranking stage's correction to a (user, item) retrieval score.

    An MLP over both embeddings, their product and user / item id embeddings;
    its last layer starts at zero, so an untrained head ranks exactly like
    retrieval. Unseen ids share the out-of-vocabulary rows.
    """

    def __init__(self, num_users: int, num_items: int, id_dim: int, hidden_units, **kwargs):
        super().__init__(**kwargs)
        self.user_embedding = tf.keras.layers.Embedding(num_users, id_dim, name="user_id_embedding")
        self.item_embedding = tf.keras.layers.Embedding(num_items, id_dim, name="item_id_embedding")
        self.mlp = tf.keras.Sequential(
            [tf.keras.layers.Dense(units, activation="relu") for units in hidden_units]
            + [tf.keras.layers.Dense(1, kernel_initializer="zeros", dtype="float32")],
            name="mlp",
        )

    def call(self, query, candidate, user_index, item_index):
        """Corrections [batch]; every argument has the same leading (batch) shape."""
        x = tf.concat(
            [query, candidate, query * candidate, self.user_embedding(user_index), self.item_embedding(item_index)],
            axis=-1,
        )
        return tf.squeeze(self.mlp(x), axis=-1)


class ItemPrior(tf.keras.layers.Layer):
    """An item's log-popularity prior in the retrieval score: ``id_bias[item] +
    w . embedding``.

    ``id_bias`` starts at each item's empirical log-popularity (centred on the
    items seen in training): what the log-Q-corrected softmax converges to where
    text tells items apart no further, so training need not walk there one batch
    at a time. The out-of-vocabulary row is never trained (no training positive
    is out of vocabulary) and stays at ``unseen_prior``: an unseen item gets
    that plus the text term, the popularity of items that read like it.
    """

    def __init__(self, item_counts, unseen_prior: float = 0.0, **kwargs):
        """``item_counts`` [num_items]: training interactions per vocabulary index;
        ``unseen_prior``: the id term of items unseen in training, relative to the
        average seen item (see ``trainer.priors.new_item_boost``)."""
        super().__init__(**kwargs)
        counts = np.asarray(item_counts, dtype=np.float64)
        seen = counts > 0
        log_popularity = np.log(np.where(seen, counts, 1.0) / counts.sum())
        initial = np.where(seen, log_popularity - log_popularity[seen].mean(), unseen_prior)
        self.id_bias = tf.keras.layers.Embedding(
            len(counts), 1, embeddings_initializer=tf.keras.initializers.Constant(initial[:, np.newaxis]),
            name="item_id_bias",
        )
        self.text_bias = tf.keras.layers.Dense(1, kernel_initializer="zeros", name="text_bias")

    def call(self, candidate, item_index):
        """[N] priors for candidate embeddings [N, D] and vocabulary indices [N]."""
        return tf.squeeze(self.id_bias(item_index) + self.text_bias(candidate), axis=-1)


class HybridTower(tf.keras.layers.Layer):
    """A tower's embedding: its encoder's (text or history sequence), plus an id
    embedding when enabled, re-normalised.

    The id term lets the model remember what text cannot say about a known user
    or item. Ids past ``num_known`` (the out-of-vocabulary bucket: new users,
    cold-start items) add nothing, so they degrade to the encoder's embedding
    rather than to a shared learned vector.
    """

    def __init__(self, encoder: tf.keras.layers.Layer, num_known: int, use_ids: bool, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.num_known = num_known
        self.id_embedding = (
            tf.keras.layers.Embedding(num_known, dim, embeddings_initializer="zeros", name="id_embedding")
            if use_ids else None
        )

    def id_vectors(self, index):
        """The id term [..., dim] of vocabulary indices [...]: zero for unknown ids
        and when ids are off."""
        if self.id_embedding is None:
            return 0.0
        known = index < self.num_known
        ids = self.id_embedding(tf.where(known, index, tf.zeros_like(index)))
        return ids * tf.cast(known, ids.dtype)[..., tf.newaxis]

    def with_ids(self, embedding, index):
        """``embedding`` [B, dim] from the encoder, with the id term of vocabulary indices [B]."""
        if self.id_embedding is None:
            return embedding
        return tf.math.l2_normalize(embedding + self.id_vectors(index), axis=-1)

    def call(self, inputs, index, training=False):
        """L2-normalised embeddings [B, dim] of the encoder's ``inputs`` and vocabulary indices [B]."""
        return self.with_ids(self.encoder(inputs, training=training), index)


class Recommender(tfrs.Model):
    """Two-tower retrieval + ranking, trained jointly (``compute_loss``)."""

    def __init__(self, config: Config, num_users: int, item_counts, unseen_item_prior: float = 0.0):
        """``item_counts`` [num_items]: training interactions per item vocabulary
        index (out-of-vocabulary bucket included); ``unseen_item_prior``: see
        ``ItemPrior``."""
        super().__init__()
        num_items = len(item_counts)
        # Probability that an item is a training positive, hence an in-batch negative
        # (floored: an item without interactions is never in a batch anyway).
        counts = tf.maximum(tf.constant(item_counts, dtype=tf.float32), 1.0)
        self._item_probability = counts / tf.reduce_sum(counts)
        m = config.model
        self.config = config
        policy = "mixed_bfloat16" if config.train.mixed_precision else None
        backbone = build_backbone(m, max(m.query_sequence_length, m.item_sequence_length), dtype=policy)
        dim = m.projection_dim or backbone.hidden_dim
        if m.query_tower == "sequence":
            query_encoder = HistorySequenceEncoder(
                dim, m.sequence_items, m.sequence_layers, m.sequence_heads, m.sequence_intermediate_dim, m.dropout,
                dtype_policy=policy, name="history_sequence",
            )
        else:
            query_encoder = TextEncoder(backbone, m.projection_dim, name="query_text")
        self.query_tower = HybridTower(
            query_encoder, num_users - NUM_OOV_BUCKETS, m.user_id_embedding, dim, name="query_tower"
        )
        self.candidate_tower = HybridTower(
            TextEncoder(backbone, m.projection_dim, name="candidate_text"),
            num_items - NUM_OOV_BUCKETS, m.item_id_embedding, dim, name="candidate_tower",
        )
        self.item_prior = ItemPrior(item_counts, unseen_item_prior, name="item_prior")
        self.ranking_head = RankingHead(num_users, num_items, m.id_embedding_dim, m.ranking_hidden_units,
                                        name="ranking_head")
        # SUM reduction: Keras under a distribution strategy requires it (the
        # per-replica sums are all-reduced).
        self.retrieval_task = tfrs.tasks.Retrieval(
            loss=tf.keras.losses.CategoricalCrossentropy(from_logits=True, reduction=tf.keras.losses.Reduction.SUM),
            remove_accidental_hits=True,
            batch_metrics=[tf.keras.metrics.TopKCategoricalAccuracy(k=5, name="in_batch_top5")],
        )
        self.ranking_task = tfrs.tasks.Ranking(
            loss=tf.keras.losses.CategoricalCrossentropy(from_logits=True, reduction=tf.keras.losses.Reduction.SUM),
            metrics=[tf.keras.metrics.TopKCategoricalAccuracy(k=5, name="ranked_in_batch_top5")],
        )

    def id_embeddings(self):
        """The id embedding layers (item prior biases, hybrid tower ids, ranking-head ids)."""
        layers = [self.item_prior.id_bias, self.ranking_head.user_embedding, self.ranking_head.item_embedding]
        return layers + [t.id_embedding for t in (self.query_tower, self.candidate_tower) if t.id_embedding is not None]

    def dense_variables(self):
        """Every trainable variable outside the id embeddings (encoder layers,
        projections, heads)."""
        ids = {id(v) for layer in self.id_embeddings() for v in layer.trainable_weights}
        return [v for v in self.trainable_variables if id(v) not in ids]

    @property
    def reads_history_sequence(self) -> bool:
        """True when the query tower reads history item embeddings, False when it
        reads history text."""
        return self.config.model.query_tower == "sequence"

    def encode_query(self, features: Dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        """Query embeddings [B, D]: of ``history_embeddings`` [B, S, D],
        ``history_index`` and ``history_mask`` [B, S] (the sequence tower) or of
        ``query_tokens`` (the text tower), with ``user_index`` [B]."""
        if self.reads_history_sequence:
            # Each history item as text plus the candidate tower's id vector of it
            # (SASRec's item embedding), so the query side learns from ids too.
            items = features[HISTORY_EMBEDDINGS] + self.candidate_tower.id_vectors(features[HISTORY_INDEX])
            inputs = (items, features[HISTORY_MASK])
        else:
            inputs = features[F.QUERY_TOKENS]
        return self.query_tower(inputs, features[F.USER_INDEX], training=training)

    def encode_candidate(self, features: Dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        """Candidate embeddings [B, D] of ``item_tokens``, or of the cached
        ``item_states`` and ``item_states_mask`` where the input pipeline supplies
        them (``trainer.catalogue_cache``), with ``item_index`` [B]."""
        tower = self.candidate_tower
        index = features[F.ITEM_INDEX]
        if ITEM_STATES in features:
            text = tower.encoder.from_states(features[ITEM_STATES], features[ITEM_STATES_MASK], training=training)
            return tower.with_ids(text, index)
        return tower(features[F.ITEM_TOKENS], index, training=training)

    def _score(self, cosine, prior):
        return cosine / self.config.model.temperature + prior

    def retrieval_scores(self, query, candidates, prior):
        """Retrieval scores [B, N] of queries [B, D] against candidate embeddings
        [N, D] with their priors [N]: ``cosine / temperature + prior``."""
        return self._score(tf.matmul(query, candidates, transpose_b=True), prior[tf.newaxis, :])

    def candidate_scores(self, query, candidates, prior):
        """Retrieval scores [B, C] of queries [B, D] against their own candidates
        [B, C, D] with priors [B, C]."""
        return self._score(tf.einsum("bd,bcd->bc", query, candidates), prior)

    def ranking_logits(self, query, candidates, prior, user_index, item_index):
        """Ranking logits [B, C]: each query's retrieval scores of its own candidates,
        their cosines corrected by the ranking head.

        ``query`` [B, D], ``user_index`` [B]; ``candidates`` [B, C, D] with their
        ``prior`` and vocabulary ``item_index`` [B, C].
        """
        batch, count, dim = tf.shape(candidates)[0], tf.shape(candidates)[1], tf.shape(candidates)[2]
        correction = self.ranking_head(
            tf.reshape(tf.repeat(query[:, tf.newaxis, :], count, axis=1), [-1, dim]),
            tf.reshape(candidates, [-1, dim]),
            tf.reshape(tf.repeat(user_index[:, tf.newaxis], count, axis=1), [-1]),
            tf.reshape(item_index, [-1]),
        )
        # The correction is in cosine units, on the retrieval score's scale.
        cosine = tf.einsum("bd,bcd->bc", query, candidates)
        return self._score(cosine + tf.reshape(correction, [batch, count]), prior)

    def compute_loss(self, features: Dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        t = self.config.train
        item_index = features[F.ITEM_INDEX]
        user_index = features[F.USER_INDEX]
        query = self.encode_query(features, training=training)
        candidate = self.encode_candidate(features, training=training)
        prior = self.item_prior(candidate, item_index)
        probability = tf.gather(self._item_probability, item_index)
        # retrieval_scores as one dot product, which is what the TFRS task takes:
        # [query / temperature, 1] . [candidate, prior].
        retrieval_loss = self.retrieval_task(
            tf.concat([query / self.config.model.temperature, tf.ones_like(query[:, :1])], axis=1),
            tf.concat([candidate, prior[:, tf.newaxis]], axis=1),
            candidate_ids=item_index,
            candidate_sampling_probability=probability,
        )

        # Listwise ranking over the same in-batch lists: every user against every
        # candidate of the batch. The retrieval side enters as constants.
        batch = tf.shape(query)[0]
        logits = self.ranking_logits(
            tf.stop_gradient(query),
            tf.repeat(tf.stop_gradient(candidate)[tf.newaxis], batch, axis=0),
            tf.repeat(tf.stop_gradient(prior)[tf.newaxis], batch, axis=0),
            user_index,
            tf.repeat(item_index[tf.newaxis], batch, axis=0),
        )
        labels = tf.eye(batch)
        logits = tfrs.layers.loss.SamplingProbablityCorrection()(logits, probability)
        logits = tfrs.layers.loss.RemoveAccidentalHits()(labels, logits, item_index)
        ranking_loss = self.ranking_task(labels=labels, predictions=logits)
        return t.retrieval_loss_weight * retrieval_loss + t.ranking_loss_weight * ranking_loss
