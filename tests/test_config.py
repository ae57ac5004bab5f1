import json
import re

import pytest

from bertrec.config import Config, ConfigError


def test_defaults_are_valid_and_paths_absolute():
    config = Config.load("")
    paths = config.paths()
    assert all(p.startswith("/") for p in vars(paths).values())
    assert paths.serving_model_dir.endswith("/serving_model/bertrec")


def test_overlay_changes_only_named_fields(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"train": {"max_epochs": 7}, "model": {"encoder": "tiny"}}))
    config = Config.load(str(path))
    assert config.train.max_epochs == 7 and config.model.encoder == "tiny"
    assert config.train.batch_size == Config().train.batch_size


@pytest.mark.parametrize("values, message", [
    ({"trian": {}}, "unknown section 'trian'"),
    ({"train": {"steps": 1}}, "unknown field train.steps"),
    # A field an earlier version had says what replaced it.
    ({"model": {"item_item_l2": 500}}, "unknown field model.item_item_l2; it was replaced: model.item_item_l2_grid"),
    ({"model": {"item_item_l2_grid": []}}, "model.item_item_l2_grid"),
    # Types are checked: a string is not a boolean (it would have been truthy), nor a number.
    ({"model": {"freshness": "false"}}, "model.freshness must be true or false, got 'false'"),
    ({"train": {"max_epochs": "50"}}, "train.max_epochs must be a whole number, got '50'"),
    ({"train": {"max_epochs": True}}, "train.max_epochs must be a whole number, got True"),
    ({"model": {"ranking_hidden_units": [64, "32"]}}, "model.ranking_hidden_units[1] must be a whole number"),
    ({"pipeline": {"beam_args": "--direct_num_workers=2"}}, "pipeline.beam_args must be a list of strings"),
    ({"model": {"encoder": "gpt"}}, "model.encoder"),
    ({"data": {"max_validation_examples": -1}}, "data.max_validation_examples must be >= 0 (0 = all)"),
    ({"serve": {"top_k": 50, "retrieve_k": 10}}, "serve.top_k"),
    ({"pipeline": {"name": "Bad_Name"}}, "pipeline.name"),
])
def test_invalid_values_are_named(values, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        Config.from_dict(values)


def test_invalid_json_names_file_and_line(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"train":\n  {"max_epochs": }}')
    with pytest.raises(ConfigError, match=r"c\.json: invalid JSON at line 2"):
        Config.load(str(path))


def test_a_whole_number_is_a_float_where_one_is_expected_and_the_dict_round_trips():
    config = Config.from_dict({"train": {"learning_rate": 1}})
    assert config.train.learning_rate == 1.0 and isinstance(config.train.learning_rate, float)
    assert Config.from_dict(config.to_dict()).to_dict() == config.to_dict()


def test_the_file_is_named_in_a_type_error(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"model": {"freshness": "no"}}')
    with pytest.raises(ConfigError, match=r"c\.json: model\.freshness must be true or false"):
        Config.load(str(path))


def test_annotations_are_ignored():
    assert Config.from_dict({"_source_fingerprint": "abc"}).to_dict() == Config().to_dict()
