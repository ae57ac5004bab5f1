import json

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
    ({"model": {"encoder": "gpt"}}, "model.encoder"),
    ({"serve": {"top_k": 50, "retrieve_k": 10}}, "serve.top_k"),
    ({"pipeline": {"name": "Bad_Name"}}, "pipeline.name"),
])
def test_invalid_values_are_named(values, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        Config.from_dict(values)


def test_invalid_json_names_file_and_line(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"train":\n  {"max_epochs": }}')
    with pytest.raises(ConfigError, match=r"c\.json: invalid JSON at line 2"):
        Config.load(str(path))


def test_annotations_are_ignored():
    assert Config.from_dict({"_source_fingerprint": "abc"}).to_dict() == Config().to_dict()
