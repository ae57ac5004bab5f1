"""``bertrec run``: the whole local run, as ``make run`` does it.

1. Generate the built-in data (unless ``data.data_dir`` points at your CSVs,
   or it is already there).
2. Prepare the example splits (skipped when inputs and config are unchanged).
3. ``tfx pipeline update`` (or ``create`` the first time) with the local engine.
4. ``tfx run create``: TFX's cache skips components whose inputs did not change.
5. Print the absolute path of the newest pushed model version, last.

TFX logs every artifact in full; that log goes to ``<work_dir>/logs/`` and the
terminal shows progress lines only (and the log's tail if the run fails).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time

from bertrec.config import CONFIG_ENV, Config

PIPELINE_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tfx_pipeline",
                             "local_runner.py")

_PROGRESS = re.compile(
    r"Component \S+ is (running|finished)|bertrec:|cached execution|^\d+/\d+ - |Traceback",
    re.IGNORECASE,
)


class RunError(RuntimeError):
    """A step of the local run failed; the message says which and where the log is."""


def tfx_environment(config: Config, config_path: str) -> dict:
    """Environment for the tfx CLI: Keras 2, the config file, a per-work-dir CLI home."""
    env = dict(os.environ)
    env["TF_USE_LEGACY_KERAS"] = "1"
    env["PYTHONUNBUFFERED"] = "1"  # progress lines (Keras epochs) as they happen, not at exit
    env["LOCAL_HOME"] = os.path.join(config.paths().work_dir, "tfx_home")
    if config_path:
        env[CONFIG_ENV] = os.path.abspath(config_path)
    return env


def _tfx(args, env, log_file, show_progress: bool) -> None:
    tfx_cli = os.path.join(os.path.dirname(sys.executable), "tfx")
    command = [tfx_cli] + args
    log_file.write(f"$ {' '.join(command)}\n")
    log_file.flush()
    tail = []
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:
            log_file.write(line)
            tail = (tail + [line])[-80:]
            if show_progress and _PROGRESS.search(line):
                print("  " + line.rstrip()[:240], flush=True)
    if proc.returncode != 0:
        sys.stderr.write("".join(tail))
        raise RunError(f"`tfx {' '.join(args[:2])}` failed (exit {proc.returncode}); full log: {log_file.name}")


def _latest_blessing(pipeline_root: str) -> str:
    """BLESSED or NOT_BLESSED: the marker file of the newest Evaluator blessing."""
    root = os.path.join(pipeline_root, "Evaluator", "blessing")
    runs = sorted((d for d in os.listdir(root) if d.isdigit()), key=int) if os.path.isdir(root) else []
    for marker in ("BLESSED", "NOT_BLESSED"):
        if runs and os.path.exists(os.path.join(root, runs[-1], marker)):
            return marker
    return ""


def run(config: Config, config_path: str = "") -> str:
    """Runs everything; returns the pushed model version's absolute path."""
    from bertrec.data import generate, prepare
    from serving.model_versions import latest_version_dir, versions

    paths = config.paths()
    before = versions(paths.serving_model_dir)
    start = time.time()
    if not config.data.data_dir and not os.path.exists(os.path.join(paths.data_dir, "interactions.csv")):
        print(f"[1/4] generating the built-in data in {paths.data_dir}", flush=True)
        generate.write(generate.generate(config.generator), paths.data_dir)
    else:
        print(f"[1/4] data: {paths.data_dir}", flush=True)
    print("[2/4] preparing examples", flush=True)
    prepare.prepare(paths.data_dir, paths.examples_dir, config.data, log=lambda m: print("  " + m, flush=True))

    env = tfx_environment(config, config_path)
    os.makedirs(os.path.join(paths.work_dir, "logs"), exist_ok=True)
    log_path = os.path.join(paths.work_dir, "logs", time.strftime("run-%Y%m%d-%H%M%S.log"))
    with open(log_path, "w") as log_file:
        exists = os.path.exists(os.path.join(env["LOCAL_HOME"], config.pipeline.name))
        verb = "update" if exists else "create"
        print(f"[3/4] tfx pipeline {verb} (local engine)", flush=True)
        _tfx(["pipeline", verb, "--engine", "local", "--pipeline_path", PIPELINE_FILE], env, log_file, False)
        print(f"[4/4] tfx run create (full log: {log_path})", flush=True)
        _tfx(["run", "create", "--engine", "local", "--pipeline_name", config.pipeline.name], env, log_file, True)

    pushed = latest_version_dir(paths.serving_model_dir)
    if pushed is None:
        raise RunError(
            f"the run finished but no model has been pushed to {paths.serving_model_dir}: "
            f"the Evaluator did not bless it (see {log_path})"
        )
    if versions(paths.serving_model_dir) == before:
        reason = (
            "the Evaluator did not bless the new model"
            if _latest_blessing(paths.pipeline_root) == "NOT_BLESSED"
            else "the model is the one already pushed"
        )
        print(f"no new model version was pushed ({reason}); TF Serving keeps serving:", flush=True)
    else:
        print(f"done in {time.time() - start:.0f}s; pushed model version:", flush=True)
    return pushed
