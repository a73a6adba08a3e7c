"""The topics a consumer group listens to by default, kept in the hop config dir.

Upstream igwn-alert turned ``subscribe``/``unsubscribe``/``get_subscriptions`` into
deprecation no-ops. Here they manage a small TOML file,
``<hop config dir>/igwn-alert-subscriptions.toml``::

    [subscriptions]
    "my-consumer-group" = ["gracedb.superevent", "gracedb.cbc_gstlal"]
    "" = ["gracedb-playground.superevent"]     # clients with no consumer_group

Full Kafka topic names are stored, so one consumer group can follow topics of several
GraceDB groups. Every change is a read-modify-write under an exclusive lock on a
sibling lock file, and the file is replaced atomically, so concurrent CLI calls never
lose each other's changes or leave a torn file behind.
"""

from __future__ import annotations

import fcntl
import os
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from hop._internal import write_toml
from hop.configure import get_config_path
from hop.errors import ConfigurationError

__all__ = ["SubscriptionStore"]

FILE_NAME = "igwn-alert-subscriptions.toml"


class SubscriptionStore:
    """Per-consumer-group sets of Kafka topic names, persisted in one TOML file.

    Parameters
    ----------
    path : path, optional
        The file; ``<hop config dir>/igwn-alert-subscriptions.toml`` when not given.
    env : mapping, optional
        Environment used to find the hop config dir; ``os.environ`` when not given.
    """

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None
    ) -> None:
        if path is None:
            path = Path(get_config_path("general", env=env)).parent / FILE_NAME
        self.path = Path(path)

    def _read(self) -> dict[str, list[str]]:
        try:
            with open(self.path, "rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError:
            return {}
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"{self.path}: not valid TOML: {exc}") from exc
        table = data.get("subscriptions", {})
        if not isinstance(table, dict) or not all(
            isinstance(v, list) and all(isinstance(t, str) for t in v) for v in table.values()
        ):
            raise ConfigurationError(
                f"{self.path}: [subscriptions] must map consumer groups to lists of topic names"
            )
        return {str(k): list(v) for k, v in table.items()}

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def get(self, consumer_group: str | None) -> list[str]:
        """Return the sorted Kafka topics ``consumer_group`` (None: no group) follows."""
        return sorted(self._read().get(consumer_group or "", []))

    def _update(
        self, consumer_group: str | None, change: Callable[[set[str]], set[str]]
    ) -> list[str]:
        key = consumer_group or ""
        with self._locked():
            table = self._read()
            topics = change(set(table.get(key, [])))
            if topics:
                table[key] = sorted(topics)
            else:
                table.pop(key, None)
            write_toml(os.fspath(self.path), {"subscriptions": table})
        return sorted(topics)

    def add(self, consumer_group: str | None, topics: Iterable[str]) -> list[str]:
        """Add Kafka topics to a group's set; return the new set."""
        new = set(topics)
        return self._update(consumer_group, lambda current: current | new)

    def remove(self, consumer_group: str | None, topics: Iterable[str]) -> list[str]:
        """Remove Kafka topics from a group's set; return the new set."""
        gone = set(topics)
        return self._update(consumer_group, lambda current: current - gone)
