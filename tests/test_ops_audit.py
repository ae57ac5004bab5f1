"""The op audit tells which stock TF Serving releases can load a model: a model that calls
TF Text's round-robin trimmer (absent from the TF Text 2.12.1 that TF Serving 2.16-2.19 build)
is refused for the deployed image and accepted for 2.20."""
import json
import subprocess
import sys
import textwrap

import pytest

from conftest import PROJECT_DIR

_SAVE = textwrap.dedent("""
    import sys
    import bertrec
    import tensorflow as tf
    import tensorflow_text as text

    class Trim(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def __call__(self, words):
            tokens = tf.strings.split(words)
            return text.RoundRobinTrimmer(max_seq_length=4).trim([tokens, tokens])[0].flat_values

    class Tokenize(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def __call__(self, words):
            return text.FastWordpieceTokenizer(["a", "##b", "[UNK]"]).tokenize(text.case_fold_utf8(words)).flat_values

    tf.saved_model.save(Trim(), sys.argv[1])
    tf.saved_model.save(Tokenize(), sys.argv[2])
""")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("ops")
    trim, tokenize = str(root / "trim"), str(root / "tokenize")
    subprocess.run([sys.executable, "-c", _SAVE, trim, tokenize], cwd=PROJECT_DIR, check=True, capture_output=True)
    return trim, tokenize


def _audit(model_dir, *args):
    out = subprocess.run([sys.executable, "-m", "serving.ops_audit", model_dir, *args], cwd=PROJECT_DIR,
                         capture_output=True, text=True)
    return out.returncode, json.loads(out.stdout.strip().splitlines()[-1]) if out.stdout.strip() else out.stderr


def test_trimmer_ops_are_refused_for_the_deployed_image_and_accepted_for_2_20(models):
    trim, _ = models
    code, result = _audit(trim)
    assert code == 1 and result["target"] == "2.16.1"
    assert result["unknown_ops"] == []  # the installed TF Text has them; the server's does not
    assert result["loads_in_tf_serving"] == ["2.20.0"]
    assert "TFText>RoundRobinTrim" in result["missing_in_tf_serving"]["2.16.1"]
    code, result = _audit(trim, "--tf-serving", "2.20.0")
    assert code == 0 and result["target"] == "2.20.0"


def test_wordpiece_and_case_folding_load_in_every_release(models):
    _, tokenize = models
    code, result = _audit(tokenize)
    assert code == 0, result
    assert {"FastWordpieceTokenizeWithOffsets", "CaseFoldUTF8"} <= set(result["tensorflow_text_ops"])
    assert result["missing_in_tf_serving"] == {} and "2.16.1" in result["loads_in_tf_serving"]


def test_a_directory_without_a_model_is_a_clear_error(tmp_path):
    out = subprocess.run([sys.executable, "-m", "serving.ops_audit", str(tmp_path)], cwd=PROJECT_DIR,
                         capture_output=True, text=True)
    assert out.returncode == 2 and "no saved_model.pb" in out.stderr
