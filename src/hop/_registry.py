"""The format registry: built-in models plus ``hop_plugin`` entry points.

Built on first use, not at import: importing :mod:`hop` must not import every
installed plugin. A plugin that fails to import or whose hook fails is left out with
one log line naming it; the other formats still work. When two plugins register the
same format name, the later one (built-ins first, then entry points in discovery
order) wins and a warning names both.
"""

from __future__ import annotations

import importlib.metadata
import logging
import threading
from enum import Enum
from typing import Any

import pluggy

from hop import models as _builtin_models
from hop import plugins
from hop.models import MessageModel

__all__ = ["ENTRY_POINT_GROUP", "deserializer_enum", "models", "reset"]

logger = logging.getLogger("hop")

#: The entry-point group plugins register under.
ENTRY_POINT_GROUP = "hop_plugin"

_lock = threading.Lock()
_models: dict[str, type[MessageModel]] | None = None
_enum: Any = None
_unpack: Any = None


def _plugin_manager() -> tuple[pluggy.PluginManager, list[str]]:
    manager = pluggy.PluginManager("hop")
    manager.add_hookspecs(plugins)
    manager.register(_builtin_models, name="hop.models")
    order = ["hop.models"]
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        name = f"{ep.name} ({ep.value})"
        if manager.has_plugin(name):
            continue  # the same distribution seen twice on sys.path
        try:
            manager.register(ep.load(), name=name)
        except Exception as exc:
            logger.warning(
                "hop plugin %s could not be loaded and is ignored: %s: %s",
                name,
                type(exc).__name__,
                exc,
            )
            continue
        order.append(name)
    return manager, order


def _collect() -> dict[str, type[MessageModel]]:
    manager, order = _plugin_manager()
    impls = {impl.plugin_name: impl for impl in manager.hook.get_models.get_hookimpls()}
    registry: dict[str, type[MessageModel]] = {}
    owners: dict[str, str] = {}
    for plugin_name in order:
        impl = impls.get(plugin_name)
        if impl is None:
            logger.warning("hop plugin %s defines no get_models hook; ignored", plugin_name)
            continue
        try:
            provided: Any = impl.function()
            items = list(provided.items())
        except Exception as exc:
            logger.warning(
                "hop plugin %s failed in get_models() and is ignored: %s: %s",
                plugin_name,
                type(exc).__name__,
                exc,
            )
            continue
        for fmt, cls in items:
            if not isinstance(fmt, str) or not (
                isinstance(cls, type) and hasattr(cls, "deserialize")
            ):
                logger.warning(
                    "hop plugin %s registered %r -> %r, which is not a format name and a "
                    "model class; ignored",
                    plugin_name,
                    fmt,
                    cls,
                )
                continue
            key = fmt.upper()
            if key in registry:
                logger.warning(
                    "Identified duplicate message plugin %s: %s (from %s) replaces %s (from %s)",
                    key,
                    cls.__qualname__,
                    plugin_name,
                    registry[key].__qualname__,
                    owners[key],
                )
            registry[key] = cls
            owners[key] = plugin_name
    return registry


def models() -> dict[str, type[MessageModel]]:
    """Return ``{UPPER-CASE FORMAT NAME: model class}``, building it on first use."""
    registry = _models
    if registry is None:
        with _lock:
            registry = _models
            if registry is None:
                registry = _set_models(_collect())
    return registry


def _set_models(registry: dict[str, type[MessageModel]]) -> dict[str, type[MessageModel]]:
    global _models
    _models = registry
    return registry


def reset() -> None:
    """Forget the registry so that the next lookup discovers plugins again.

    For tests and for programs that install a plugin while running.
    """
    global _models, _enum
    with _lock:
        _models = None
        _enum = None


class _DeserializerMixin:
    """Methods of the :data:`hop.io.Deserializer` enum."""

    value: Any

    @classmethod
    def deserialize(cls, message: Any) -> MessageModel:
        """Deserialize a stream message and instantiate a model.

        Parameters
        ----------
        message : confluent_kafka.Message or alike
            An object with ``value()`` and ``headers()``.

        Returns
        -------
        MessageModel
            The model the ``_format`` header (or the legacy rules) selects. A message
            that cannot be decoded becomes a :class:`~hop.models.Blob` with a warning.
        """
        global _unpack
        if _unpack is None:
            from hop._codec import unpack as _unpack  # hop._codec imports this module
        # The message itself names where it came from, formatted only if it fails.
        model: MessageModel = _unpack(message.value(), message.headers(), where=message)
        return model

    def load(self, input_: Any) -> MessageModel:
        """Create a model of this format from a file object or its contents."""
        result: MessageModel = self.value.load(input_)
        return result

    def load_file(self, input_file: str) -> MessageModel:
        """Create a model of this format from a file."""
        result: MessageModel = self.value.load_file(input_file)
        return result


def deserializer_enum() -> Any:
    """Return the ``Deserializer`` enum: one member per format, valued by its model."""
    global _enum
    if _enum is None:
        registry = models()
        with _lock:
            if _enum is None:
                _enum = Enum(  # type: ignore[misc]
                    "Deserializer",
                    list(registry.items()),
                    module="hop.io",
                    type=_DeserializerMixin,
                )
    return _enum
