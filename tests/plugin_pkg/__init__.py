"""Make the test plugin (and throw-away plugins) discoverable without pip.

:func:`make_distribution` writes a ``*.dist-info`` directory holding only the metadata
and ``hop_plugin`` entry points; with that directory and the plugin's source on
``sys.path`` (or ``PYTHONPATH`` for a subprocess), ``importlib.metadata`` finds the
entry points exactly as it would for an installed distribution. Unlike ``pip install``
this touches neither the project's virtualenv nor the peers' one.
"""

from __future__ import annotations

from pathlib import Path

#: The source directory of the Donut plugin (holds the ``hop_donut`` package).
DONUT_SRC = Path(__file__).resolve().parent / "src"


def make_distribution(target: Path, name: str, entry_points: dict[str, str]) -> Path:
    """Write ``<target>/<name>-0.1.dist-info`` declaring ``hop_plugin`` entry points.

    Parameters
    ----------
    target : pathlib.Path
        A directory that will be put on ``sys.path``.
    name : str
        The distribution name (a Python identifier).
    entry_points : dict
        ``{entry point name: module}`` for the ``hop_plugin`` group.

    Returns
    -------
    pathlib.Path
        ``target``, for convenience.
    """
    dist = target / f"{name}-0.1.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    lines = ["[hop_plugin]", *(f"{ep} = {module}" for ep, module in entry_points.items())]
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return target


def donut_paths(target: Path) -> list[str]:
    """Declare the Donut plugin in ``target`` and return the ``sys.path`` entries it needs."""
    make_distribution(target, "hop_donut_plugin", {"donut-plugin": "hop_donut"})
    return [str(target), str(DONUT_SRC)]
