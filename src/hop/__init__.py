"""skyhop's ``hop`` package: publish and subscribe to astronomical alert streams.

A drop-in replacement for the hop-client API::

    from hop import stream
    with stream.open("kafka://localhost:9092/topic", "w") as s:
        s.write({"my": "message"})

Importing ``hop`` does no work: ``Stream`` and the default ``stream`` are created on
first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# Code written for hop-client detects features by its version, so __version__ is the
# hop-client API level this package implements; skyhop's own release is beside it.
__version__ = "0.13.0"
__skyhop_version__ = "0.1.0"

__all__ = ["Stream", "__skyhop_version__", "__version__", "stream"]

if TYPE_CHECKING:
    from hop.io import Stream

    stream: Stream

_default_stream: Any = None


def __getattr__(name: str) -> Any:
    # Module-level lazy attributes (PEP 562) keep `import hop` free of confluent-kafka.
    global _default_stream
    if name == "Stream":
        from hop.io import Stream

        return Stream
    if name == "stream":
        if _default_stream is None:
            from hop.io import Stream

            _default_stream = Stream()
        return _default_stream
    if name == "list_topics":
        # hop-client's submodule, which igwn-alert (and tests patching
        # "hop.list_topics") reach as an attribute of the package. Bound here, as a
        # finished import would: mock.patch deletes the attribute when it is done.
        import importlib

        module = importlib.import_module("hop.list_topics")
        globals()["list_topics"] = module
        return module
    raise AttributeError(f"module 'hop' has no attribute {name!r}")
