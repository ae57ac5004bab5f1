"""Can stock TensorFlow Serving load an exported model? Which releases can?

The stock ``tensorflow_model_server`` links TensorFlow's ops and one fixed
version of TF Text's ``ops_lib``, nothing else (no ScaNN, no other custom ops).
The TF Text it builds is older than the one the model was exported with:
TF Serving 2.16.1 through 2.19.1 build TF Text 2.12.1, whose ``ops_lib`` lacks
the trimmer ops (keras-nlp's round-robin ``MultiSegmentPacker`` calls them), so
an op that the exporting TF Text registers can still be missing in the server
(tensorflow/serving#2267). The audit checks each TF Text op against the
``ops_lib`` of the version each release bundles. Run it in a fresh process,
since TF Text must not be imported before the first check:

    python -m serving.ops_audit MODEL_VERSION_DIR [--tf-serving 2.16.1]

prints a JSON summary and exits 1 when the given release (default: the image
``serving/deploy/docker-compose.yml`` pins) cannot load the model.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Dict, List, Set

import bertrec  # noqa: F401  (Keras 2 before TensorFlow)

# isort: split
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.framework import op_def_registry

# The TF Serving image the deployment files run (a test keeps docker-compose.yml in step).
DEPLOYED_TF_SERVING = "2.16.1"

# The ops TF Text's `ops_lib` target registers, by TF Text tag: the REGISTER_OP names in the
# op-definition files of the libraries `ops_lib` depends on, plus the `kOpName` of their TF op-shim
# kernels (tensorflow/text: tensorflow_text/BUILD, core/ops/*.cc, core/kernels/*_template.h).
_TF_TEXT_2_12_1 = frozenset({
    "CaseFoldUTF8", "ConstrainedSequence", "FastBertNormalize", "FastWordpieceTokenizeWithOffsets",
    "FindSourceOffsets", "MaxSpanningTree", "NormalizeUTF8", "NormalizeUTF8WithOffsetsMap", "PhraseTokenize",
    "RegexSplitWithOffsets", "RougeL", "SentenceFragments", "SentenceFragmentsV2", "SentencepieceDetokenizeOp",
    "SentencepieceIdToStringOp", "SentencepieceOp", "SentencepieceStringToIdOp", "SentencepieceTokenizeOp",
    "SentencepieceTokenizeWithOffsetsOp", "SentencepieceVocabSizeOp", "SplitMergeTokenizeWithOffsets",
    "TFText>BoiseTagsToOffsets", "TFText>ByteSplitByOffsets", "TFText>ByteSplitWithOffsets",
    "TFText>FastSentencepieceDetokenize", "TFText>FastSentencepieceTokenize", "TFText>FastWordpieceDetokenize",
    "TFText>NgramsStringJoin", "TFText>OffsetsToBoiseTags", "TFText>PhraseDetokenize",
    "TFText>WhitespaceTokenizeWithOffsetsV2", "TokenizerFromLogits", "UnicodeScriptTokenizeWithOffsets",
    "WhitespaceTokenizeWithOffsets", "WordpieceTokenizeWithOffsets",
})
TF_TEXT_OPS_LIB: Dict[str, frozenset] = {
    "2.12.1": _TF_TEXT_2_12_1,
    "2.20.0": _TF_TEXT_2_12_1 | {"TFText>RoundRobinGenerateMasks", "TFText>RoundRobinTrim", "TFText>Utf8Binarize"},
}
# The TF Text each TF Serving release builds into the binary (tensorflow_serving/workspace.bzl at its tag).
TF_SERVING_TF_TEXT: Dict[str, str] = {
    "2.16.1": "2.12.1", "2.17.0": "2.12.1", "2.17.1": "2.12.1", "2.18.0": "2.12.1", "2.18.1": "2.12.1",
    "2.19.0": "2.12.1", "2.19.1": "2.12.1", "2.20.0": "2.20.0",
}


def graph_ops(model_dir: str) -> Set[str]:
    """Every op type in the SavedModel's graphs and function bodies."""
    path = os.path.join(model_dir, "saved_model.pb")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{model_dir}: no saved_model.pb (pass a model version directory)")
    saved_model = saved_model_pb2.SavedModel()
    with open(path, "rb") as f:
        saved_model.ParseFromString(f.read())
    ops: Set[str] = set()
    for meta_graph in saved_model.meta_graphs:
        functions = meta_graph.graph_def.library.function
        ops |= {node.op for node in meta_graph.graph_def.node}
        for function in functions:
            ops |= {node.op for node in function.node_def}
        ops -= {function.signature.name for function in functions}  # calls of graph functions
    return ops


def audit(model_dir: str) -> Dict[str, object]:
    """Ops by origin (``tensorflow``, ``tensorflow_text``, ``unknown``) and, per TF Serving
    release, the TF Text ops its bundled TF Text lacks (``missing_by_tf_serving``; empty: it loads).
    Must run before anything imported tensorflow_text in this process."""
    if "tensorflow_text" in sys.modules:
        raise RuntimeError("audit() must run before tensorflow_text is imported")
    ops = graph_ops(model_dir)
    not_core = sorted(op for op in ops if op_def_registry.get(op) is None)
    import tensorflow_text  # noqa: F401  (registers TF Text's ops)

    unknown = sorted(op for op in not_core if op_def_registry.get(op) is None)
    text_ops = sorted(set(not_core) - set(unknown))
    return {
        "tensorflow": sorted(ops - set(not_core)),
        "tensorflow_text": text_ops,
        "unknown": unknown,
        "missing_by_tf_serving": {
            release: sorted(set(text_ops) - TF_TEXT_OPS_LIB[text_version]) + unknown
            for release, text_version in TF_SERVING_TF_TEXT.items()
        },
    }


def main(argv: List[str] = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m serving.ops_audit", description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", help="a SavedModel version directory (the Pusher's serving_model/bertrec/N)")
    parser.add_argument("--tf-serving", default=DEPLOYED_TF_SERVING, choices=sorted(TF_SERVING_TF_TEXT),
                        help="the TF Serving release that must load the model "
                        "(default: %(default)s, the deployed image)")
    args = parser.parse_args(argv)
    try:
        result = audit(args.model_dir)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    missing = result["missing_by_tf_serving"]
    print(json.dumps({
        "tensorflow_ops": len(result["tensorflow"]),
        "tensorflow_text_ops": result["tensorflow_text"],
        "unknown_ops": result["unknown"],
        "loads_in_tf_serving": [release for release, ops in missing.items() if not ops],
        "missing_in_tf_serving": {release: ops for release, ops in missing.items() if ops},
        "target": args.tf_serving,
    }))
    return 1 if missing[args.tf_serving] else 0


if __name__ == "__main__":
    sys.exit(main())
