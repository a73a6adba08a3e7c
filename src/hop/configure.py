"""Where skyhop keeps its configuration, and the general settings stored there.

Two files live in the user's configuration directory
(``$XDG_CONFIG_HOME/hop``, else ``~/.config/hop``):

``config.toml``
    General settings in a ``[config]`` table (see :class:`Config`).
``auth.toml``
    Credentials (see :mod:`hop.auth`).

Settings are resolved once, in increasing precedence: built-in defaults, the
file, the environment (``HOP_<NAME>`` variables), then explicit arguments.
Functions that read the environment take an optional ``env`` mapping so callers
and tests can pass their own.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import IO, Any

from hop import _toml
from hop._private_files import write_toml
from hop.errors import ConfigFileError, ConfigurationError, HopWarning

__all__ = [
    "Config",
    "get_config_path",
    "load_config",
    "write_config_value",
]

_FILE_NAMES = {"general": "config.toml", "auth": "auth.toml"}
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


def get_config_path(type: str = "general", *, env: Mapping[str, str] | None = None) -> str:
    """Determine the default location of a configuration file.

    Parameters
    ----------
    type : {"general", "auth"}
        ``"general"`` for ``config.toml``, ``"auth"`` for the credential store ``auth.toml``.
    env : mapping, optional
        The environment to read ``XDG_CONFIG_HOME`` and ``HOME`` from; ``os.environ``
        when not given.

    Returns
    -------
    str
        ``$XDG_CONFIG_HOME/hop/<file>``, or ``~/.config/hop/<file>`` when
        ``XDG_CONFIG_HOME`` is unset or empty.

    Raises
    ------
    ValueError
        The type is not one of the recognised ones.
    """
    try:
        file_name = _FILE_NAMES[type]
    except KeyError as exc:
        known = ", ".join(repr(t) for t in _FILE_NAMES)
        raise ConfigurationError(
            f"Unknown configuration type: {type!r} (expected one of {known})"
        ) from exc
    environ = os.environ if env is None else env
    base = environ.get("XDG_CONFIG_HOME") or ""
    if not base:
        home = environ.get("HOME") or str(Path.home())
        base = os.path.join(home, ".config")
    return os.path.join(base, "hop", file_name)


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigurationError(
        f"Invalid boolean value {text!r}: use one of true/false, yes/no, on/off, 1/0"
    )


@dataclass(frozen=True)
class Config:
    """General (non-credential) settings."""

    fetch_external: bool = True
    """Fetch the payload of messages that were offloaded because they were too large."""

    automatic_offload: bool = True
    """Offload messages larger than the topic allows instead of failing to send them."""

    def asdict(self) -> dict[str, Any]:
        """Return the settings as a plain dictionary."""
        return dataclasses.asdict(self)

    @classmethod
    def names(cls) -> list[str]:
        """Return the names of the settings."""
        return [f.name for f in fields(cls)]

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "configuration") -> Config:
        """Build a Config from a ``[config]`` table, checking names and types.

        Raises
        ------
        ConfigurationError
            An unknown key, or a value that is not a boolean.
        """
        return cls(**_checked_settings(data, source))

    @classmethod
    def load(cls, input: str | IO[str]) -> Config:
        """Read settings from TOML text or a text file holding a ``[config]`` table.

        Raises
        ------
        RuntimeError
            (:class:`hop.errors.ConfigFileError`) The data is not valid TOML, has no
            ``[config]`` table, or holds bad settings.
        """
        text = input if isinstance(input, str) else input.read()
        source = str(getattr(input, "name", "configuration data"))
        table = _config_table(_parse(text, source), source, required=True)
        return cls(**_checked_settings(table, source, error=ConfigFileError))

    def save(self, output: IO[str]) -> None:
        """Write the settings as a ``[config]`` table to a text file."""
        import tomli_w

        output.write(tomli_w.dumps({"config": self.asdict()}))


def _checked_settings(
    data: Mapping[str, Any],
    source: str,
    *,
    error: type[ConfigurationError] = ConfigurationError,
) -> dict[str, bool]:
    """Return only the settings present in ``data``, validated.

    ``error`` is the class raised: :class:`ConfigFileError` (a ``RuntimeError``, as
    upstream) for what comes from a file or the environment.
    """
    values: dict[str, bool] = {}
    known = Config.names()
    for key, value in data.items():
        if key not in known:
            raise error(f"{source}: unknown setting {key!r} (known settings: {', '.join(known)})")
        if isinstance(value, str):
            try:
                value = _parse_bool(value)
            except ConfigurationError as exc:
                raise error(f"{source}: setting {key!r}: {exc}") from exc
        if not isinstance(value, bool):
            raise error(f"{source}: setting {key!r} must be true or false, not {value!r}")
        values[key] = value
    return values


def _parse(text: str | bytes, source: str) -> dict[str, Any]:
    try:
        return _toml.loads(text)
    except UnicodeDecodeError as exc:
        raise ConfigFileError(f"{source} is not UTF-8 text: {exc}") from exc
    except _toml.TOMLDecodeError as exc:
        raise ConfigFileError(f"{source} is not valid TOML: {exc}") from exc


def _config_table(data: Mapping[str, Any], source: str, *, required: bool) -> dict[str, Any]:
    if "config" not in data:
        if required:
            raise ConfigFileError(f"{source} has no config section")
        return {}
    table = data["config"]
    if not isinstance(table, dict):
        raise ConfigFileError(f"{source}: 'config' must be a table")
    return table


def _read_toml_file(path: str) -> dict[str, Any]:
    with open(path, "rb") as f:
        return _parse(f.read(), path)


def load_config(
    config_path: str | None = None, *, env: Mapping[str, str] | None = None, **overrides: bool
) -> Config:
    """Resolve the general settings.

    Precedence, lowest first: built-in defaults, the ``[config]`` table of the file,
    ``HOP_<NAME>`` environment variables (e.g. ``HOP_FETCH_EXTERNAL=false``), then
    ``overrides``.

    Parameters
    ----------
    config_path : str, optional
        The file to read; :func:`get_config_path` ``("general")`` when not given. A
        missing file is not an error.
    env : mapping, optional
        The environment; ``os.environ`` when not given.
    **overrides
        Explicit values, which win over everything else.

    A file that exists but cannot be opened gives a warning and is skipped, as
    hop-client does.

    Raises
    ------
    RuntimeError
        (:class:`hop.errors.ConfigFileError`) The file is malformed, or a ``HOP_*``
        variable is not a valid boolean.
    ValueError
        (:class:`hop.errors.ConfigurationError`) An override is not a valid setting.
    """
    environ = os.environ if env is None else env
    path = config_path if config_path is not None else get_config_path("general", env=environ)
    values: dict[str, Any] = {}
    if os.path.exists(path):
        try:
            with open(path, "rb") as f:
                text = f.read()
        except OSError as exc:
            warnings.warn(
                f"Unable to open {path} for reading ({exc.strerror or exc}); "
                "using default configuration",
                HopWarning,
                stacklevel=2,
            )
        else:
            table = _config_table(_parse(text, path), path, required=False)
            values.update(_checked_settings(table, path, error=ConfigFileError))
    for name in Config.names():
        variable = f"HOP_{name.upper()}"
        if variable in environ:
            try:
                values[name] = _parse_bool(environ[variable])
            except ConfigurationError as exc:
                raise ConfigFileError(
                    f"Error parsing configuration variable {variable}: {exc}"
                ) from exc
    values.update(_checked_settings(overrides, "arguments"))
    return Config(**values)


def write_config_value(name: str, value: str | bool, *, config_path: str | None = None) -> Config:
    """Store one setting in the configuration file, keeping the others.

    Only the file is read (not the environment), so environment overrides are not
    written back by accident. Only the setting given is written: the others keep
    following the built-in defaults (as with hop-client). Other tables in the file are
    preserved.

    Returns
    -------
    Config
        The settings now in effect from the file (defaults for those it lacks).

    Raises
    ------
    RuntimeError
        (:class:`hop.errors.ConfigFileError`) The existing file is malformed.
    ValueError
        (:class:`hop.errors.ConfigurationError`) An unknown setting or a bad value.
    """
    path = config_path if config_path is not None else get_config_path("general")
    data = _read_toml_file(path) if os.path.exists(path) else {}
    table = _config_table(data, path, required=False)
    parsed = _parse_bool(value) if isinstance(value, str) else value
    stored = {**_checked_settings(table, path, error=ConfigFileError), name: parsed}
    updated = Config.from_mapping(stored, source=path)
    data["config"] = {**table, name: parsed}
    write_toml(path, data)
    return updated
