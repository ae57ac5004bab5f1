"""TFX pipeline wiring: the DAG and its runners (local engine, Vertex AI)."""
import bertrec  # noqa: F401  (pins Keras 2 before TensorFlow is imported)
