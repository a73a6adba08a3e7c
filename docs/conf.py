"""Sphinx configuration of skyhop's documentation (``./run docs``)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The checkout's sources win over any installed skyhop; _ext holds the CLI reference.
sys.path[:0] = [str(HERE.parent / "src"), str(HERE / "_ext")]

import hop  # noqa: E402

project = "skyhop"
author = "the skyhop developers"
copyright = "2025, the skyhop developers"
release = version = hop.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "cli_reference",
]

# numpy-style docstrings throughout (style.md item 12); types come from the hints.
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_class_signature = "separated"
autosummary_generate = True
# Only the names a module lists in __all__, including those it re-exports.
autosummary_ignore_module_all = False

templates_path = ["_templates"]
exclude_patterns = ["_build"]
default_role = "py:obj"
nitpicky = False

html_theme = "alabaster"
html_title = f"skyhop {release}"
html_static_path: list[str] = []
html_theme_options = {
    "description": "Real-time astronomical alerts over Kafka and SAMP",
    "fixed_sidebar": True,
}
