"""The versioned model directory layout that TF Serving watches."""
from __future__ import annotations

import os
from typing import List, Optional


def versions(serving_model_dir: str) -> List[int]:
    """Complete model versions under ``serving_model_dir`` (numeric folders
    holding a saved_model.pb), oldest first."""
    if not os.path.isdir(serving_model_dir):
        return []
    found = []
    for name in os.listdir(serving_model_dir):
        if name.isdigit() and os.path.exists(os.path.join(serving_model_dir, name, "saved_model.pb")):
            found.append(int(name))
    return sorted(found)


def latest_version_dir(serving_model_dir: str) -> Optional[str]:
    """Absolute path of the newest complete version, or None."""
    found = versions(serving_model_dir)
    return os.path.abspath(os.path.join(serving_model_dir, str(found[-1]))) if found else None
