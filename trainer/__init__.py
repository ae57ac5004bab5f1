"""Trainer module: BERT towers, ranking head, TFRS tasks, export of the serving model."""
import bertrec  # noqa: F401  (pins Keras 2 before TensorFlow is imported)
