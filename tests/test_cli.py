"""The CLI: a mistake the user can fix is one line; a bug keeps its traceback."""
import pytest

from bertrec import cli


def test_a_user_error_is_one_line_naming_the_file_and_field(tmp_path, capsys):
    path = tmp_path / "c.json"
    path.write_text('{"model": {"freshness": "no"}}')
    assert cli.main(["--config", str(path), "paths"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bertrec: error: ") and str(path) in err and "model.freshness" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_bug_is_not_dressed_up_as_a_user_error(monkeypatch):
    def broken(config, args):
        raise ValueError("an internal invariant broke")

    monkeypatch.setattr(cli, "_paths", broken)
    # It propagates, so the interpreter prints its traceback.
    with pytest.raises(ValueError, match="an internal invariant broke"):
        cli.main(["paths"])
