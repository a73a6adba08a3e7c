"""What a listener's callback receives, and how an alert is printed without one."""

from __future__ import annotations

import json
import warnings
from typing import Any

from hop.models import Blob, JSONBlob

__all__ = ["payload_of", "printable"]


def payload_of(model: Any) -> Any:
    """The callback's ``payload`` for a decoded message, as upstream passes it.

    A JSON message gives its content (a str for GraceDB's alerts, which are JSON
    documents sent as strings; a dict when a dict was sent). Anything else that parses
    as JSON (a Blob's bytes, or the text a test's stand-in stream yields) gives the
    parsed value, as upstream's ``json.loads(payload)``; the rest is passed unchanged,
    with a warning.
    """
    if isinstance(model, JSONBlob):
        return model.content
    raw = model.content if isinstance(model, Blob) else model
    try:
        return json.loads(raw)
    except (ValueError, TypeError):
        warnings.warn(f"Payload is not valid json: {raw!r:.200}", stacklevel=4)
    return model


def printable(payload: Any, pretty: bool) -> str:
    """The text printed for an alert: JSON documents compact, or indented if ``pretty``."""
    document = payload
    if isinstance(payload, str):
        try:
            document = json.loads(payload)
        except ValueError:
            return payload
        if not pretty:
            return payload
    if isinstance(document, dict | list):
        return json.dumps(document, indent=4 if pretty else None)
    return str(payload)
