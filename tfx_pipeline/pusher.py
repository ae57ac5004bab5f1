"""Pusher executor that does not push the same model twice.

After a model's first blessing, the next run resolves that very model as the
baseline, so the Evaluator runs again (comparing the model with itself) and
blesses it again; stock Pusher would then copy it to a new version directory
and TF Serving would reload an identical model. This executor notices that the
newest pushed version already holds exactly these files and records the push
against it instead.
"""
from __future__ import annotations

import hashlib
import os
from typing import Optional

from tfx.components.pusher import executor as pusher_executor
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils
from tfx.utils import io_utils, proto_utils

from serving.model_versions import latest_version_dir


def directory_digest(path: str) -> str:
    """Hash of every file's relative path and bytes under ``path``."""
    digest = hashlib.sha256()
    for directory, dirnames, filenames in os.walk(path):
        dirnames.sort()
        for name in sorted(filenames):
            file = os.path.join(directory, name)
            digest.update(os.path.relpath(file, path).encode())
            with open(file, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


class Executor(pusher_executor.Executor):
    """Stock Pusher, minus re-pushing a model the newest version already holds."""

    def Do(self, input_dict, output_dict, exec_properties):
        model_push = artifact_utils.get_single_instance(output_dict["pushed_model"])
        existing = self._already_pushed(input_dict, exec_properties)
        if existing is None:
            return super().Do(input_dict, output_dict, exec_properties)
        io_utils.copy_dir(self.GetModelPath(input_dict), model_push.uri)
        self._MarkPushed(model_push, pushed_destination=existing, pushed_version=os.path.basename(existing))

    def _already_pushed(self, input_dict, exec_properties) -> Optional[str]:
        if not self.CheckBlessing(input_dict):
            return None
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(exec_properties["push_destination"], destination)
        if destination.WhichOneof("destination") != "filesystem" or "://" in destination.filesystem.base_directory:
            return None
        latest = latest_version_dir(destination.filesystem.base_directory)
        if latest and directory_digest(latest) == directory_digest(self.GetModelPath(input_dict)):
            return latest
        return None
