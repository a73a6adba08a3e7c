"""Every example in README.md and docs/ runs, against the session's real broker.

The rules (also in docs/development.rst): per page, in order, in one Python process,

- ``.. code-block:: python`` blocks (```` ```python ```` fences in README.md) run, sharing
  their variables like a session;
- ``.. code-block:: console`` lines starting with ``$`` run in a shell and must exit 0,
  except a command ending with ``# runs until Ctrl-C``;
- 9092, 9093 and 9094 (``hop dev-broker``'s ports) become the test broker's PLAINTEXT,
  SASL_PLAINTEXT and SASL_SSL ports, and the topics a page names (``-t`` of
  ``hop dev-broker``, ``kafka://localhost:9092/<topics>``) are created first;
- the working folder holds the demo's alerts, and HOME is a fresh folder.

The docstring examples of the public modules (shown in the API reference) run too.
"""

from __future__ import annotations

import doctest
import importlib
import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from hop import demo
from hop.testing import KafkaBroker

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGE_TIMEOUT_S = 240
NOT_RUN = "# runs until Ctrl-C"
_TOPIC_CONFIG = {"max.message.bytes": str(4 * 1024 * 1024)}


@dataclass(frozen=True)
class Block:
    kind: str
    """``python`` or ``console``."""
    source: str
    line: int
    """Line of the page where the block's code starts."""


def _rst_blocks(text: str) -> list[Block]:
    blocks = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = re.match(r"^(\s*)\.\. code-block:: (python|console)\s*$", lines[i])
        i += 1
        if not match:
            continue
        indent = len(match.group(1))
        while i < len(lines) and re.match(r"^\s+:\w[\w-]*:", lines[i]):  # options
            i += 1
        body: list[str] = []
        start = i + 1
        while i < len(lines) and (
            not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent
        ):
            body.append(lines[i])
            i += 1
        code = textwrap.dedent("\n".join(body)).strip("\n")
        leading_blank = next((n for n, line in enumerate(body) if line.strip()), 0)
        blocks.append(Block(match.group(2), code, start + leading_blank))
    return blocks


def _markdown_blocks(text: str) -> list[Block]:
    blocks = []
    for match in re.finditer(r"^```(python|console)\n(.*?)^```$", text, re.M | re.S):
        line = text.count("\n", 0, match.start(2)) + 1
        blocks.append(Block(match.group(1), match.group(2), line))
    return blocks


def page_blocks(path: Path) -> list[Block]:
    text = path.read_text()
    return _markdown_blocks(text) if path.suffix == ".md" else _rst_blocks(text)


def _pages() -> list[Path]:
    pages = [ROOT / "README.md", *sorted(DOCS.rglob("*.rst"))]
    return [p for p in pages if "_build" not in p.parts and "generated" not in p.parts]


PAGES_WITH_EXAMPLES = [p for p in _pages() if page_blocks(p)]


def _substitute(text: str, broker: KafkaBroker) -> str:
    ports = {
        "9092": broker.bootstrap["plaintext"],
        "9093": broker.bootstrap["sasl_plaintext"],
        "9094": broker.bootstrap["sasl_ssl"],
    }
    return re.sub(r"\b909[234]\b", lambda m: ports[m.group(0)].rsplit(":", 1)[1], text)


def _topics(blocks: list[Block]) -> dict[str, int]:
    found: dict[str, int] = {}
    for block in blocks:
        for line in block.source.splitlines():
            if "hop dev-broker" in line:
                for spec in re.findall(r"-t\s+(\S+)", line):
                    name, _, partitions = spec.partition(":")
                    found[name] = max(found.get(name, 1), int(partitions or 1))
        urls = r"kafka://(?:[^@/\s]+@)?localhost:909[234]/([\w.,-]+)"
        for names in re.findall(urls, block.source):
            for name in names.split(","):
                found.setdefault(name, 1)
    return found


_DRIVER = r'''
import json, subprocess, sys, traceback
page, blocks = json.load(open(sys.argv[1]))
namespace = {"__name__": "__main__"}
for block in blocks:
    where = f"{page} line {block['line']}"
    if block["kind"] == "python":
        code = "\n" * (block["line"] - 1) + block["source"]
        try:
            exec(compile(code, page, "exec"), namespace)
        except BaseException:
            traceback.print_exc()
            sys.exit(f"FAILED: the Python block at {where}")
        continue
    for offset, line in enumerate(block["source"].splitlines()):
        if not line.startswith("$ ") or line.rstrip().endswith("# runs until Ctrl-C"):
            continue
        command = line[2:]
        print(f"$ {command}", flush=True)
        done = subprocess.run(command, shell=True, timeout=120)
        if done.returncode != 0:
            sys.exit(f"FAILED (status {done.returncode}): {where} + {offset}: {command}")
'''


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "SAMP_", "HOP_"))}
    env |= {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    }
    env.setdefault("XDG_CACHE_HOME", str(Path.home() / ".cache"))
    return env


