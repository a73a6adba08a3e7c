"""hop's JSON encoders: json_dumps writes exactly json.dumps's text; json_encode writes
text that decodes to exactly json.dumps's value (orjson's where that holds). Both fail
as json.dumps fails."""

from __future__ import annotations

import datetime
import enum
import json
import uuid
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hop._models.base import json_dumps, json_encode

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


# -- json_encode: orjson where the decoded value is json.dumps's, json.dumps elsewhere --


class _Str(str):
    pass


class _Int(int):
    pass


class _Float(float):
    pass


class _Dict(dict):  # type: ignore[type-arg]
    pass


class _List(list):  # type: ignore[type-arg]
    pass


class _Color(enum.Enum):
    RED = 1


class _Level(enum.IntEnum):
    HIGH = 3


# Every character, lone surrogates included (st.text() leaves them out by default).
_any_text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=12)

_scalars = (
    st.none()
    | st.booleans()
    | st.integers()  # beyond 64 bits too
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | _any_text
    | st.builds(_Str, _any_text)
    | st.builds(_Int, st.integers())
    | st.builds(_Float, st.floats())
    | st.just(_Level.HIGH)
)
_keys = _any_text | st.integers() | st.floats() | st.booleans() | st.none() | st.builds(_Str)
wide_values = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=5)
    | st.lists(children, max_size=5).map(tuple)
    | st.lists(children, max_size=3).map(_List)
    | st.dictionaries(_keys, children, max_size=5)
    | st.dictionaries(st.text(max_size=4), children, max_size=3).map(_Dict),
    max_leaves=30,
)


def _decoded(text: bytes | str) -> str:
    # The decoded value, written canonically: json.dumps tells 1 from 1.0 and True, -0.0
    # from 0.0 and keeps NaN, where == would not (nan != nan, 1 == 1.0 == True).
    return json.dumps(json.loads(text))


def test_json_encode_writes_uuids_and_enums_which_json_dumps_refuses() -> None:
    # orjson encodes them natively; a walk to refuse them would cost more than orjson.
    value = {"id": uuid.UUID(int=1), "color": _Color.RED}
    with pytest.raises(TypeError):
        json.dumps(value)
    assert json.loads(json_encode(value)) == {"id": str(uuid.UUID(int=1)), "color": 1}


@given(wide_values)
def test_json_encode_decodes_to_what_json_dumps_decodes_to(value: Any) -> None:
    try:
        expected = json.dumps(value)
    except (TypeError, ValueError) as exc:
        with pytest.raises(type(exc)):
            json_encode(value)
        return
    assert _decoded(json_encode(value)) == _decoded(expected)


@given(json_values)
def test_json_encode_of_plain_json_decodes_to_the_same_value(value: Any) -> None:
    assert _decoded(json_encode(value)) == _decoded(json.dumps(value))


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        {"far": float("inf")},
        [None, -float("inf")],
        2**64,
        {"n": -(2**63) - 1},
        {1: "int key"},
        {None: 1, True: 2, 1.5: 3},
        _Str("sub"),
        {"x": _Int(7)},
        _Dict(a=1),
        "\ud800 lone surrogate",
    ],
)
def test_json_encode_falls_back_to_json_dumps_text_where_orjson_would_differ(value: Any) -> None:
    assert json_encode(value) == json.dumps(value).encode()


def test_json_encode_nesting_deeper_than_orjson_allows_is_json_dumps_text() -> None:
    value: Any = 0
    for _ in range(300):
        value = [value]
    assert json_encode(value) == json.dumps(value).encode()


@pytest.mark.parametrize(
    "bad",
    [
        {"when": datetime.datetime(2026, 12, 2)},
        {"at": datetime.date(2026, 12, 2)},
        {"x": object()},
        {(1, 2): "tuple key"},
    ],
)
def test_json_encode_refuses_what_json_dumps_refuses_with_its_error(bad: Any) -> None:
    with pytest.raises(TypeError) as ours:
        json_encode(bad)
    with pytest.raises(TypeError) as theirs:
        json.dumps(bad)
    assert str(ours.value) == str(theirs.value)


def test_json_encode_of_an_alert_is_orjson_compact_utf8() -> None:
    alert = {"event": "S240101abc", "ra": 123.456, "far": 1.2e-10, "ifos": ["H1", "L1"],
             "name": "Ω"}  # fmt: skip
    assert json_encode(alert) == orjson.dumps(alert)
    assert json.loads(json_encode(alert)) == alert
