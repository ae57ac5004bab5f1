"""Does an exported model use only ops that stock TensorFlow Serving links?

The stock ``tensorflow_model_server`` links TensorFlow's ops and TF Text's op
library, nothing else (no ScaNN, no other custom ops). Run in a fresh process,
since TF Text must not be imported before the first check:

    python -m serving.ops_audit MODEL_VERSION_DIR

prints a JSON summary and exits 1 when an op is neither.
"""
from __future__ import annotations

import json
import os
import sys
from typing import Dict, List, Set

import bertrec  # noqa: F401  (Keras 2 before TensorFlow)
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.framework import op_def_registry


def graph_ops(model_dir: str) -> Set[str]:
    """Every op type in the SavedModel's graphs and function bodies."""
    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(model_dir, "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    ops: Set[str] = set()
    for meta_graph in saved_model.meta_graphs:
        functions = meta_graph.graph_def.library.function
        ops |= {node.op for node in meta_graph.graph_def.node}
        for function in functions:
            ops |= {node.op for node in function.node_def}
        ops -= {function.signature.name for function in functions}  # calls of graph functions
    return ops


def audit(model_dir: str) -> Dict[str, List[str]]:
    """Ops by origin: ``tensorflow`` (count), ``tensorflow_text``, ``unknown``.
    Must run before anything imported tensorflow_text in this process."""
    if "tensorflow_text" in sys.modules:
        raise RuntimeError("audit() must run before tensorflow_text is imported")
    ops = graph_ops(model_dir)
    not_core = sorted(op for op in ops if op_def_registry.get(op) is None)
    import tensorflow_text  # noqa: F401  (registers TF Text's ops)

    unknown = sorted(op for op in not_core if op_def_registry.get(op) is None)
    return {
        "tensorflow": sorted(ops - set(not_core)),
        "tensorflow_text": sorted(set(not_core) - set(unknown)),
        "unknown": unknown,
    }


def main() -> int:
    """Command-line entry point."""
    if len(sys.argv) != 2:
        print("usage: python -m serving.ops_audit MODEL_VERSION_DIR", file=sys.stderr)
        return 2
    result = audit(sys.argv[1])
    print(json.dumps({"tensorflow_ops": len(result["tensorflow"]), "tensorflow_text_ops": result["tensorflow_text"],
                      "unknown_ops": result["unknown"]}))
    return 1 if result["unknown"] else 0


if __name__ == "__main__":
    sys.exit(main())
