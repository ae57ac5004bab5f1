"""tf.data input pipelines over the Transform component's outputs."""
from __future__ import annotations

from typing import List

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx_bsl.public import tfxio


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


def feature_counts(
    file_pattern: List[str], data_accessor, tf_transform_output: tft.TFTransformOutput, feature: str, size: int
) -> np.ndarray:
    """Occurrences of each value 0..size-1 of an integer transformed feature (one
    pass that parses only that feature)."""
    schema = type(tf_transform_output.transformed_metadata.schema)()
    schema.CopyFrom(tf_transform_output.transformed_metadata.schema)
    kept = [f for f in schema.feature if f.name == feature]
    del schema.feature[:]
    schema.feature.extend(kept)
    dataset = data_accessor.tf_dataset_factory(
        file_pattern, tfxio.TensorFlowDatasetOptions(batch_size=4096, shuffle=False, num_epochs=1), schema
    )
    counts = np.zeros(size, dtype=np.int64)
    for batch in dataset:
        counts += np.bincount(np.reshape(batch[feature].numpy(), [-1]), minlength=size)[:size]
    return counts
