"""VOEvent 2.0: XML in, the same XML out, with the document as nested dicts.

The mapping from XML to dicts is the one hop-client users know (xmltodict's with an
empty attribute prefix): attributes become plain keys, the text of an element that
also has attributes or children goes under ``"#text"``, repeated siblings become a
list, an element holding only text becomes that string and an empty one ``None``.

Decoding speed matters (a consumer decodes every VOEvent it receives), so the
document is converted by a purpose-built pyexpat handler: it does only the work this
mapping needs and is about twice as fast as xmltodict, with identical output
(``tests/unit/test_models_voevent.py`` pins the equality on the sample data). lxml
was measured too and lost: its C parse is fast, but walking the tree from Python to
build the dicts costs more than expat's callbacks (numbers in ``bench/bench_models.py``).
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, cast
from xml.parsers import expat
from xml.sax.saxutils import escape, quoteattr

from hop._models.base import MessageModel, _naming, _read_bytes, _source_of
from hop.errors import SerializationError

__all__ = ["VOEvent"]

logger = logging.getLogger("hop")

_MISSING: Any = object()

# Attribute names of the VOEvent 2.0 schema. The schema never uses one name for both an
# attribute and an element, so this set tells them apart when XML is written from dicts.
_ATTRIBUTES = frozenset(
    {
        "cite", "coord_system_id", "dataType", "expires", "id", "importance", "ivorn",
        "meaning", "mimetype", "name", "probability", "relation", "role", "type", "ucd",
        "unit", "uri", "utype", "value", "version",
    }
)  # fmt: skip

_NAMESPACES = (
    ' xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0"'
    ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
    ' xsi:schemaLocation="http://www.ivoa.net/xml/VOEvent/v2.0'
    ' http://www.ivoa.net/xml/VOEvent/VOEvent-v2.0.xsd"'
)


class _EntityDeclared(Exception):
    pass


def _forbid_entities(*_args: Any) -> None:
    # Entity declarations are how "billion laughs" documents blow up; VOEvents never
    # need them.
    raise _EntityDeclared


def _run(parser: Any, data: bytes, what: str) -> None:
    """Parse ``data`` to the end, turning every failure into a SerializationError."""
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        line, column = exc.lineno, exc.offset + 1
        raise SerializationError(
            f"{what} is not well-formed XML: {expat.errors.messages[exc.code]} "
            f"at line {line}, column {column}",
            raw=data,
            position=f"line {line}, column {column}",
        ) from exc
    except (LookupError, UnicodeError) as exc:
        # The XML declaration names an encoding Python lacks, or the bytes do not
        # decode in the declared one.
        raise SerializationError(
            f"{what} cannot be decoded: {exc}", raw=data, position="line 1"
        ) from exc
    except _EntityDeclared as exc:
        raise SerializationError(
            f"{what} declares XML entities, which are refused for safety "
            f"(line {parser.CurrentLineNumber})",
            raw=data,
            position=f"line {parser.CurrentLineNumber}",
        ) from exc


def _root_of(data: bytes, what: str) -> tuple[str, dict[str, str]]:
    """Check that ``data`` is well-formed XML; return its root element's name and attributes.

    Only the root element calls back into Python (its handler then removes itself), so
    the rest of the document is checked at expat's C speed: about a third of the cost of
    building an ElementTree, a quarter of :func:`_parse_xml`'s.
    """
    parser = expat.ParserCreate()
    parser.EntityDeclHandler = _forbid_entities
    root: list[tuple[str, dict[str, str]]] = []

    def start(name: str, attrs: dict[str, str]) -> None:
        root.append((name, attrs))
        parser.StartElementHandler = None

    parser.StartElementHandler = start
    _run(parser, data, what)
    if not root:
        raise SerializationError(f"{what} has no root element", raw=data)
    return root[0]


def _parse_xml(data: bytes, what: str, encoding: str | None = None) -> dict[str, Any]:
    """Convert an XML document to nested dicts (see the module docstring).

    ``encoding`` overrides the document's own declaration: text that was already
    decoded (a str) has been re-encoded as UTF-8 whatever its declaration says.
    """
    parser = expat.ParserCreate(encoding)
    parser.buffer_text = True
    parser.EntityDeclHandler = _forbid_entities
    # All character data goes to one list through its C-level append (no Python frame
    # per chunk); each open element remembers where its own text starts, and takes
    # (and removes) its chunks when it ends, so a parent sees only its own text.
    chunks: list[str] = []
    parser.CharacterDataHandler = chunks.append
    stack: list[tuple[Any, int]] = []
    push = stack.append
    pop = stack.pop
    item: Any = None
    mark = 0

    # Closures over locals: the cheapest state access pyexpat callbacks can have.
    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal item, mark
        push((item, mark))
        item = attrs or None
        mark = len(chunks)

    def end(name: str) -> None:
        nonlocal item, mark
        value: Any
        data: str | None = None
        n = len(chunks) - mark
        if n:
            data = (chunks[mark] if n == 1 else "".join(chunks[mark:])).strip() or None
            del chunks[mark:]
        child = item
        item, mark = pop()
        if child is not None:
            if data:
                old = child.get("#text", _MISSING)
                if old is _MISSING:
                    child["#text"] = data
                elif type(old) is list:
                    old.append(data)
                else:
                    child["#text"] = [old, data]
            value = child
        else:
            value = data
        if item is None:
            item = {name: value}
            return
        old = item.get(name, _MISSING)
        if old is _MISSING:
            item[name] = value
        elif type(old) is list:
            old.append(value)
        else:
            item[name] = [old, value]

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    _run(parser, data, what)
    if not isinstance(item, dict):
        raise SerializationError(f"{what} has no root element", raw=data)
    return item


def _emit(out: list[str], name: str, value: Any) -> None:
    if isinstance(value, list):
        for v in value:
            _emit(out, name, v)
        return
    if value is None:
        out.append(f"<{name}/>")
        return
    if not isinstance(value, dict):
        out.append(f"<{name}>{escape(_scalar(value))}</{name}>")
        return
    attrs = []
    body: list[str] = []
    for key, v in value.items():
        if key == "#text":
            for t in v if isinstance(v, list) else [v]:
                body.append(escape(_scalar(t)))
        elif key in _ATTRIBUTES and not isinstance(v, dict | list) and v is not None:
            attrs.append(f" {key}={quoteattr(_scalar(v))}")
        else:
            _emit(body, key, v)
    tag = f"{name}{''.join(attrs)}"
    out.append(f"<{tag}>{''.join(body)}</{name}>" if body else f"<{tag}/>")


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# The attributes of the VOEvent 2.0 schema (VOEvent-v2.0.xsd); every other name is an
# element.
_ATTRIBUTES = frozenset({
    "cite", "coord_system_id", "dataType", "expires", "id", "importance", "ivorn",
    "meaning", "mimetype", "name", "probability", "relation", "role", "type", "ucd",
    "unit", "uri", "utype", "value", "version",
})  # fmt: skip


@dataclass
class VOEvent(MessageModel):
    """Defines a VOEvent 2.0 structure.

    Implements the schema defined by http://www.ivoa.net/Documents/VOEvent/20110711/.
    The sections hold the XML as nested dicts (see :mod:`hop._models.voevent`); a
    section that is only text (often ``Description``) is a string.

    On the wire a VOEvent is its original XML, byte for byte. A VOEvent built from
    fields rather than loaded is written as XML generated from the fields.
    """

    ivorn: str
    role: str = "observation"
    version: str = "2.0"
    Who: Any = field(default_factory=dict)
    What: Any = field(default_factory=dict)
    WhereWhen: Any = field(default_factory=dict)
    How: Any = field(default_factory=dict)
    Why: Any = field(default_factory=dict)
    Citations: Any = field(default_factory=dict)
    Description: Any = field(default_factory=dict)
    Reference: Any = field(default_factory=dict)
    _raw: bytes = b""

    _SECTIONS: ClassVar[tuple[str, ...]] = (
        "Who", "What", "WhereWhen", "How", "Why", "Citations", "Description", "Reference",
    )  # fmt: skip

    @staticmethod
    def dict_factory(input: list[tuple[str, Any]]) -> dict[str, Any]:
        """Build a dict from ``(key, value)`` pairs, leaving out keys that start with ``_``."""
        # Parameter names here and below are upstream's, for callers that pass them
        # by keyword.
        return {k: v for k, v in input if not k.startswith("_")}

    def __str__(self) -> str:
        return json.dumps(asdict(self, dict_factory=self.dict_factory), indent=2)

    # hop-client's helpers for turning the field dictionaries back into xmltodict's
    # form (attributes prefixed with "@"); kept public because they were.

    @staticmethod
    def is_attribute(key: str) -> bool:
        """Whether ``key`` names an XML attribute (rather than an element) in VOEvent 2.0.

        The schema never uses one name for both.
        """
        return key in _ATTRIBUTES

    @classmethod
    def label_attributes_list(cls, d: list[Any], attr_prefix: str = "@") -> None:
        """Prefix the attribute keys of the dictionaries in ``d``, recursively, in place."""
        for item in d:
            if isinstance(item, dict):
                cls.label_attributes_dict(item, attr_prefix=attr_prefix)
            elif isinstance(item, list):
                cls.label_attributes_list(item, attr_prefix=attr_prefix)

    @classmethod
    def label_attributes_dict(cls, d: dict[str, Any], attr_prefix: str = "@") -> None:
        """Prefix the attribute keys of ``d`` (and of what it holds) with ``attr_prefix``.

        ``d`` is changed in place, so that ``xmltodict.unparse`` restores attributes.
        """
        for value in d.values():
            if isinstance(value, dict):
                cls.label_attributes_dict(value, attr_prefix=attr_prefix)
            elif isinstance(value, list):
                cls.label_attributes_list(value, attr_prefix=attr_prefix)
        for key in [k for k in d if cls.is_attribute(k)]:
            d[attr_prefix + key] = d.pop(key)

    @staticmethod
    def ensure_bytes(data_source: Any) -> Any:
        """Read a string, a file object or a generator of chunks into one value.

        A string is encoded as UTF-8; a file object gives what its ``read()`` returns
        (text for a text file, as with hop-client); a generator's byte chunks are
        joined. Anything else is returned unchanged.
        """
        if isinstance(data_source, str):
            return data_source.encode("utf-8")
        if hasattr(data_source, "read"):
            return data_source.read()
        if inspect.isgenerator(data_source):
            return b"".join(cast("Iterator[bytes]", data_source))
        return data_source

    def __bytes__(self) -> bytes:
        if not self._raw:
            # Upstream sends nothing for a VOEvent built from fields; write the XML.
            self._raw = self._to_xml()
        return self._raw

    def _to_xml(self) -> bytes:
        out = ["<?xml version='1.0' encoding='UTF-8'?>\n<voe:VOEvent", _NAMESPACES]
        for key in ("version", "role", "ivorn"):
            value = getattr(self, key)
            if value is not None:
                out.append(f" {key}={quoteattr(_scalar(value))}")
        out.append(">")
        for name in self._SECTIONS:
            value = getattr(self, name)
            if value is not None and value != {}:
                _emit(out, name, value)
        out.append("</voe:VOEvent>\n")
        return "".join(out).encode("utf-8")

    @classmethod
    def _from_document(cls, doc: dict[str, Any], raw: bytes, what: str) -> VOEvent:
        ((root, body),) = doc.items()
        if root.rpartition(":")[2] != "VOEvent":
            raise SerializationError(
                f"{what}: the root element is <{root}>, not <voe:VOEvent>", raw=raw
            )
        if not isinstance(body, dict):
            body = {}
        kwargs: dict[str, Any] = {}
        for key, value in body.items():
            if ":" in key or key == "xmlns":
                continue  # namespace declarations and schema locations
            if key not in _FIELDS:
                raise SerializationError(
                    f"{what}: <{root}> has an unexpected attribute or element {key!r}", raw=raw
                )
            kwargs[key] = value
        if not isinstance(kwargs.get("ivorn"), str):
            raise SerializationError(f"{what}: <{root}> has no ivorn attribute", raw=raw)
        return cls(**kwargs, _raw=raw)

    @classmethod
    def _parse(cls, raw: bytes, what: str, encoding: str | None = None) -> VOEvent:
        return cls._from_document(_parse_xml(raw, what, encoding), raw, what)

    @classmethod
    def _from_legacy_json(cls, raw: bytes) -> VOEvent:
        # hop-client 0.6-0.11 sent the fields as JSON; rebuild the XML from them.
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise SerializationError(f"legacy JSON VOEvent is not valid JSON: {exc}") from exc
        if not isinstance(obj, dict):
            raise SerializationError("legacy JSON VOEvent is not a JSON object", raw=raw)
        unknown = set(obj) - _FIELDS
        if unknown or not isinstance(obj.get("ivorn"), str):
            raise SerializationError(
                "legacy JSON VOEvent needs a string 'ivorn' and only VOEvent fields"
                + (f"; unexpected: {', '.join(sorted(unknown))}" if unknown else ""),
                raw=raw,
            )
        event = cls(**obj)
        event._raw = event._to_xml()
        return event

    @classmethod
    def deserialize(cls, raw: bytes | str) -> VOEvent:
        """Build a VOEvent from received bytes (or text): XML, or the legacy JSON form.

        The document is checked at once (well-formed XML, a ``<voe:VOEvent>`` root with
        an ``ivorn``), but its sections (``Who``, ``What``...) are turned into dicts only
        when one of them is first read: a reader that forwards, filters on the ``ivorn``
        or counts VOEvents does not pay for them. An element of the root that is no
        VOEvent section is then left out with a warning (loading a file refuses it).

        Raises
        ------
        hop.errors.SerializationError
            If ``raw`` is neither a VOEvent XML document nor a legacy JSON VOEvent.
        """
        raw = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
        try:
            if cls is VOEvent:  # a subclass may need its __init__ run
                return cls._lazy(raw, "VOEvent")
            return cls._parse(raw, "VOEvent")
        except SerializationError:
            if raw.lstrip()[:1] != b"{":
                raise
        return cls._from_legacy_json(raw)

    @classmethod
    def _lazy(cls, raw: bytes, what: str) -> VOEvent:
        """A VOEvent of checked XML whose sections are decoded on first access."""
        root, attrs = _root_of(raw, what)
        if root.rpartition(":")[2] != "VOEvent":
            raise SerializationError(
                f"{what}: the root element is <{root}>, not <voe:VOEvent>", raw=raw
            )
        state: dict[str, Any] = {"role": "observation", "version": "2.0"}
        for key, value in attrs.items():
            if ":" in key or key == "xmlns":
                continue  # namespace declarations and schema locations
            if key not in _ROOT_ATTRIBUTES:
                if key in _FIELDS:  # a section given as an attribute: decode it all now
                    return cls._parse(raw, what)
                raise SerializationError(
                    f"{what}: <{root}> has an unexpected attribute or element {key!r}", raw=raw
                )
            state[key] = value
        if not isinstance(state.get("ivorn"), str):
            raise SerializationError(f"{what}: <{root}> has no ivorn attribute", raw=raw)
        event = object.__new__(cls)
        state["_raw"] = raw
        state[_UNDECODED] = raw
        event.__dict__.update(state)
        return event

    def __getattr__(self, name: str) -> Any:
        # Reached only for a missing attribute: the sections of a lazily decoded event.
        if name in _SECTION_NAMES:
            raw = self.__dict__.get(_UNDECODED)
            if raw is not None:
                self._decode_sections(raw)
                return self.__dict__[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _decode_sections(self, raw: bytes) -> None:
        doc = _parse_xml(raw, "VOEvent")  # checked already: this does not fail
        ((root, body),) = doc.items()
        state = self.__dict__
        if isinstance(body, dict):
            for key, value in body.items():
                if key in _SECTION_NAMES:
                    # setdefault: a section assigned before the first read is kept, and
                    # two threads decoding at once both return the first one stored.
                    state.setdefault(key, value)
                elif key not in _ROOT_ATTRIBUTES and ":" not in key and key != "xmlns":
                    logger.warning(
                        "VOEvent %s: <%s> has an element %r that is no VOEvent section; "
                        "it is left out of the fields (the raw XML keeps it)",
                        state.get("ivorn"), root, key,
                    )
        for name in self._SECTIONS:
            state.setdefault(name, {})
        state.pop(_UNDECODED, None)

    @classmethod
    def load(cls, xml_input: Any) -> VOEvent:
        """Create a new VOEvent from an XML-formatted VOEvent.

        Parameters
        ----------
        xml_input : file object, str, bytes or generator
            The XML document.

        Returns
        -------
        VOEvent
            The VOEvent; its wire form is exactly the bytes read.

        Raises
        ------
        hop.errors.SerializationError
            If the input is not well-formed XML (with the line and column) or not a
            VOEvent.
        """
        with _naming(_source_of(xml_input)):
            if hasattr(xml_input, "read"):
                xml_input = xml_input.read()
            encoding = "utf-8" if isinstance(xml_input, str) else None
            return cls._parse(_read_bytes(xml_input, "VOEvent"), "VOEvent", encoding)

    @classmethod
    def load_file(cls, filename: str) -> VOEvent:
        """Create a new VOEvent from an XML-formatted VOEvent file.

        Parameters
        ----------
        filename : str
            Name of the VOEvent file.

        Returns
        -------
        VOEvent
            The VOEvent.
        """
        with open(filename, "rb") as f, _naming(str(filename)):
            return cls._parse(f.read(), "VOEvent")


_FIELDS = frozenset(f.name for f in fields(VOEvent)) - {"_raw"}
_SECTION_NAMES = frozenset(VOEvent._SECTIONS)
_ROOT_ATTRIBUTES = _FIELDS - _SECTION_NAMES
# The instance attribute holding the raw XML of sections not decoded yet.
_UNDECODED = "_undecoded_sections"
