"""A custom message model registered as a hop plugin (the documentation's Donut).

Written against the public plugin API only, so the same module works with skyhop and
with upstream hop-client.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hop import plugins
from hop.models import MessageModel, format_name


@dataclass
class Donut(MessageModel):
    """A donut; travels as the JSON of its fields."""

    category: str
    flavor: str
    has_filling: bool

    @classmethod
    def load(cls, input_: Any) -> Donut:
        """Create a donut from JSON text or a file object holding it."""
        donut = json.load(input_) if hasattr(input_, "read") else json.loads(input_)
        return cls(**donut)


@plugins.register
def get_models() -> dict[str, Any]:
    """Register the Donut model."""
    return {format_name(cls): cls for cls in [Donut]}
