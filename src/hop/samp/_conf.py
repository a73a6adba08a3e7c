"""``hop.samp.conf``: the configuration items of ``astropy.samp.conf``, honoured here.

* ``use_internet`` -- whether the hub may fetch from the internet for its Web Profile
  URL translator (URLs that a desktop client mentioned are served either way).
* ``n_retries`` -- how many times the hub tries one callback to a client whose
  connection fails before it gives that message up.

Set them as attributes, or for a block with :meth:`Conf.set_temp`, as in astropy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["Conf", "conf"]


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"use_internet must be a boolean, not {value!r}")


def _retries(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"n_retries must be an integer >= 1, not {value!r}") from exc
    if number < 1 or number != float(value):
        raise ValueError(f"n_retries must be an integer >= 1, not {value!r}")
    return number


class _Item:
    """One configuration item (a descriptor): default, description, check on set."""

    def __init__(self, default: Any, description: str, check: Callable[[Any], Any]) -> None:
        self.default = default
        self.description = description
        self.check = check
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, conf: Conf | None, owner: type) -> Any:
        if conf is None:
            return self
        return conf._values.get(self.name, self.default)

    def __set__(self, conf: Conf, value: Any) -> None:
        conf._values[self.name] = self.check(value)

    def __call__(self) -> Any:
        """The item's value in :data:`conf` (astropy's ``ConfigItem()`` does the same)."""
        return getattr(conf, self.name)


class Conf:
    """Configuration parameters for :mod:`hop.samp` (astropy's items and defaults).

    Examples
    --------
    >>> from hop.samp import conf
    >>> conf.n_retries
    10
    >>> with conf.set_temp("n_retries", 2):
    ...     conf.n_retries
    2
    """

    use_internet = _Item(
        True, "Whether to allow hop.samp to use the internet, if available.", _bool
    )
    n_retries = _Item(10, "How many times to retry communications when they fail", _retries)

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}

    @classmethod
    def _items(cls) -> dict[str, _Item]:
        return {k: v for k, v in vars(cls).items() if isinstance(v, _Item)}

    def _item(self, name: str) -> _Item:
        try:
            return self._items()[name]
        except KeyError as exc:
            raise AttributeError(
                f"hop.samp.conf has no item {name!r} (items: {', '.join(self._items())})"
            ) from exc

    def __iter__(self) -> Iterator[str]:
        return iter(self._items())

    def keys(self) -> list[str]:
        """The item names."""
        return list(self._items())

    def values(self) -> list[Any]:
        """The current values, in the order of :meth:`keys`."""
        return [getattr(self, name) for name in self._items()]

    def items(self) -> list[tuple[str, Any]]:
        """``(name, value)`` pairs."""
        return [(name, getattr(self, name)) for name in self._items()]

    def help(self, name: str | None = None) -> None:
        """Print the description and value of item ``name`` (or of every item)."""
        names = self.keys() if name is None else [self._item(name).name]
        print("Configuration parameters for `hop.samp`.")
        for each in names:
            item = self._items()[each]
            print(f"\n{each}\n    {item.description}\n    default: {item.default!r}  "
                  f"value: {getattr(self, each)!r}")

    def get_default(self, name: str) -> Any:
        """The default value of item ``name``."""
        return self._item(name).default

    def reset(self, attr: str | None = None) -> None:
        """Put item ``attr`` (or every item) back to its default."""
        if attr is None:
            self._values.clear()
        else:
            self._item(attr)
            self._values.pop(attr, None)

    def reload(self, attr: str | None = None) -> None:
        """Same as :meth:`reset`: hop.samp reads no configuration file."""
        self.reset(attr)

    @contextmanager
    def set_temp(self, attr: str, value: Any) -> Iterator[None]:
        """Set item ``attr`` to ``value`` for the ``with`` block, then restore it."""
        self._item(attr)
        had, old = attr in self._values, self._values.get(attr)
        setattr(self, attr, value)
        try:
            yield
        finally:
            if had:
                self._values[attr] = old
            else:
                self._values.pop(attr, None)

    def __setattr__(self, name: str, value: Any) -> None:
        if name != "_values":
            self._item(name)  # unknown items raise, as in astropy
        super().__setattr__(name, value)

    def __repr__(self) -> str:
        return f"<Conf {dict(self.items())}>"


#: The configuration used by :mod:`hop.samp`.
conf = Conf()
