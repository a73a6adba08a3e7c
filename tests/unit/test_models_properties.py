"""Property tests: parsers return a model or raise their documented error, nothing else;
JSON and Avro content round-trips exactly."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import _data
from hop import _codec, _samples
from hop._models.base import json_loads
from hop.errors import SerializationError
from hop.models import (
    AvroBlob,
    ExternalMessage,
    GCNCircular,
    GCNTextNotice,
    JSONBlob,
    MessageModel,
    VOEvent,
)

# Seeds for the damaged-input tests: the project's own alerts, and the shared real
# samples as well when they are present (more shapes to damage, same properties).
_SHARED = {p.name: p.read_bytes() for p in _data.files(_data.HOP_CLIENT, "*") if p.is_file()}
SEEDS = {
    "voevent": [bytes(_samples.voevent()), *[v for k, v in _SHARED.items() if k.endswith(".xml")]],
    "avro": [
        AvroBlob([{"superevent": "MS240501x", "far": 3.2e-10, "map": b"\x00\x01"}]).serialize()[
            "content"
        ],
        *[v for k, v in _SHARED.items() if k.endswith(".avro")],
    ],
    "circular": [bytes(_samples.gcn_circular()), *[v for k, v in _SHARED.items() if ".gcn3" in k]],
}
SAMPLES = [
    *(seed for seeds in SEEDS.values() for seed in seeds),
    json.dumps(_samples.igwn_alert().content).encode(),
    *_SHARED.values(),
]

PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
)


def containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)


# JSON integers have no size limit in Python; Avro longs are 64 bits.
json_values = st.recursive(json_scalars | st.integers(), containers, max_leaves=25)
avro_values = st.recursive(json_scalars | st.binary(max_size=20), containers, max_leaves=25)


def record_like(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    # Few short keys, so dicts with the same keys (inferred as records) are common.
    keys = st.sampled_from(["a", "b", "_c", "d1", "not a name"])
    return st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=3)


avro_record_values = st.recursive(json_scalars | st.binary(max_size=5), record_like, max_leaves=30)


def mutated(sample: bytes) -> st.SearchStrategy[bytes]:
    """A sample with a few bytes changed, dropped or the tail cut off."""

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        data = bytearray(sample)
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(data) - 1))
            if draw(st.booleans()):
                data[i] = draw(st.integers(0, 255))
            else:
                del data[i]
        return bytes(data[: draw(st.integers(0, len(data)))])

    return build()


def identical(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (``True == 1`` does not count)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(identical(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(identical(a[k], b[k]) for k in a)
    return bool(a == b)


def returns_model_or_serialization_error(parse: Any, data: Any, model: type) -> None:
    try:
        result = parse(data)
    except SerializationError:
        return
    assert isinstance(result, model)


# -- round trips ----------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(json_values)
def test_json_content_round_trips_exactly(content: Any) -> None:
    payload, headers = _codec.pack(content)
    back = _codec.unpack(payload, headers)
    assert isinstance(back, JSONBlob)
    assert identical(back.content, content)


@PROPERTY_SETTINGS
@given(avro_values)
def test_avro_single_record_round_trips_exactly(content: Any) -> None:
    payload, headers = _codec.pack(AvroBlob(content))
    back = _codec.unpack(payload, headers)
    assert isinstance(back, AvroBlob)
    assert back.single_record is True
    assert identical(back.content, content)


@PROPERTY_SETTINGS
@given(st.lists(avro_record_values, max_size=6))
def test_avro_records_of_similar_dicts_round_trip_exactly(records: list[Any]) -> None:
    payload, _ = _codec.pack(AvroBlob(records, single_record=False))
    back = AvroBlob.deserialize(payload, single_record=False)
    assert identical(back.content, records)


@PROPERTY_SETTINGS
@given(st.lists(avro_values, max_size=6).filter(lambda r: len(r) != 1))
def test_avro_multi_record_round_trips_exactly(records: list[Any]) -> None:
    payload, headers = _codec.pack(AvroBlob(records, single_record=False))
    back = _codec.unpack(payload, headers)
    assert isinstance(back, AvroBlob)
    assert back.single_record is False
    assert identical(back.content, records)


@PROPERTY_SETTINGS
@given(
    st.dictionaries(
        st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,10}", fullmatch=True),
        st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), max_size=30).map(
            str.strip
        ),
        max_size=5,
    ),
    st.text(max_size=200),
)
def test_circular_wire_form_round_trips(header: dict[str, str], body: str) -> None:
    circular = GCNCircular(header=header, body=body)
    payload, headers = _codec.pack(circular)
    assert _codec.unpack(payload, headers) == circular


# -- parsers never fail with anything but their documented error ------------------------


@PROPERTY_SETTINGS
@given(st.binary(max_size=300))
def test_parsers_on_arbitrary_bytes_return_a_model_or_a_serialization_error(data: bytes) -> None:
    for model in (VOEvent, GCNCircular, GCNTextNotice, AvroBlob, JSONBlob, ExternalMessage):
        returns_model_or_serialization_error(model.deserialize, data, model)
    returns_model_or_serialization_error(GCNCircular.load, data, GCNCircular)
    returns_model_or_serialization_error(VOEvent.load, data, VOEvent)


@PROPERTY_SETTINGS
@given(st.text(max_size=300))
def test_text_parsers_on_arbitrary_text_return_a_model_or_a_serialization_error(
    text: str,
) -> None:
    returns_model_or_serialization_error(GCNCircular.load, text, GCNCircular)
    returns_model_or_serialization_error(GCNTextNotice.load, text, GCNTextNotice)
    returns_model_or_serialization_error(JSONBlob.load, text, JSONBlob)
    returns_model_or_serialization_error(VOEvent.load, text, VOEvent)


@PROPERTY_SETTINGS
@given(st.sampled_from(SEEDS["voevent"]).flatmap(mutated))
def test_damaged_voevent_gives_a_voevent_or_a_serialization_error(data: bytes) -> None:
    returns_model_or_serialization_error(VOEvent.deserialize, data, VOEvent)


@PROPERTY_SETTINGS
@given(st.sampled_from(SEEDS["avro"]).flatmap(mutated))
def test_damaged_avro_gives_an_avro_blob_or_a_serialization_error(data: bytes) -> None:
    returns_model_or_serialization_error(AvroBlob.deserialize, data, AvroBlob)


@PROPERTY_SETTINGS
@given(st.sampled_from(SEEDS["circular"]).flatmap(mutated))
def test_damaged_circular_gives_a_circular_or_a_serialization_error(data: bytes) -> None:
    returns_model_or_serialization_error(GCNCircular.load, data, GCNCircular)


FORMATS = [None, "voevent", "VOEVENT", "circular", "gcntextnotice", "blob", "json", "avro",
           "external", "unknown"]  # fmt: skip


@PROPERTY_SETTINGS
@given(
    st.binary(max_size=300) | st.sampled_from(sorted(SAMPLES)),
    st.sampled_from(FORMATS),
)
def test_unpack_never_raises(data: bytes, fmt: str | None) -> None:
    headers = None if fmt is None else [("_format", fmt.encode())]
    assert isinstance(_codec.unpack(data, headers, where="t[0]@0"), MessageModel)


def stdlib_outcome(data: bytes) -> tuple[str, Any]:
    try:
        return ("ok", json.loads(data.decode("utf-8")))
    except (ValueError, RecursionError) as exc:
        return ("error", type(exc))


json_texts = st.one_of(
    st.binary(max_size=60),
    st.recursive(
        json_scalars | st.just(float("inf")) | st.integers(min_value=2**63, max_value=2**80),
        containers,
        max_leaves=10,
    ).map(lambda v: json.dumps(v).encode()),
    st.text(max_size=30).map(
        lambda t: json.dumps(t, ensure_ascii=False).encode("utf-8", "surrogatepass")
    ),
    st.sampled_from(
        [b"NaN", b"[Infinity]", b'"\\ud800"', b"\xef\xbb\xbf{}", b"[" * 2000 + b"]" * 2000]
    ),
)


@PROPERTY_SETTINGS
@given(json_texts)
def test_fast_json_decoding_agrees_with_the_standard_library(data: bytes) -> None:
    outcome = stdlib_outcome(data)
    try:
        mine: tuple[str, Any] = ("ok", json_loads(data))
    except (ValueError, RecursionError) as exc:
        mine = ("error", type(exc))
    if outcome[0] == "ok" and mine[0] == "ok":
        assert identical(mine[1], outcome[1]) or (mine[1] != mine[1] and outcome[1] != outcome[1])
    else:
        assert mine == outcome
