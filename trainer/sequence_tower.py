"""The sequence query tower: a user read as the sequence of their recent items.

SASRec / BERT4Rec read a history of item ids with self-attention; this tower
reads the same sequence as the candidate tower's *embeddings* of those items
(the catalogue's item embeddings, which the exported model holds anyway), so
it knows what an item is from its text even when the id is new, and a request
needs no BERT pass: a small transformer over ``model.sequence_items`` vectors.

Inputs are most recent first (the serving contract's order), so position 0 is
the latest item. The serving contract carries item ids only, no times, so the
tower sees order, not time gaps.

Its output starts at the mean of the history's embeddings (a strong zero-shot
query: what the user took, on average) and training learns what to add: the
pooling's weights per position and content start uniform, and the transformer's
correction enters through a projection that starts at zero, so an untrained
tower ranks like the history's centroid rather than like random noise.
"""
from __future__ import annotations

from typing import Optional

import keras_nlp
import tensorflow as tf


class HistorySequenceEncoder(tf.keras.layers.Layer):
    """History item embeddings [batch, items, dim] and mask [batch, items] ->
    L2-normalised query embeddings [batch, dim]."""

    def __init__(self, dim: int, max_items: int, num_layers: int, num_heads: int, intermediate_dim: int,
                 dropout: float, dtype_policy: Optional[str] = None, **kwargs):
        super().__init__(**kwargs)
        self.dim, self.max_items = dim, max_items
        self.position = tf.keras.layers.Embedding(
            max_items, dim, embeddings_initializer=tf.keras.initializers.TruncatedNormal(stddev=0.02), name="position"
        )
        self.blocks = [
            keras_nlp.layers.TransformerEncoder(
                intermediate_dim=intermediate_dim, num_heads=num_heads, dropout=dropout, normalize_first=True,
                dtype=dtype_policy, name=f"block_{i}",
            )
            for i in range(num_layers)
        ]
        # Attention pooling: a learned score per position and per content, zero
        # at first (a uniform mean over the history).
        self.position_logit = tf.keras.layers.Embedding(max_items, 1, embeddings_initializer="zeros",
                                                        name="position_logit")
        self.pool = tf.keras.layers.Dense(1, kernel_initializer="zeros", name="pool")
        # The transformer's correction to the pooled history, zero at first.
        self.correction = tf.keras.layers.Dense(dim, kernel_initializer="zeros", name="correction")

    def call(self, inputs, training=False):
        history, mask = inputs
        history = tf.cast(history, tf.float32)[:, : self.max_items]
        mask = tf.cast(mask, tf.int32)[:, : self.max_items]
        positions = tf.range(tf.shape(history)[1])
        # Unit-norm embeddings scaled to unit variance per feature, the scale the
        # blocks' layer norms work at.
        x = history * tf.sqrt(float(self.dim)) + self.position(positions)[tf.newaxis]
        for block in self.blocks:
            x = block(x, padding_mask=mask, training=training)
        x = tf.cast(x, tf.float32)
        logits = tf.squeeze(self.pool(x), axis=-1) + tf.squeeze(self.position_logit(positions), axis=-1)[tf.newaxis]
        logits = tf.where(mask > 0, logits, tf.fill(tf.shape(logits), -1e9))
        weights = (tf.nn.softmax(logits, axis=-1) * tf.cast(mask, tf.float32))[:, :, tf.newaxis]
        pooled = tf.reduce_sum(weights * history, axis=1) + self.correction(tf.reduce_sum(weights * x, axis=1))
        return tf.math.l2_normalize(pooled, axis=-1)
