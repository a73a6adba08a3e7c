"""hop's fast JSON encoder writes exactly what json.dumps writes, and fails as it fails."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hop._models.base import json_dumps

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=30,
)


@given(json_values)
def test_the_text_is_json_dumps_text(value: Any) -> None:
    assert json_dumps(value) == json.dumps(value)


def test_unencodable_values_fail_with_json_dumps_own_errors() -> None:
    circular: list[Any] = []
    circular.append(circular)
    for bad in (circular, {"when": object()}, {1j: 2}):
        with pytest.raises((TypeError, ValueError)) as ours:
            json_dumps(bad)
        with pytest.raises((TypeError, ValueError)) as theirs:
            json.dumps(bad)
        assert (type(ours.value), str(ours.value)) == (type(theirs.value), str(theirs.value))
