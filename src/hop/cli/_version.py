"""List all the dependencies' versions."""

from __future__ import annotations

import argparse
import re
from importlib import metadata

_DISTRIBUTION = "skyhop"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``hop version`` takes no options."""


def runtime_requirements() -> list[str]:
    """Return the names of skyhop's runtime dependencies, as its metadata declares them.

    Read from the installed distribution, so the list is the one pip installed
    (optional extras such as ``test`` are left out).
    """
    try:
        requires = metadata.requires(_DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        return []
    names = []
    for requirement in requires:
        spec, _, marker = requirement.partition(";")
        if "extra" in marker:
            continue
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", spec.strip())
        if match:
            names.append(match.group(0))
    return names


def package_versions() -> list[tuple[str, str]]:
    """Return ``(name, version)`` for the API level, skyhop, its dependencies, librdkafka.

    The first line is ``hop-client==0.13.0``, the hop-client API level implemented
    (``hop.__version__``), for scripts that detect features from hop-client's own
    first line.
    """
    import hop

    found: list[tuple[str, str]] = [("hop-client", hop.__version__)]
    for name in [_DISTRIBUTION, *runtime_requirements()]:
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
