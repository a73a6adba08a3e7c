"""The notebook cells of docs/guide/aio.rst, run in a real Jupyter kernel against the broker.

Jupyter runs cells inside its own running event loop (top-level ``await``): the case
``asyncio.run`` cannot show. The cells are the page's ``.. code-block:: ipython``
blocks, so the documentation shows exactly what is tested.
"""

from __future__ import annotations

import re
import textwrap
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "guide" / "aio.rst"
CELL_TIMEOUT_S = 60


def notebook_cells(text: str) -> list[str]:
    """The sources of the ``.. code-block:: ipython`` blocks of an rST page, in order."""
    cells = []
    for match in re.finditer(
        r"^\.\. code-block:: ipython\n\n((?:(?:   .*)?\n)+)", text, re.MULTILINE
    ):
        cells.append(textwrap.dedent(match.group(1)).strip("\n"))
    return cells


def test_the_guide_has_notebook_cells_with_top_level_await():
    cells = notebook_cells(PAGE.read_text())
    assert len(cells) >= 3
    assert any(line.startswith("async with") for cell in cells for line in cell.splitlines())


def test_the_guide_notebook_runs_in_a_jupyter_kernel_against_the_broker(
    kafka_broker, tmp_path, monkeypatch
):
    # jupyter_core warns about its old path layout unless told to use the new one.
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("HOME", str(tmp_path))
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")

    topic = f"notebook-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic)
    port = kafka_broker.bootstrap["plaintext"].rsplit(":", 1)[1]
    cells = [
        cell.replace("localhost:9092/gcn", f"127.0.0.1:{port}/{topic}")
        for cell in notebook_cells(PAGE.read_text())
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    # The kernel is this interpreter (the project's venv), as `jupyter notebook` would run.
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()

    def text(cell) -> str:
        return "".join(out.get("text", "") for out in cell.outputs if out.output_type == "stream")

    errors = [out for cell in notebook.cells for out in cell.outputs if out.output_type == "error"]
    assert not errors, errors
    assert text(notebook.cells[0]).strip() == "stored at offset 0"
    assert "'event': 'S250101a'" in text(notebook.cells[1])
    assert "S250101a" in text(notebook.cells[-1])