@pytest.mark.parametrize(
    "page", PAGES_WITH_EXAMPLES, ids=[str(p.relative_to(ROOT)) for p in PAGES_WITH_EXAMPLES]
)
def test_every_example_of_the_page_runs(page: Path, kafka_broker: KafkaBroker, tmp_path: Path):
    blocks = page_blocks(page)
    existing = set(kafka_broker.list_topics())
    for name, partitions in _topics(blocks).items():
        if name not in existing:
            kafka_broker.create_topic(name, partitions, _TOPIC_CONFIG)
    work, home = tmp_path / "work", tmp_path / "home"
    home.mkdir()
    assert demo.main(["--write-alerts", str(work)]) == 0
    spec = tmp_path / "blocks.json"
    relative = str(page.relative_to(ROOT))
    runnable = [
        {"kind": b.kind, "source": _substitute(b.source, kafka_broker), "line": b.line}
        for b in blocks
    ]
    spec.write_text(json.dumps([relative, runnable]))
    proc = subprocess.run(
        [sys.executable, "-c", _DRIVER, str(spec)],
        cwd=work,
        env=_clean_env(home),
        capture_output=True,
        text=True,
        timeout=PAGE_TIMEOUT_S,
    )
    assert proc.returncode == 0, (proc.stdout[-4000:] + proc.stderr[-6000:]) or "no output"


def test_the_user_guide_pages_and_the_readme_have_examples_that_run():
    have = {str(p.relative_to(ROOT)) for p in PAGES_WITH_EXAMPLES}
    expected = {"README.md", "docs/quickstart.rst", "docs/migration.rst"}
    expected |= {f"docs/guide/{n}.rst" for n in ("streams", "credentials", "robust",
                                                 "igwn_alert", "samp")}  # fmt: skip
    assert expected <= have


def test_examples_are_found_with_their_line_and_ctrl_c_commands_are_marked():
    text = (
        "Intro\n\n.. code-block:: python\n   :caption: x\n\n   a = 1\n   b = a\n\n"
        "text\n\n.. code-block:: console\n\n   $ hop dev-broker -t gcn -t alerts:3  "
        "# runs until Ctrl-C\n   $ hop subscribe kafka://localhost:9092/gcn,other\n"
    )
    blocks = _rst_blocks(text)
    assert [(b.kind, b.line) for b in blocks] == [("python", 6), ("console", 13)]
    assert blocks[0].source == "a = 1\nb = a"
    assert _topics(blocks) == {"gcn": 1, "alerts": 3, "other": 1}
    fenced = _markdown_blocks("# T\n\n```python\nx = 1\n```\n\n```sh\nls\n```\n")
    assert fenced == [Block("python", "x = 1\n", 4)]


# -- docstring examples, as the API reference shows them ---------------------------------

# Examples that cannot run in a test: they reach a production service.
_REACH_PRODUCTION = {"igwn_alert.client"}


def _api_modules() -> list[str]:
    index = (DOCS / "api" / "index.rst").read_text()
    return re.findall(r"^   ([a-z_][\w.]*)$", index, re.M)


@pytest.mark.broker  # KafkaBroker's example starts one
def test_docstring_examples_of_the_documented_modules_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # SAMP lockfiles
    monkeypatch.delenv("SAMP_HUB", raising=False)
    monkeypatch.chdir(tmp_path)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    ran, skipped, seen = [], set(), set()
    for name in _api_modules():
        module = importlib.import_module(name)
        for public in getattr(module, "__all__", []):
            obj = getattr(module, public)
            if id(obj) in seen:
                continue  # re-exported: documented (and run) once
            seen.add(id(obj))
            for test in finder.find(obj, f"{name}.{public}", globs=vars(module).copy()):
                examples = [e for e in test.examples if not e.options.get(doctest.SKIP)]
                if len(examples) < len(test.examples):
                    skipped.add(test.name)
                if examples:
                    runner.run(test)
                    ran.append(test.name)
    results = runner.summarize(verbose=False)
    assert results.failed == 0
    assert ran, "no docstring example ran"
    assert skipped <= _REACH_PRODUCTION, sorted(skipped)
