"""The Transform's preprocessing_fn, run by tf.Transform's real Beam implementation."""
import tempfile

import pytest
import tensorflow as tf
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from bertrec import features as F
from bertrec.config import Config, transform_config
from transforms.preprocessing import preprocessing_fn

CLS, SEP, PAD = 101, 102, 0


def _row(user, item, history_text, title="Orbit of the Moon", rating=5.0):
    return {
        F.USER_ID: user, F.HISTORY_ITEM_IDS: "x", F.HISTORY_TEXT: history_text, F.ITEM_ID: item,
        F.ITEM_TITLE: title, F.ITEM_DESCRIPTION: "A story about a rocket.", F.ITEM_TAGS: "space|classic",
        F.RATING: rating, F.TIMESTAMP: 1,
    }


@pytest.fixture(scope="module")
def transformed():
    spec = {name: tf.io.FixedLenFeature([], tf.string) for name in F.STRING_FEATURES}
    spec.update({F.RATING: tf.io.FixedLenFeature([], tf.float32), F.TIMESTAMP: tf.io.FixedLenFeature([], tf.int64)})
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
    config = Config.from_dict({"model": {"query_sequence_length": 12, "item_sequence_length": 16}})
    train = [_row("u1", "i1", "Lunar Nebula ; Starship"), _row("u2", "i2", "", rating=2.0)]
    unseen = [_row("stranger", "cold-item", "The Lost Cosmos " * 10)]
    with tft_beam.Context(temp_dir=tempfile.mkdtemp()):
        (train_out, _), transform_fn = (train, metadata) | tft_beam.AnalyzeAndTransformDataset(
            lambda inputs: preprocessing_fn(inputs, transform_config(config))
        )
        unseen_out, _ = ((unseen, metadata), transform_fn) | tft_beam.TransformDataset()
    return train_out, unseen_out


def test_text_is_wordpiece_tokenized_and_packed(transformed):
    train_out, unseen_out = transformed
    query = list(train_out[0][F.QUERY_TOKENS])
    assert len(query) == 12 and query[0] == CLS and SEP in query and query[-1] == PAD
    assert list(train_out[1][F.QUERY_TOKENS][:3]) == [CLS, SEP, PAD]  # empty history
    long_query = list(unseen_out[0][F.QUERY_TOKENS])
    assert long_query[0] == CLS and long_query[-1] == SEP and PAD not in long_query  # truncated, still closed
    assert len(train_out[0][F.ITEM_TOKENS]) == 16


def test_ids_get_vocabularies_with_an_out_of_vocabulary_bucket(transformed):
    train_out, unseen_out = transformed
    assert {row[F.ITEM_INDEX] for row in train_out} == {0, 1}
    assert unseen_out[0][F.ITEM_INDEX] == 2 and unseen_out[0][F.USER_INDEX] == 2  # OOV = vocabulary size
    assert unseen_out[0][F.ITEM_KEY] == b"cold-item"
