"""hop.configure: file locations and general settings with their precedence."""

from __future__ import annotations

import io
import stat

import pytest

from hop import configure
from hop.configure import Config, get_config_path, load_config, write_config_value
from hop.errors import ConfigurationError


def test_config_paths_follow_xdg_config_home():
    env = {"XDG_CONFIG_HOME": "/xdg", "HOME": "/home/u"}
    assert get_config_path(env=env) == "/xdg/hop/config.toml"
    assert get_config_path("auth", env=env) == "/xdg/hop/auth.toml"


def test_config_paths_fall_back_to_home_dot_config():
    for env in ({"HOME": "/home/u"}, {"HOME": "/home/u", "XDG_CONFIG_HOME": ""}):
        assert get_config_path("auth", env=env) == "/home/u/.config/hop/auth.toml"


def test_unknown_config_type_is_value_error():
    with pytest.raises(ValueError, match="Unknown configuration type: 'nope'"):
        get_config_path("nope")


def test_defaults_when_nothing_is_configured(tmp_path):
    assert load_config(str(tmp_path / "missing.toml"), env={}) == Config(True, True)


def test_precedence_defaults_file_environment_arguments(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[config]\nfetch_external = false\nautomatic_offload = false\n")
    assert load_config(str(path), env={}) == Config(False, False)
    env = {"HOP_FETCH_EXTERNAL": "yes"}
    assert load_config(str(path), env=env) == Config(True, False)
    assert load_config(str(path), env=env, fetch_external=False) == Config(False, False)
    # An argument for one setting leaves the others as the lower layers set them.
    assert load_config(str(path), env=env, automatic_offload=True) == Config(True, True)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[config\n", "not valid TOML"),
        ("[config]\nfetch_externl = true\n", "unknown setting 'fetch_externl'"),
        ("[config]\nfetch_external = 3\n", "must be true or false"),
    ],
)
def test_malformed_config_file_names_the_file(tmp_path, text, fragment):
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigurationError) as info:
        load_config(str(path), env={})
    assert fragment in str(info.value) and str(path) in str(info.value)


def test_bad_environment_value_names_the_variable(tmp_path):
    with pytest.raises(ConfigurationError, match=r"HOP_AUTOMATIC_OFFLOAD.*'maybe'"):
        load_config(str(tmp_path / "none.toml"), env={"HOP_AUTOMATIC_OFFLOAD": "maybe"})


def test_write_config_value_keeps_other_tables_and_settings(tmp_path):
    path = tmp_path / "hop" / "config.toml"
    path.parent.mkdir()
    path.write_text("[config]\nfetch_external = false\n[other]\nx = 1\n")
    stored = write_config_value("automatic_offload", "off", config_path=str(path))
    assert stored == Config(fetch_external=False, automatic_offload=False)
    assert load_config(str(path), env={}) == stored
    assert "[other]" in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_write_config_value_rejects_unknown_names(tmp_path):
    with pytest.raises(ConfigurationError, match="unknown setting 'colour'"):
        write_config_value("colour", "true", config_path=str(tmp_path / "c.toml"))
    assert not (tmp_path / "c.toml").exists()


def test_config_load_and_save_round_trip():
    buffer = io.StringIO()
    Config(fetch_external=False).save(buffer)
    assert Config.load(buffer.getvalue()) == Config(fetch_external=False)
    with pytest.raises(ConfigurationError, match="has no config section"):
        Config.load("[other]\n")


def test_public_names_of_hop_configure():
    assert set(configure.__all__) == {
        "Config",
        "get_config_path",
        "load_config",
        "write_config_value",
    }
