"""Plugin hooks for message models.

A package adds its own models by defining a function decorated with
:data:`register` that returns ``{format_name: ModelClass}``, and naming the module
that holds it in a ``hop_plugin`` entry point::

    [project.entry-points.hop_plugin]
    donut-plugin = "my.custom.module"

Plugins are discovered the first time a model is looked up by format (reading a
message, or :data:`hop.io.Deserializer`), not at import.
"""

from __future__ import annotations

from typing import Any

import pluggy

__all__ = ["get_models", "register", "specification"]

#: Decorator marking a plugin's hook implementation.
register = pluggy.HookimplMarker("hop")
#: Decorator marking a hook specification.
specification = pluggy.HookspecMarker("hop")


@specification
def get_models() -> dict[str, Any]:  # type: ignore[empty-body]
    """Return the message models a plugin provides.

    Returns
    -------
    dict
        ``{"type": Model}``, where the type is the model's format name (see
        :func:`hop.models.format_name`).
    """
