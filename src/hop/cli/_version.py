"""List all the dependencies' versions."""

from __future__ import annotations

import argparse
from importlib import metadata

_PACKAGES = ("skyhop", "confluent-kafka", "fastavro", "pluggy", "xmltodict", "rich", "certifi")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``hop version`` takes no options."""


def package_versions() -> list[tuple[str, str]]:
    """Return ``(name, version)`` for skyhop, its dependencies, and librdkafka."""
    found: list[tuple[str, str]] = []
    for name in _PACKAGES:
        try:
            found.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            found.append((name, "not installed"))
    try:
        import confluent_kafka

        found.append(("librdkafka", confluent_kafka.libversion()[0]))
    except ImportError:
        found.append(("librdkafka", "not installed"))
    return found


def run(args: argparse.Namespace) -> int:
    """Print ``name==version`` per line."""
    for name, version in package_versions():
        print(f"{name}=={version}")
    return 0
