"""What training keeps of the catalogue between steps, so a step computes only
what changes.

- **Frozen states**: the encoder's embeddings and frozen lower layers map an
  item's text to the same hidden states at every step, so they run once per
  run, for every catalogue item; a step then runs only the fine-tuned top
  layers over its items' cached states (``train.cache_frozen_layers``).
  Memory: items x ``model.item_sequence_length`` x hidden size values
  (bfloat16 under ``train.mixed_precision``): 2,000 items of 40 tokens take
  123 MB in float32, 61 MB in bfloat16.
- **History embeddings**: what the sequence query tower reads for each history
  item: the encoder's embedding of the item's text as the run starts (MiniLM as
  shipped), a constant per item. A constant, not the candidate tower's moving
  output: histories read during training and at serving are then the same
  vectors (a table refreshed during training would feed the query tower stale
  vectors while it trains and fresh ones when it serves, and measured worse).
  The exported model carries the table.

Dropout in the frozen layers is lost with caching (their states are computed
without it); the trained layers keep theirs.
"""
from __future__ import annotations

import functools
from typing import Dict

import numpy as np
import tensorflow as tf

from bertrec import features as F
from bertrec.config import Config
from trainer import history
from trainer.inputs import HISTORY_EMBEDDINGS, HISTORY_INDEX, HISTORY_MASK, ITEM_STATES, ITEM_STATES_MASK

#: Items encoded per call when caching states and embedding the catalogue.
BATCH_SIZE = 256


class CatalogueCache:
    """The catalogue's frozen states and history embeddings for one training run,
    and the input-pipeline step that hands a batch what it needs of them."""

    def __init__(self, model, catalogue: Dict[str, np.ndarray], config: Config):
        """``model``: the ``trainer.model.Recommender``; ``catalogue``: ``ids``,
        ``tokens`` [N, L] and ``vocab_index`` [N] of every catalogue item."""
        self.model = model
        self._encoder = model.candidate_tower.encoder
        self._sequence_items = config.model.sequence_items
        self.vocab_index = catalogue["vocab_index"]
        self._vocab_index = tf.constant(self.vocab_index)
        self._tokens = catalogue["tokens"]
        ids = tf.constant(catalogue["ids"], dtype=tf.string)
        self.item_row = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(ids, tf.range(len(catalogue["ids"]), dtype=tf.int64)), default_value=-1
        )
        self.cached = config.train.cache_frozen_layers and self._encoder.frozen_layers >= 0
        self._states = self._mask = None
        if self.cached:
            states = tf.function(lambda t: self._encoder.frozen_states(t, training=False))
            self._states = tf.Variable(
                tf.concat([states(tf.constant(self._tokens[i : i + BATCH_SIZE]))
                           for i in range(0, len(self._tokens), BATCH_SIZE)], axis=0),
                trainable=False, name="frozen_item_states",
            )
            self._mask = tf.constant(self._encoder.padding_mask(self._tokens))
        # One traced function per kind: the first call of the second builds the id layers.
        self._embed = {with_ids: tf.function(functools.partial(self._embed_batch, with_ids=with_ids))
                       for with_ids in (False, True)}
        self._encode = tf.function(lambda f: model.encode_query(self.add_inputs(f), training=False))
        #: [N, D] float32: the sequence tower's input per item (see the module docstring).
        self.history_embeddings = self._embed_all(with_ids=False)
        self._history_table = tf.constant(self.history_embeddings)

    def _embed_batch(self, start, end, with_ids):
        tower = self.model.candidate_tower
        if self.cached:
            text = self._encoder.from_states(self._states[start:end], self._mask[start:end], training=False)
        else:
            text = self._encoder(tf.constant(self._tokens)[start:end], training=False)
        return tower.with_ids(text, self._vocab_index[start:end]) if with_ids else text

    def _embed_all(self, with_ids: bool) -> np.ndarray:
        n = len(self._tokens)
        # Under the model's strategy: a layer built here (lazily, on its first
        # call) must live where the optimizer will look for it.
        with self.model.distribute_strategy.scope():
            parts = [self._embed[with_ids](tf.constant(i), tf.constant(min(i + BATCH_SIZE, n)))
                     for i in range(0, n, BATCH_SIZE)]
        return tf.concat(parts, axis=0).numpy()

    def item_embeddings(self) -> np.ndarray:
        """Every catalogue item's embedding [N, D] by the candidate tower as it is now."""
        return self._embed_all(with_ids=True)

    def add_inputs(self, features: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
        """A batch of transformed features with the cached inputs added: the
        target's frozen states (when cached) and the history's embeddings (when
        the query tower reads the sequence). A ``tf.data`` map function."""
        features = dict(features)
        if self.cached and F.ITEM_KEY in features:
            rows = self.item_row.lookup(features[F.ITEM_KEY])
            features[ITEM_STATES] = tf.gather(self._states, rows)
            features[ITEM_STATES_MASK] = tf.gather(self._mask, rows)
        if self.model.reads_history_sequence:
            rows = history.history_rows(self.item_row, features[F.HISTORY_ITEM_IDS])
            features[HISTORY_EMBEDDINGS], features[HISTORY_INDEX], features[HISTORY_MASK] = history.sequence_inputs(
                rows, self._history_table, self._vocab_index, self._sequence_items
            )
        return features

    def encode_queries(self, examples: Dict[str, np.ndarray], batch_size: int = BATCH_SIZE) -> np.ndarray:
        """Query embeddings [E, D] of transformed feature columns ``examples``
        (``user_index``, ``history_item_ids`` and ``query_tokens``)."""
        names = [F.USER_INDEX, F.HISTORY_ITEM_IDS, F.QUERY_TOKENS]
        with self.model.distribute_strategy.scope():  # see ``_embed_all``
            parts = [
                self._encode({name: tf.constant(examples[name][i : i + batch_size]) for name in names}).numpy()
                for i in range(0, len(examples[F.USER_INDEX]), batch_size)
            ]
        return np.concatenate(parts).astype(np.float32)
