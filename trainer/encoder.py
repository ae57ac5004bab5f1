"""The BERT text encoder shared by the two towers.

A keras-nlp ``BertBackbone`` either initialised from the shipped
all-MiniLM-L6-v2 checkpoint (Hugging Face tensor names, converted here without
PyTorch) or randomly initialised at a tiny size for tests. Sentences are
mean-pooled over non-padding tokens, the pooling MiniLM was trained with, so
its embeddings are meaningful before any fine-tuning (cold-start items can be
retrieved by text alone).
"""
from __future__ import annotations

from typing import Dict, Optional

import keras_nlp
import numpy as np
import tensorflow as tf

from bertrec import pretrained
from bertrec.config import ModelConfig

PAD_TOKEN_ID = 0  # [PAD] in BERT's uncased vocabulary


def build_backbone(config: ModelConfig, max_sequence_length: int, dtype: Optional[str] = None
                   ) -> keras_nlp.models.BertBackbone:
    """A BertBackbone per ``config.encoder`` with the partial fine-tuning applied;
    ``dtype``: its Keras dtype policy (``"mixed_bfloat16"``: bfloat16 matmuls,
    float32 weights; None: float32)."""
    if config.encoder == "minilm":
        hf = pretrained.minilm_config()
        backbone = keras_nlp.models.BertBackbone(
            vocabulary_size=hf["vocab_size"],
            num_layers=hf["num_hidden_layers"],
            num_heads=hf["num_attention_heads"],
            hidden_dim=hf["hidden_size"],
            intermediate_dim=hf["intermediate_size"],
            dropout=config.dropout,
            max_sequence_length=max_sequence_length,
            num_segments=hf["type_vocab_size"],
            dtype=dtype,
        )
        load_hf_weights(backbone, pretrained.minilm_weights())
    else:
        backbone = keras_nlp.models.BertBackbone(
            vocabulary_size=_vocabulary_size(),
            num_layers=config.tiny_num_layers,
            num_heads=config.tiny_num_heads,
            hidden_dim=config.tiny_hidden_dim,
            intermediate_dim=config.tiny_intermediate_dim,
            dropout=config.dropout,
            max_sequence_length=max_sequence_length,
            dtype=dtype,
        )
    freeze_lower_layers(backbone, config.trainable_encoder_layers)
    return backbone


def _vocabulary_size() -> int:
    with open(pretrained.vocab_path(), encoding="utf-8") as f:
        return sum(1 for _ in f)


def freeze_lower_layers(backbone: keras_nlp.models.BertBackbone, trainable_layers: int) -> None:
    """Freezes the embeddings and all but the top ``trainable_layers`` transformer
    layers (-1 = train everything). Frozen layers need no backward pass."""
    backbone.pooled_dense.trainable = False  # unused: towers mean-pool the sequence output
    if trainable_layers < 0:
        return
    for layer in (
        backbone.token_embedding,
        backbone.position_embedding,
        backbone.segment_embedding,
        backbone.embeddings_layer_norm,
    ):
        layer.trainable = False
    n = len(backbone.transformer_layers)
    for i, layer in enumerate(backbone.transformer_layers):
        layer.trainable = i >= n - trainable_layers


def load_hf_weights(backbone: keras_nlp.models.BertBackbone, w: Dict[str, np.ndarray]) -> None:
    """Copies a Hugging Face BertModel checkpoint into a keras-nlp BertBackbone.

    Hugging Face Linear weights are [out, in]; keras-nlp's EinsumDense kernels
    are [in, heads, head_dim] (query/key/value) and [heads, head_dim, out]
    (attention output).
    """
    hidden = backbone.hidden_dim
    heads = backbone.num_heads
    head_dim = hidden // heads
    seq_len = backbone.max_sequence_length

    backbone.token_embedding.embeddings.assign(w["embeddings.word_embeddings.weight"])
    backbone.position_embedding.position_embeddings.assign(w["embeddings.position_embeddings.weight"][:seq_len])
    backbone.segment_embedding.embeddings.assign(w["embeddings.token_type_embeddings.weight"])
    _assign_norm(backbone.embeddings_layer_norm, w, "embeddings.LayerNorm")
    for i, layer in enumerate(backbone.transformer_layers):
        p = f"encoder.layer.{i}."
        attention = layer._self_attention_layer
        for name, dense in (
            ("query", attention._query_dense),
            ("key", attention._key_dense),
            ("value", attention._value_dense),
        ):
            dense.kernel.assign(w[f"{p}attention.self.{name}.weight"].T.reshape(hidden, heads, head_dim))
            dense.bias.assign(w[f"{p}attention.self.{name}.bias"].reshape(heads, head_dim))
        attention._output_dense.kernel.assign(w[f"{p}attention.output.dense.weight"].T.reshape(heads, head_dim, hidden))
        attention._output_dense.bias.assign(w[f"{p}attention.output.dense.bias"])
        _assign_norm(layer._self_attention_layer_norm, w, f"{p}attention.output.LayerNorm")
        _assign_dense(layer._feedforward_intermediate_dense, w, f"{p}intermediate.dense")
        _assign_dense(layer._feedforward_output_dense, w, f"{p}output.dense")
        _assign_norm(layer._feedforward_layer_norm, w, f"{p}output.LayerNorm")
    if "pooler.dense.weight" in w:
        _assign_dense(backbone.pooled_dense, w, "pooler.dense")


