"""What an exported model keeps so that its catalogue can be refreshed without retraining.

``bertrec index`` (``trainer/catalogue_refresh.py``) rebuilds a pushed model's
serving graph with a new catalogue. The SavedModel's variables hold the
trained weights and the catalogue's embeddings; what its graph does not give
back is kept beside it, in ``assets.extra/catalogue/`` (TF Serving ignores
``assets.extra``):

- ``kit.json``: the config the model was trained with, the id vocabulary sizes,
  the exported score terms' names (in order) and whether the re-ranker is used;
- ``catalogue.npz``: per catalogue row, its id, title, item vocabulary index,
  release time, whether it is withdrawn (gone from the catalogue file) or
  unavailable (named in the availability file), and a digest of what the model reads of the item
  (title, WordPiece tokens, release time): a refresh re-embeds an item only
  when its digest changes; plus the training interactions per vocabulary index;
- ``transform_graph.tar``: the Transform output (tokenizer and id
  vocabularies), so new items are tokenized exactly as training tokenized them.
  An archive, not a folder: TFX's Pusher skips every ``saved_model.pb`` below
  the model's own.

The kit costs about 2.4 MB plus 120 bytes per item.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tarfile
from typing import Dict, List

import numpy as np

KIT_DIR = os.path.join("assets.extra", "catalogue")
_KIT_JSON = "kit.json"
_CATALOGUE_NPZ = "catalogue.npz"
_TRANSFORM_ARCHIVE = "transform_graph.tar"
#: Catalogue columns the kit keeps (``catalogue.npz``).
COLUMNS = ("ids", "titles", "vocab_index", "released", "withdrawn", "unavailable", "digests")


def item_digests(titles: np.ndarray, tokens: np.ndarray, released: np.ndarray) -> np.ndarray:
    """[N] hex digests (bytes) of what the model reads of each item: its title
    (shown to clients), its tokens [N, L] and its release time."""
    tokens = np.asarray(tokens, dtype=np.int64)
    out = []
    for title, row, time_ in zip(titles, tokens, released):
        title = title if isinstance(title, bytes) else str(title).encode()
        out.append(hashlib.sha1(title + b"\0" + row.tobytes() + int(time_).to_bytes(8, "little", signed=True))
                   .hexdigest().encode())
    return np.array(out, dtype=bytes)


@dataclasses.dataclass
class Kit:
    """A model's refresh kit (see module docstring)."""

    config: Dict  # ``Config.to_dict()`` of the training run
    num_users: int  # user vocabulary size, out-of-vocabulary bucket included
    item_counts: np.ndarray  # [item vocabulary size] training interactions per vocabulary index
    term_names: List[str]  # the exported score terms, in the server's order
    reranker: bool  # whether the exported ranking stage is the fitted re-ranker
    catalogue: Dict[str, np.ndarray]  # ``COLUMNS`` per catalogue row
    #: The Transform output: a ``tft.TFTransformOutput`` directory, or the kit's archive of one.
    transform: str

    def write(self, model_dir: str) -> None:
        """Writes the kit into the exported model at ``model_dir``."""
        directory = os.path.join(model_dir, KIT_DIR)
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, _KIT_JSON), "w") as f:
            json.dump({"config": self.config, "num_users": int(self.num_users), "term_names": list(self.term_names),
                       "reranker": bool(self.reranker)}, f, indent=2)
        np.savez(os.path.join(directory, _CATALOGUE_NPZ), item_counts=np.asarray(self.item_counts, np.int64),
                 **{name: _storable(self.catalogue[name]) for name in COLUMNS})
        target = os.path.join(directory, _TRANSFORM_ARCHIVE)
        if os.path.isdir(self.transform):
            with tarfile.open(target, "w") as archive:
                archive.add(self.transform, arcname=".")
        else:
            shutil.copyfile(self.transform, target)

    def extract_transform(self, directory: str) -> str:
        """The Transform output, extracted into ``directory`` (a directory as is)."""
        if os.path.isdir(self.transform):
            return self.transform
        with tarfile.open(self.transform) as archive:
            archive.extractall(directory)
        return directory


def _storable(values) -> np.ndarray:
    """``values`` as an array ``np.load`` reads without pickle (text as UTF-8 bytes)."""
    values = np.asarray(values)
    if values.dtype == object or values.dtype.kind == "U":
        return np.array([v if isinstance(v, bytes) else str(v).encode() for v in values], dtype=bytes)
    return values


class KitMissing(ValueError):
    """The model carries no refresh kit."""


def read(model_dir: str) -> Kit:
    """The kit of the exported model at ``model_dir``; KitMissing when it has none."""
    directory = os.path.join(model_dir, KIT_DIR)
    try:
        with open(os.path.join(directory, _KIT_JSON)) as f:
            meta = json.load(f)
        with np.load(os.path.join(directory, _CATALOGUE_NPZ)) as npz:
            arrays = {name: npz[name] for name in npz.files}
        return Kit(meta["config"], meta["num_users"], arrays.pop("item_counts"), meta["term_names"], meta["reranker"],
                   {name: arrays[name] for name in COLUMNS}, os.path.join(directory, _TRANSFORM_ARCHIVE))
    except FileNotFoundError as e:
        raise KitMissing(f"{model_dir} carries no catalogue kit ({e.filename} is missing): it was exported before "
                         "`bertrec index` existed; retrain it with `bertrec run`") from None
    except (OSError, ValueError, KeyError) as e:
        raise KitMissing(f"{model_dir}: its catalogue kit ({directory}) is unreadable: {e!r}") from None
