"""tf.data input pipelines over the Transform component's outputs."""
from __future__ import annotations

from typing import List

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
