"""The Transform component's module: raw features to model inputs.

Everything here becomes part of the transform graph that the exported model
carries, so serving tokenizes and looks up ids exactly as training did.

- User context (history text) and item text are WordPiece-tokenized with
  keras-nlp's ``BertTokenizer`` (the shipped MiniLM vocabulary, lower-cased)
  and packed as ``[CLS] tokens [SEP] [PAD]...`` to fixed lengths.
- User and item ids get vocabularies computed on the train split, with one
  out-of-vocabulary bucket: unseen users and cold-start items map to it.
"""
from __future__ import annotations

from typing import Any, Dict

import bertrec  # noqa: F401  (Keras 2 before TensorFlow)

# isort: split
import keras_nlp
import tensorflow as tf
import tensorflow_transform as tft

from bertrec import features as F
from bertrec import pretrained
from bertrec.config import Config

#: Out-of-vocabulary buckets of the id vocabularies (index = vocabulary size).
NUM_OOV_BUCKETS = 1


def _flat(x: tf.Tensor) -> tf.Tensor:
    """[batch, 1] or [batch] to [batch] (schemas may give fixed shape [1])."""
    if isinstance(x, tf.SparseTensor):
        x = tf.sparse.to_dense(x, default_value="" if x.dtype == tf.string else 0)
    return tf.reshape(x, [-1])


def item_text(title: tf.Tensor, tags: tf.Tensor, description: tf.Tensor) -> tf.Tensor:
    """What the item tower reads: title, tags, description (most informative
    first, so truncation to the token budget drops the least)."""
    tags = tf.strings.regex_replace(tags, tf.constant("\\" + F.TAG_SEPARATOR), ", ")
    return tf.strings.join([title, ". ", tags, ". ", description])


class TextPacker:
    """Tokenizes text and packs it to a fixed length with [CLS]/[SEP]/[PAD]."""

    def __init__(self, vocabulary: str):
        self.tokenizer = keras_nlp.models.BertTokenizer(vocabulary=vocabulary, lowercase=True)

    def __call__(self, text: tf.Tensor, sequence_length: int) -> tf.Tensor:
        packer = keras_nlp.layers.StartEndPacker(
            sequence_length=sequence_length,
            start_value=self.tokenizer.cls_token_id,
            end_value=self.tokenizer.sep_token_id,
            pad_value=self.tokenizer.pad_token_id,
        )
        return tf.cast(packer(self.tokenizer(text)), tf.int64)


def preprocessing_fn(inputs: Dict[str, tf.Tensor], custom_config: Dict[str, Any]) -> Dict[str, tf.Tensor]:
    """tf.Transform preprocessing_fn (TFX calls it with ``bertrec.config.transform_config(config)``)."""
    config = Config.from_dict(custom_config, source="Transform custom_config")
    x = {name: _flat(inputs[name]) for name in F.RAW_FEATURES if name in inputs}
    pack = TextPacker(pretrained.vocab_path())
    return {
        F.QUERY_TOKENS: pack(x[F.HISTORY_TEXT], config.model.query_sequence_length),
        F.ITEM_TOKENS: pack(
            item_text(x[F.ITEM_TITLE], x[F.ITEM_TAGS], x[F.ITEM_DESCRIPTION]),
            config.model.item_sequence_length,
        ),
        F.USER_INDEX: tft.compute_and_apply_vocabulary(
            x[F.USER_ID], num_oov_buckets=NUM_OOV_BUCKETS, vocab_filename=F.USER_VOCAB
        ),
        F.ITEM_INDEX: tft.compute_and_apply_vocabulary(
            x[F.ITEM_ID], num_oov_buckets=NUM_OOV_BUCKETS, vocab_filename=F.ITEM_VOCAB
        ),
        F.ITEM_KEY: x[F.ITEM_ID],
        # Passed through for the Trainer: the new-item prior reads timestamps, the
        # history affinity's fit reads the most recent examples' histories.
        F.TIMESTAMP: x[F.TIMESTAMP],
        F.HISTORY_ITEM_IDS: x[F.HISTORY_ITEM_IDS],
        F.ITEM_SHORT_TEXT: x[F.ITEM_TITLE],
    }
