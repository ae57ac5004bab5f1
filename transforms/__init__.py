"""Transform module: preprocessing_fn (WordPiece tokenization, id vocabularies)."""
import bertrec  # noqa: F401  (pins Keras 2 before TensorFlow is imported)
