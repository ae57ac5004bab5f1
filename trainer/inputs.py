"""tf.data input pipelines over the Transform component's outputs."""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx_bsl.public import tfxio

# Features the training input pipeline adds to the transformed ones
# (``trainer.catalogue_cache.CatalogueCache.add_inputs``).
#: The sequence tower's input: embeddings [B, S, D] of the most recent history items ...
HISTORY_EMBEDDINGS = "history_embeddings"
#: ... their item id vocabulary indices [B, S] ...
HISTORY_INDEX = "history_index"
#: ... and which of the S are items (1) rather than padding (0).
HISTORY_MASK = "history_mask"
#: The target item's hidden states after the encoder's frozen layers [B, L, H] ...
ITEM_STATES = "item_states"
#: ... and their padding mask [B, L].
ITEM_STATES_MASK = "item_states_mask"


def transformed_dataset(
    file_pattern: List[str],
    data_accessor,
    tf_transform_output: tft.TFTransformOutput,
    batch_size: int,
    shuffle: bool,
    num_epochs=None,
    seed: int = 0,
) -> tf.data.Dataset:
    """Batches of transformed feature dicts from TFX examples (``num_epochs=None``
    repeats forever, as ``fit`` with ``steps_per_epoch`` expects)."""
    return data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(
            batch_size=batch_size,
            shuffle=shuffle,
            shuffle_seed=seed,
            num_epochs=num_epochs,
            drop_final_batch=num_epochs is None,
        ),
        tf_transform_output.transformed_metadata.schema,
    ).prefetch(tf.data.AUTOTUNE)


def read_features(
    file_pattern: List[str], data_accessor, tf_transform_output: tft.TFTransformOutput, features: List[str],
    rows: Optional[np.ndarray] = None,
) -> Dict[str, np.ndarray]:
    """Columns of transformed features, as numpy (one pass that parses only
    those features): [examples] for scalar features, [examples, width] for
    fixed-width ones. ``rows`` (sorted positions in file order) keeps only those
    examples, so wide columns are held for them alone."""
    schema = type(tf_transform_output.transformed_metadata.schema)()
    schema.CopyFrom(tf_transform_output.transformed_metadata.schema)
    kept = [f for f in schema.feature if f.name in features]
    del schema.feature[:]
    schema.feature.extend(kept)
    dataset = data_accessor.tf_dataset_factory(
        file_pattern, tfxio.TensorFlowDatasetOptions(batch_size=4096, shuffle=False, num_epochs=1), schema
    )
    parts = {name: [] for name in features}
    start = 0
    for batch in dataset:
        size = len(batch[features[0]])
        kept = slice(None) if rows is None else rows[(rows >= start) & (rows < start + size)] - start
        start += size
        for name in features:
            value = batch[name].numpy()
            parts[name].append(np.reshape(value, [len(value), -1])[kept])
    columns = {name: np.concatenate(values) for name, values in parts.items()}
    return {name: column[:, 0] if column.shape[1] == 1 else column for name, column in columns.items()}
