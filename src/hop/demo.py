"""The skyhop demo: a real alert round trip on a broker it starts itself.

``./run demo`` (or ``python -m hop.demo``) starts a local Apache Kafka broker,
publishes a GCN circular, a VOEvent and an IGWN gravitational-wave alert from the
shared sample data, reads the topic back from the beginning until the end of the
stream, prints each alert readably, and stops the broker.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]

_SAMPLES = (
    ("CIRCULAR", "hop-client/example.gcn3"),
    ("VOEVENT", "hop-client/example_voevent.xml"),
    ("JSON", "igwn/MS181101ab-preliminary.json"),
)


def _default_testdata() -> Path:
    # The shared folder sits next to the repository checkout.
    here = Path(__file__).resolve()
    for parent in [Path.cwd(), *here.parents]:
        candidate = parent.parent / "shared" / "testdata"
        if candidate.is_dir():
            return candidate
    return Path.cwd().parent / "shared" / "testdata"


def _shorten(value: Any, limit: int = 60) -> Any:
    """Replace long strings (base64 sky maps) by a summary so alerts fit a terminal."""
    if isinstance(value, dict):
        return {k: _shorten(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [_shorten(v, limit) for v in value]
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:24]}... ({len(value):,} characters)"
    return value


def _describe(model: Any) -> tuple[str, str]:
    """A title and a readable body for one message."""
    from hop.models import GCNCircular, JSONBlob, VOEvent

    if isinstance(model, GCNCircular):
        title = f"GCN circular {model.header.get('number', '?')}: {model.header.get('subject', '')}"
        return title, str(model)
    if isinstance(model, VOEvent):
        params = model.What.get("Param", []) if isinstance(model.What, dict) else []
        if isinstance(params, dict):
            params = [params]
        lines = [f"ivorn: {model.ivorn}", f"role:  {model.role}"]
        for p in params[:8]:
            if isinstance(p, dict):
                lines.append(f"  {p.get('name')}: {p.get('value')}")
        return "VOEvent", "\n".join(lines)
    if isinstance(model, JSONBlob) and isinstance(model.content, dict):
        content = model.content
        if "superevent_id" in content:
            title = f"IGWN alert {content['superevent_id']} ({content.get('alert_type', '?')})"
        else:
            title = "JSON message"
        return title, json.dumps(_shorten(content), indent=2)
    return type(model).__name__, str(model)[:2000]


def _print(console: Any, title: str, body: str, meta: Any) -> None:
    where = f"{meta.topic}[{meta.partition}]@{meta.offset}"
    if console is None:
        print(f"=== {title}  ({where}) ===")
        print(body)
        print()
        return
    from rich.panel import Panel

    console.print(Panel(body, title=title, subtitle=where, expand=False))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo: start a broker, publish three sample alerts, read them back."""
    parser = argparse.ArgumentParser(prog="python -m hop.demo", description=main.__doc__)
    parser.add_argument(
        "--testdata", type=Path, default=None, help="folder holding the shared sample data"
    )
    parser.add_argument("--plain", action="store_true", help="plain text output, no colours")
    args = parser.parse_args(argv)

    from hop import Stream
    from hop.errors import HopError
    from hop.io import Deserializer, StartPosition
    from hop.testing import KafkaBroker

    testdata = args.testdata or _default_testdata()
    files = [(fmt, testdata / rel) for fmt, rel in _SAMPLES]
    missing = [str(path) for _, path in files if not path.is_file()]
    if missing:
        print(f"hop demo: error: sample data not found: {', '.join(missing)}", file=sys.stderr)
        return 1
    console = None
    if not args.plain and sys.stdout.isatty():
        from rich.console import Console

        console = Console()

    def say(text: str) -> None:
        print(f"demo: {text}", file=sys.stderr, flush=True)

    try:
        say("starting a local Apache Kafka broker (first run downloads its jars)...")
        started = time.monotonic()
        with KafkaBroker() as broker:
            elapsed = time.monotonic() - started
            say(f"broker up at {broker.bootstrap['plaintext']} in {elapsed:.1f} s")
            topic = "demo.alerts"
            # IGWN alerts carry ~1 MB sky maps: the topic must accept them.
            broker.create_topic(topic, partitions=1, config={"max.message.bytes": "4194304"})
            url = f"kafka://{broker.bootstrap['plaintext']}/{topic}"
            with Stream(auth=False).open(url, "w") as writer:
                for fmt, path in files:
                    message = Deserializer[fmt].load_file(str(path))
                    writer.write(message)
                    say(f"published {path.name} as {fmt}")
            reader = Stream(auth=False, start_at=StartPosition.EARLIEST, until_eos=True)
            count = 0
            with reader.open(url, "r") as stream:
                for model, meta in stream.read(metadata=True):
                    title, body = _describe(model)
                    _print(console, title, body, meta)
                    count += 1
            say(f"read {count} message(s) back; stopping the broker")
    except HopError as exc:
        print(f"hop demo: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("hop demo: interrupted", file=sys.stderr)
        return 130
    return 0 if count == len(files) else 1


if __name__ == "__main__":
    sys.exit(main())
