"""Versions of skyhop and the libraries it runs on (``hop version``)."""

from __future__ import annotations

__all__ = ["get_packages", "print_packages_versions"]


def get_packages() -> list[str]:
    """Return the names of the packages whose versions ``hop version`` reports."""
    from hop.cli._version import package_versions

    return [name for name, _ in package_versions()]


def print_packages_versions() -> None:
    """Print ``name==version`` for each package, one per line."""
    from hop.cli._version import package_versions

    for name, version in package_versions():
        print(f"{name}=={version}")
