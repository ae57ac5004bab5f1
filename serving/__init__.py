"""Serving: TF Serving client and deployment helpers."""
import bertrec  # noqa: F401  (pins Keras 2 before TensorFlow is imported)
