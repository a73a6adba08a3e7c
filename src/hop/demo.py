"""The skyhop demo: a real alert round trip on a broker it starts itself.

``./run demo`` (or ``python -m hop.demo``) starts a local Apache Kafka broker,
publishes three alerts about one made-up event (an IGWN gravitational-wave alert with
a multi-order sky map, a VOEvent with the sky position of a counterpart, and the GCN
circular reporting it), reads the topic back from the beginning until the end of the
stream, prints each alert readably, and stops the broker. The alerts are built by
the package itself, so the demo needs nothing but an installed skyhop, Java and (on
the first run) Maven Central.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hop._demo_console import run_demo, say

__all__ = ["main"]


def _shorten(value: Any, limit: int = 60) -> Any:
    """Replace long strings (base64 sky maps) by a summary so alerts fit a terminal."""
    if isinstance(value, dict):
        return {k: _shorten(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [_shorten(v, limit) for v in value]
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:24]}... ({len(value):,} characters)"
    return value


def _skymap_summary(encoded: str) -> str:
    """``multi-order FITS, 30 pixels (orders 0-6), 90% area 14 deg²`` for a sky map."""
    from hop._skymap import pixel_area, read_moc_fits, uniq_order

    try:
        _, pixels = read_moc_fits(base64.b64decode(encoded, validate=True))
    except (ValueError, binascii.Error):
        return f"{len(encoded):,} characters of base64 (not a sky map this demo reads)"
    orders = [uniq_order(p.uniq) for p in pixels]
    # The 90% credible area: the densest pixels that together hold 90% of the probability.
    area = held = 0.0
    densest_first = sorted(zip((p.probdensity for p in pixels), orders, strict=True), reverse=True)
    for density, order in densest_first:
        if held >= 0.9:
            break
        held += density * pixel_area(order)
        area += pixel_area(order)
    square_degrees = area * (180 / math.pi) ** 2
    return (
        f"multi-order FITS, {len(pixels)} pixels (orders {min(orders)}-{max(orders)}), "
        f"90% area {square_degrees:,.0f} deg²"
    )


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
        position = _position(model.WhereWhen)
        if position:
            lines.append(f"position: {position}")
        for p in params[:8]:
            if isinstance(p, dict):
                lines.append(f"  {p.get('name')}: {p.get('value')}")
        return "VOEvent", "\n".join(lines)
    if isinstance(model, JSONBlob) and isinstance(model.content, dict):
        content = model.content
        if "superevent_id" in content:
            title = f"IGWN alert {content['superevent_id']} ({content.get('alert_type', '?')})"
            event = content.get("event")
            if isinstance(event, dict) and isinstance(event.get("skymap"), str):
                event = {**event, "skymap": _skymap_summary(event["skymap"])}
                content = {**content, "event": event}
        else:
            title = "JSON message"
        return title, json.dumps(_shorten(content), indent=2, ensure_ascii=False)
    return type(model).__name__, str(model)[:2000]


def _position(where_when: Any) -> str | None:
    """``RA 51.3281, Dec 4.1837 (deg), error 0.0003`` from a VOEvent's WhereWhen."""
    try:
        coords = where_when["ObsDataLocation"]["ObservationLocation"]["AstroCoords"]
        pos = coords["Position2D"]
        value = pos["Value2"]
        text = f"RA {value['C1']}, Dec {value['C2']} ({pos.get('unit', 'deg')})"
    except (KeyError, TypeError):
        return None
    error = pos.get("Error2Radius")
    return f"{text}, error radius {error}" if error else text


ALERT_FILES = {
    "IGWN alert": "igwn-alert.json",
    "VOEvent": "voevent.xml",
    "GCN circular": "circular.gcn3",
}
"""The file each alert is written to by ``--write-alerts``, in the form ``hop publish``
reads: ``-f JSON``, ``-f VOEVENT`` and ``-f CIRCULAR``."""


def _write_alerts(folder: Path) -> int:
    from hop._samples import sample_alerts

    try:
        folder.mkdir(parents=True, exist_ok=True)
        for label, model in sample_alerts():
            path = folder / ALERT_FILES[label]
            data = (
                json.dumps(model.content, indent=2).encode() + b"\n"
                if label == "IGWN alert"
                else bytes(model)
            )
            path.write_bytes(data)
            print(path)
    except OSError as exc:
        print(f"hop demo: error: {exc.filename or folder}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


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
        "what",
        nargs="?",
        choices=("alerts", "bridge"),
        default="alerts",
        help="alerts: the round trip above (default); bridge: the same alerts forwarded by "
        "the alert bridge to a SAMP client that prints them",
    )
    parser.add_argument("--plain", action="store_true", help="plain text output, no colours")
    parser.add_argument(
        "--write-alerts",
        type=Path,
        metavar="DIR",
        help="only write the three alerts to files in DIR (to publish them yourself), and exit",
    )
    args = parser.parse_args(argv)
    if args.write_alerts is not None:
        return _write_alerts(args.write_alerts)
    if args.what == "bridge":
        from hop._demo_bridge import run

        return run_demo(run)
    console = None
    if not args.plain and sys.stdout.isatty():
        from rich.console import Console

        console = Console()
    return run_demo(lambda: _round_trip(console))


def _round_trip(console: Any) -> int:
    """The default demo: publish the three alerts to a local broker and read them back."""
    from hop import Stream
    from hop._samples import sample_alerts
    from hop.io import StartPosition
    from hop.models import format_name
    from hop.testing import KafkaBroker

    alerts = sample_alerts()
    say("starting a local Apache Kafka broker (first run downloads its jars)...")
    started = time.monotonic()
    with KafkaBroker() as broker:
        elapsed = time.monotonic() - started
        say(f"broker up at {broker.bootstrap['plaintext']} in {elapsed:.1f} s")
        topic = "demo.alerts"
        broker.create_topic(topic, partitions=1)
        url = f"kafka://{broker.bootstrap['plaintext']}/{topic}"
        with Stream(auth=False).open(url, "w") as writer:
            for label, message in alerts:
                writer.write(message)
                say(f"published the {label} ({format_name(type(message))})")
        reader = Stream(auth=False, start_at=StartPosition.EARLIEST, until_eos=True)
        count = 0
        with reader.open(url, "r") as stream:
            for model, meta in stream.read(metadata=True):
                title, body = _describe(model)
                _print(console, title, body, meta)
                count += 1
        say(f"read {count} message(s) back; stopping the broker")
    return 0 if count == len(alerts) else 1


if __name__ == "__main__":
    sys.exit(main())
