"""The pretrained encoder, not fine-tuned: sentence embeddings for the zero-shot baseline.

The same backbone, tokenizer, item text and mean pooling as the model's towers
(``trainer/encoder.py``, ``transforms/preprocessing.py``), at the model's
sequence budgets, with the pretrained weights as shipped: what BERT knows
before bertrec trains it.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Sequence

import numpy as np

from bertrec.config import ModelConfig


class PretrainedEncoder:
    """Encodes item and history texts with the untrained encoder of ``model_config``."""

    def __init__(self, model_config: ModelConfig, batch_size: int = 128):
        import tensorflow as tf

        from bertrec import pretrained
        from trainer.encoder import TextEncoder, build_backbone
        from transforms.preprocessing import TextPacker

        self.config, self.batch_size = model_config, batch_size
        # Every layer as shipped (nothing is trained here).
        frozen = dataclasses.replace(model_config, trainable_encoder_layers=0)
        length = max(model_config.query_sequence_length, model_config.item_sequence_length)
        encoder = TextEncoder(build_backbone(frozen, length))
        # One trace for every batch: texts are packed to the budget, so shapes repeat.
        self._encode = tf.function(lambda tokens: encoder(tokens, training=False),
                                   input_signature=[tf.TensorSpec([None, None], tf.int64)])
        self._packer = TextPacker(pretrained.vocab_path())
        self._queries: Dict[str, np.ndarray] = {}

    def _embed(self, texts: Sequence[str], sequence_length: int) -> np.ndarray:
        """L2-normalised mean-pooled embeddings [len(texts), dim]."""
        import tensorflow as tf

        parts = [
            self._encode(self._packer(tf.constant(list(texts[i : i + self.batch_size])), sequence_length)).numpy()
            for i in range(0, len(texts), self.batch_size)
        ]
        return np.concatenate(parts).astype(np.float32)

    def items(self, titles: Sequence[str], tags: Sequence[str], descriptions: Sequence[str]) -> np.ndarray:
        """Item embeddings of the text the candidate tower reads."""
        import tensorflow as tf

        from transforms.preprocessing import item_text

        texts = [t.decode() for t in item_text(tf.constant(list(titles)), tf.constant(list(tags)),
                                               tf.constant(list(descriptions))).numpy()]
        return self._embed(texts, self.config.item_sequence_length)

    def queries(self, history_texts: Sequence[str]) -> np.ndarray:
        """Query embeddings of the history text the query tower reads (each text
        encoded once however often it is asked for: tuning scores the same
        validation examples many times)."""
        new = sorted({t for t in history_texts if t not in self._queries})
        if new:
            self._queries.update(zip(new, self._embed(new, self.config.query_sequence_length)))
        return np.stack([self._queries[t] for t in history_texts])
