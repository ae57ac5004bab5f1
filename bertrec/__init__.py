"""bertrec: a BERT two-tower + ranking recommender built as one TFX pipeline.

Importing this package pins Keras 2 (``TF_USE_LEGACY_KERAS=1``) for the process.
TensorFlow picks its Keras lazily from this variable, and TensorFlow Recommenders
and keras-nlp 0.12 only work with Keras 2, so every entry point (pipeline files,
the Trainer and Transform modules, the CLI, tests, serving) imports ``bertrec``
before TensorFlow.
"""
import os
import warnings

if os.environ.get("TF_USE_LEGACY_KERAS", "1") != "1":
    raise RuntimeError(
        "bertrec needs Keras 2: TF_USE_LEGACY_KERAS is set to "
        f"{os.environ['TF_USE_LEGACY_KERAS']!r}; unset it or set it to 1."
    )
os.environ["TF_USE_LEGACY_KERAS"] = "1"
# TensorFlow's C++ start-up chatter (CUDA probes on a CPU machine) buries progress output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# google-api-core warns on every import of a Google client that Python 3.10 is
# old; TFX 1.16 requires 3.10, so the warning is noise that buries progress output.
warnings.filterwarnings("ignore", message="You are using a non-supported Python version", category=FutureWarning)

__version__ = "0.1.0"
