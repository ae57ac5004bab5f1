"""Loading an exported bertrec model in Python."""
from __future__ import annotations

import bertrec  # noqa: F401  (Keras 2 before TensorFlow)

# isort: split
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the WordPiece/regex-split ops the transform graph uses)


def load_model(path: str):
    """Loads the SavedModel at ``path`` (a pushed version directory)."""
    return tf.saved_model.load(path)