def _assign_dense(dense, w, prefix: str) -> None:
    dense.kernel.assign(w[f"{prefix}.weight"].T)
    dense.bias.assign(w[f"{prefix}.bias"])


def _assign_norm(norm, w, prefix: str) -> None:
    norm.gamma.assign(w[f"{prefix}.weight"])
    norm.beta.assign(w[f"{prefix}.bias"])


class TextEncoder(tf.keras.layers.Layer):
    """Token ids [batch, length] to L2-normalised sentence embeddings [batch, dim].

    Mean pooling over non-padding tokens, then an optional projection.
    Both towers wrap the same backbone (shared weights, half the memory and the
    same text space for users and items) with their own projection.

    The backbone runs in two parts so that training can cache the first:
    :meth:`frozen_states` (embeddings and the frozen lower transformer layers,
    whose output for a given text never changes) and :meth:`from_states` (the
    fine-tuned top layers, pooling and projection). ``call`` is the two in turn.
    """

    def __init__(self, backbone: tf.keras.Model, projection_dim: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        self.projection: Optional[tf.keras.layers.Dense] = (
            tf.keras.layers.Dense(projection_dim, name="projection") if projection_dim > 0 else None
        )

    @property
    def frozen_layers(self) -> int:
        """How many bottom transformer layers are frozen (their output can be
        cached); -1 when the embeddings train too (nothing can)."""
        if self.backbone.token_embedding.trainable:
            return -1
        layers = self.backbone.transformer_layers
        return next((i for i, layer in enumerate(layers) if layer.trainable), len(layers))

    @staticmethod
    def padding_mask(token_ids) -> tf.Tensor:
        """1 where ``token_ids`` [batch, length] are text, 0 where padding."""
        return tf.cast(tf.not_equal(tf.cast(token_ids, tf.int32), PAD_TOKEN_ID), tf.int32)

    @staticmethod
    def _trim(mask, *tensors):
        """``tensors`` cut to the longest text of the batch (packed sequences end in
        padding, and padding is masked: embeddings are unchanged, a batch costs
        what its longest text needs rather than the sequence-length budget)."""
        length = tf.maximum(tf.reduce_max(tf.reduce_sum(mask, axis=1)), 1)
        return [t[:, :length] for t in tensors]

    def frozen_states(self, token_ids, training=False) -> tf.Tensor:
        """Hidden states [batch, length, hidden] after the frozen layers (the
        backbone's compute dtype); ``frozen_layers`` must be >= 0 for them to be
        a cacheable constant of the text."""
        b = self.backbone
        token_ids = tf.cast(token_ids, tf.int32)
        mask = self.padding_mask(token_ids)
        tokens = b.token_embedding(token_ids)
        x = b.embeddings_add((tokens, b.position_embedding(tokens), b.segment_embedding(tf.zeros_like(token_ids))))
        x = b.embeddings_dropout(b.embeddings_layer_norm(x), training=training)
        for layer in b.transformer_layers[: max(self.frozen_layers, 0)]:
            x = layer(x, padding_mask=mask, training=training)
        return x

    def from_states(self, states, mask, training=False) -> tf.Tensor:
        """Embeddings [batch, dim] of ``frozen_states`` [batch, length, hidden] and
        their padding ``mask`` [batch, length]."""
        mask = tf.cast(mask, tf.int32)
        states, mask = self._trim(mask, states, mask)
        for layer in self.backbone.transformer_layers[max(self.frozen_layers, 0):]:
            states = layer(states, padding_mask=mask, training=training)
        sequence = tf.cast(states, tf.float32)
        weights = tf.cast(mask, tf.float32)[:, :, tf.newaxis]
        pooled = tf.reduce_sum(sequence * weights, axis=1) / tf.maximum(tf.reduce_sum(weights, axis=1), 1.0)
        if self.projection is not None:
            pooled = tf.cast(self.projection(pooled), tf.float32)
        return tf.math.l2_normalize(pooled, axis=-1)

    def call(self, token_ids, training=False):
        mask = self.padding_mask(token_ids)
        token_ids, mask = self._trim(mask, token_ids, mask)
        return self.from_states(self.frozen_states(token_ids, training=training), mask, training=training)
