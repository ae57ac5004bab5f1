"""A user's history as the model reads it, one definition for training and serving.

A history arrives as ``history_item_ids`` (space-separated ids, most recent
first): in the training examples and in every request. Both the training
input pipeline and the exported model turn it into catalogue rows and the
sequence tower's inputs with these functions, so the two cannot drift apart.
"""
from __future__ import annotations

import tensorflow as tf

from bertrec import features as F


def history_rows(item_row: tf.lookup.StaticHashTable, history_item_ids: tf.Tensor) -> tf.RaggedTensor:
    """Catalogue rows [B, None] of ``history_item_ids`` [B] (most recent first);
    ids not in the catalogue (``item_row`` maps them to -1) are skipped, and an
    item repeated in a history counts once, where it was most recent. Data
    preparation builds the training examples' histories by the same rule
    (``bertrec.data.prepare``), so a client may send its raw log."""
    ids = tf.strings.split(history_item_ids, sep=F.HISTORY_ID_SEPARATOR)
    rows = tf.ragged.map_flat_values(item_row.lookup, ids)
    rows = tf.ragged.boolean_mask(rows, rows >= 0)
    # Keep each (example, row) pair's first, most recent, occurrence.
    keys = rows.value_rowids() * tf.cast(item_row.size(), tf.int64) + rows.flat_values
    distinct, index = tf.unique(keys)
    positions = tf.range(tf.size(keys, out_type=tf.int64))
    first = tf.math.unsorted_segment_min(positions, index, tf.size(distinct))
    return tf.ragged.boolean_mask(rows, rows.with_flat_values(tf.equal(tf.gather(first, index), positions)))


def sequence_inputs(rows: tf.RaggedTensor, item_embeddings, item_vocab_index, max_items: int):
    """The sequence tower's inputs for the ``max_items`` most recent of ``rows``
    [B, None]: their text embeddings [B, S, D] (rows of ``item_embeddings``),
    id vocabulary indices [B, S] (of ``item_vocab_index``) and mask [B, S] (S:
    the longest such history in the batch; padding reads row 0 and is masked)."""
    recent = rows[:, :max_items]
    dense = recent.to_tensor(0)
    mask = tf.sequence_mask(recent.row_lengths(), maxlen=tf.shape(dense)[1], dtype=tf.int32)
    return tf.gather(item_embeddings, dense), tf.gather(item_vocab_index, dense), mask
