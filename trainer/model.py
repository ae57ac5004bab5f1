"""The recommender: BERT two-tower retrieval plus a ranking head, one TFRS model.

- Query tower: the user's history text -> sentence embedding.
- Candidate tower: the item's text -> sentence embedding (same backbone).
- Retrieval task: in-batch softmax over cosine similarities / temperature.
- Ranking head: scores a (user, item) pair from both embeddings, their product
  and id embeddings (out-of-vocabulary ids share one bucket, so cold-start
  items are scored from text). It is trained to tell items the user liked
  (rating >= ``LIKE_THRESHOLD``) from items they did not like and from items
  drawn uniformly from the catalogue. In-batch negatives would be drawn by
  popularity and teach the head to ignore it; uniform ones let it learn that
  popular items are likelier picks, which retrieval's in-batch softmax cancels.
"""
from __future__ import annotations

from typing import Dict

import tensorflow as tf
import tensorflow_recommenders as tfrs

from bertrec import features as F
from bertrec.config import Config
from trainer.encoder import TextEncoder, build_backbone

#: Ratings at or above this count as "liked" for the ranking head.
LIKE_THRESHOLD = 4.0


class RankingHead(tf.keras.layers.Layer):
    """Logit that a user likes an item.

    A residual on the retrieval similarity: ``scale * cosine + bias + mlp(...)``,
    where the MLP reads both embeddings, their product and id embeddings and its
    last layer starts at zero. An untrained head therefore ranks exactly like
    retrieval, and training only has to learn corrections (popularity, ratings,
    id effects) instead of re-learning relevance.
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
        # cosine in [-1, 1]; a scale of 5 makes the initial probabilities spread over (0.01, 0.99).
        self.scale = self.add_weight(name="similarity_scale", shape=(), initializer=tf.keras.initializers.Constant(5.0))
        self.bias = self.add_weight(name="similarity_bias", shape=(), initializer="zeros")

    def call(self, query, candidate, user_index, item_index):
        """Logits [batch]; every argument has the same leading (batch) shape."""
        cosine = tf.reduce_sum(query * candidate, axis=-1, keepdims=True)
        x = tf.concat(
            [
                query,
                candidate,
                query * candidate,
                cosine,
                self.user_embedding(user_index),
                self.item_embedding(item_index),
            ],
            axis=-1,
        )
        return tf.squeeze(self.scale * cosine + self.bias + self.mlp(x), axis=-1)


class Recommender(tfrs.Model):
    """Two-tower retrieval + ranking, trained jointly (``compute_loss``)."""

    def __init__(self, config: Config, num_users: int, num_items: int, catalogue_tokens, catalogue_index):
        """``catalogue_tokens`` [N, item length] and ``catalogue_index`` [N] are the
        transformed catalogue, the pool of the ranking head's uniform negatives."""
        super().__init__()
        self._catalogue_tokens = tf.constant(catalogue_tokens, dtype=tf.int64)
        self._catalogue_index = tf.constant(catalogue_index, dtype=tf.int64)
        m = config.model
        self.config = config
        backbone = build_backbone(m, max(m.query_sequence_length, m.item_sequence_length))
        self.query_tower = TextEncoder(backbone, m.projection_dim, name="query_tower")
        self.candidate_tower = TextEncoder(backbone, m.projection_dim, name="candidate_tower")
        self.ranking_head = RankingHead(num_users, num_items, m.id_embedding_dim, m.ranking_hidden_units, name="ranking_head")
        # SUM reduction: Keras under a distribution strategy requires it (the
        # per-replica sums are all-reduced).
        self.retrieval_task = tfrs.tasks.Retrieval(
            loss=tf.keras.losses.CategoricalCrossentropy(from_logits=True, reduction=tf.keras.losses.Reduction.SUM),
            temperature=m.temperature,
            remove_accidental_hits=True,
            batch_metrics=[tf.keras.metrics.TopKCategoricalAccuracy(k=5, name="in_batch_top5")],
        )
        self.ranking_task = tfrs.tasks.Ranking(
            loss=tf.keras.losses.BinaryCrossentropy(from_logits=True, reduction=tf.keras.losses.Reduction.SUM),
            metrics=[tf.keras.metrics.AUC(from_logits=True, name="ranking_auc")],
        )

    def compute_loss(self, features: Dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        t = self.config.train
        query = self.query_tower(features[F.QUERY_TOKENS], training=training)
        candidate = self.candidate_tower(features[F.ITEM_TOKENS], training=training)
        item_index = features[F.ITEM_INDEX]
        user_index = features[F.USER_INDEX]
        retrieval_loss = self.retrieval_task(query, candidate, candidate_ids=item_index)

        # Ranking pairs: each user with their own item (label: liked) and with an
        # item drawn uniformly from the catalogue (label 0, unless it is the same
        # item). A few negatives are encoded per batch and shared round-robin.
        batch = tf.shape(query)[0]
        rows = tf.random.uniform([t.ranking_negatives], maxval=tf.shape(self._catalogue_index)[0], dtype=tf.int32)
        pool = self.candidate_tower(tf.gather(self._catalogue_tokens, rows), training=training)
        pick = tf.math.floormod(tf.range(batch), t.ranking_negatives)
        negative = tf.gather(pool, pick)
        negative_index = tf.gather(tf.gather(self._catalogue_index, rows), pick)
        logits = tf.concat(
            [
                self.ranking_head(query, candidate, user_index, item_index),
                self.ranking_head(query, negative, user_index, negative_index),
            ],
            axis=0,
        )
        liked = tf.cast(features[F.LABEL_RATING] >= LIKE_THRESHOLD, tf.float32)
        labels = tf.concat([liked, tf.zeros_like(liked)], axis=0)
        weights = tf.concat(
            [tf.ones_like(liked), tf.cast(tf.not_equal(negative_index, item_index), tf.float32)], axis=0
        )
        ranking_loss = self.ranking_task(
            labels=labels[:, tf.newaxis], predictions=logits[:, tf.newaxis], sample_weight=weights[:, tf.newaxis]
        )
        return t.retrieval_loss_weight * retrieval_loss + t.ranking_loss_weight * ranking_loss
