"""Shared test set-up: Keras 2, two logical CPUs, and one tiny end-to-end pipeline run.

The pipeline run is the real thing (bertrec run -> tfx CLI -> LocalDagRunner ->
every TFX component, Beam DirectRunner) on tiny data with the real MiniLM
weights at short sequence lengths; the tests that inspect its outputs share it.
"""
import json
import os
import subprocess
import sys

import bertrec  # noqa: F401  (Keras 2 before TensorFlow)

# isort: split
import pytest

from bertrec import features as F
from trainer.distribution import configure_logical_cpus

# Before any TensorFlow work: two logical CPU devices, so MirroredStrategy in the
# in-process tests runs two replicas, as on a multi-device machine.
configure_logical_cpus(2)

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)

#: Small enough for CI, real enough to learn: the real encoder and components.
TINY = {
    "generator": {"num_items": 240, "num_users": 120, "num_interactions": 3600},
    "data": {"max_eval_examples": 300, "max_validation_examples": 300},
    "model": {"query_sequence_length": 32, "item_sequence_length": 24},
    "train": {"batch_size": 32, "max_epochs": 2, "logical_cpu_devices": 2},
    "serve": {"top_k": 10, "retrieve_k": 50},
    "evaluate": {"recall_k": 50, "min_retrieval_recall": 0.3, "min_ranked_recall": 0.05},
}


def write_config(directory, overrides: dict, name="bertrec-test") -> str:
    """A config JSON with ``overrides`` and a work dir inside ``directory``; returns its path."""
    values = json.loads(json.dumps(overrides))
    values.setdefault("pipeline", {}).update({"name": name, "work_dir": os.path.join(str(directory), "work")})
    path = os.path.join(str(directory), f"{name}.json")
    with open(path, "w") as f:
        json.dump(values, f)
    return path


def run_bertrec(args, config_path=None, check=True, timeout=1500):
    """Runs the bertrec console command in a fresh process; returns CompletedProcess."""
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1")
    if config_path:
        env["BERTREC_CONFIG"] = config_path
    result = subprocess.run(
        [os.path.join(BIN, "bertrec")] + list(args), env=env, cwd=PROJECT_DIR,
        capture_output=True, text=True, timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"bertrec {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


#: Which interaction splits an example of each split may see, written out from
#: the specification (not read from the code under test).
MAY_SEE = {"train": {"train"}, "validation": {"train"}, "eval": {"train", "validation"}}


def held_out_leaks(splits):
    """Every way a held-out (user, item) pair reaches an input: (split of the
    leaking example, the pair's split, the pair). Empty when nothing leaks."""
    leaks = []
    for held_out in ("validation", "eval"):
        pairs = {(e[F.USER_ID], e[F.ITEM_ID]) for e in splits[held_out]}
        for split in (s for s, visible in MAY_SEE.items() if held_out not in visible):
            for e in splits[split]:
                seen = {(e[F.USER_ID], h) for h in e[F.HISTORY_ITEM_IDS].split()}
                if split == "train":  # a training example's target is an input too
                    seen.add((e[F.USER_ID], e[F.ITEM_ID]))
                leaks += [(split, held_out, pair) for pair in seen & pairs]
    return leaks


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory):
    """One full local run on tiny data: (config path, Config, CompletedProcess)."""
    from bertrec.config import Config

    directory = tmp_path_factory.mktemp("e2e")
    config_path = write_config(directory, TINY)
    result = run_bertrec(["run"], config_path)
    return config_path, Config.load(config_path), result
