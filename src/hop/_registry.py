"""The format registry: built-in models plus ``hop_plugin`` entry points.

A pure lookup from format name to model class; what is built on it (the
``Deserializer`` enum, :mod:`hop._deserializer`; the codec, :mod:`hop._codec`)
lives elsewhere and imports this module, never the other way round.

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
from typing import Any

import pluggy

from hop import models as _builtin_models
from hop import plugins
from hop.models import MessageModel

__all__ = ["ENTRY_POINT_GROUP", "models", "reset"]

logger = logging.getLogger("hop")

#: The entry-point group plugins register under.
ENTRY_POINT_GROUP = "hop_plugin"

_lock = threading.Lock()
_models: dict[str, type[MessageModel]] | None = None


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
    global _models
    with _lock:
        _models = None
