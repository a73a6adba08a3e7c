"""What every streaming benchmark needs: the broker, the peers, child processes, a table.

Measurements of skyhop and of raw confluent-kafka run in this process (the same
interpreter, the same librdkafka); upstream hop-client runs in the peers' virtualenv
(``tests/_peers.py``) as a child process that prints one JSON line of results.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TESTDATA = ROOT.parent / "shared" / "testdata"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def peers_python() -> Path:
    """The upstream peers' python (hop-client 0.13), building its virtualenv on first use."""
    from tests._peers import ensure_peers_python

    return ensure_peers_python()


# Variables that would let a child interpreter see the wrong packages.
_LEAKY_ENV = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")


def clean_env() -> dict[str, str]:
    """The environment for child interpreters: nothing that changes what they import."""
    env = {k: v for k, v in os.environ.items() if k not in _LEAKY_ENV}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def run_json(
    python: str | os.PathLike[str], script: str, *args: str, timeout: float = 600.0
) -> Any:
    """Run ``script`` with ``python -P -c`` and return the JSON its last stdout line holds.

    Raises
    ------
    RuntimeError
        When the child fails or times out, with the tail of its output.
    """
    cmd = [os.fspath(python), "-P", "-c", script, *args]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=clean_env(), check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"benchmark child timed out after {timeout:g} s") from exc
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-25:])
        raise RuntimeError(f"benchmark child exited with {proc.returncode}:\n{tail}")
    return json.loads(lines[-1])


@dataclass(frozen=True)
class ProcessCost:
    """Wall time and peak memory of one short-lived command."""

    seconds: float
    """Wall time from spawn to exit (the median of the runs)."""
    max_rss_mb: float
    """Peak resident set size (the kernel's ``VmHWM``), in MiB (the median)."""
    seconds_range: tuple[float, float] = (0.0, 0.0)
    """Fastest and slowest wall time."""
    rss_range: tuple[float, float] = (0.0, 0.0)
    """Smallest and largest peak RSS."""


# Runs a snippet (``code``) or a console script (``script``) and reports the process's
# peak RSS on stderr at exit. The peak is read inside the child because a parent's
# ru_maxrss for a child includes the parent's own memory at fork time.
_PEAK_WRAPPER = r"""
import atexit, sys
def _report():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                sys.__stderr__.write("VMHWM %s\n" % line.split()[1])
atexit.register(_report)
kind, target = sys.argv[1], sys.argv[2]
if kind == "code":
    sys.argv = ["-c"]
    exec(compile(target, "<bench>", "exec"), {"__name__": "__main__"})
else:
    import runpy
    sys.argv = [target, *sys.argv[3:]]
    runpy.run_path(target, run_name="__main__")
"""


def _wall_seconds(cmd: Sequence[str], cwd: str | os.PathLike[str] | None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        list(cmd), capture_output=True, env=clean_env(), cwd=cwd, check=False, timeout=120
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        tail = proc.stderr[-2000:].decode(errors="replace")
        raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}: {tail}")
    return elapsed


def _peak_mb(python: str, kind: str, target: str, args: Sequence[str], cwd: Any) -> float:
    cmd = [python, "-P", "-c", _PEAK_WRAPPER, kind, target, *args]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=clean_env(), cwd=cwd, check=False, timeout=120
    )
    for line in proc.stderr.splitlines():
        if line.startswith("VMHWM "):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no peak memory reported by {target!r}: {proc.stderr[-2000:]}")


def startup_cost(
    python: str | os.PathLike[str],
    *,
    code: str | None = None,
    script: str | os.PathLike[str] | None = None,
    args: Sequence[str] = (),
    repeats: int = 5,
    cwd: str | os.PathLike[str] | None = None,
) -> ProcessCost:
    """Median wall time of ``repeats`` runs of a snippet or console script, and its peak RSS.

    Exactly one of ``code`` (run as ``python -P -c code``) or ``script`` (a console
    script, run directly with ``args``) is given. Both are medians, with their ranges
    (memory over three separate runs).
    """
    python = os.fspath(python)
    if code is not None:
        cmd, kind, target = [python, "-P", "-c", code], "code", code
    elif script is not None:
        cmd, kind, target = [os.fspath(script), *args], "script", os.fspath(script)
    else:
        raise ValueError("give code or script")
    walls = [_wall_seconds(cmd, cwd) for _ in range(repeats)]
    peaks = [_peak_mb(python, kind, target, args, cwd) for _ in range(3)]
    return ProcessCost(
        statistics.median(walls), statistics.median(peaks), (min(walls), max(walls)),
        (min(peaks), max(peaks)),
    )  # fmt: skip


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate`` until true, or raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.01)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def load_average() -> float:
    """The machine's one-minute load average, printed next to each measurement.

    The machines these benchmarks run on are shared; a figure measured at a load of 6 on
    2 cores means less than one measured at 1.
    """
    try:
        return os.getloadavg()[0]
    except OSError:  # pragma: no cover - every Linux has it
        return float("nan")


@dataclass(frozen=True)
class Spread:
    """The median of several rounds' values, with their smallest and largest."""

    median: float
    low: float
    high: float
    rounds: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread | None:
        """Summarise ``values`` (None when there are none)."""
        good = [v for v in values if v == v]
        if not good:
            return None
        return cls(statistics.median(good), min(good), max(good), len(good))

    def text(self, fmt: Callable[[float], str]) -> str:
        """``median [low-high]``."""
        return f"{fmt(self.median)} [{fmt(self.low)}-{fmt(self.high)}]"


def ratios(rounds: Sequence[Sequence[float | None]], a: int, b: int) -> Spread | None:
    """Ratio of column ``a`` to column ``b`` taken round by round, then summarised.

    A ratio of two runs measured back to back in one round saw (nearly) the same load;
    the ratio of two medians taken over different rounds did not.
    """
    values = []
    for r in rounds:
        x, y = r[a], r[b]
        if x is not None and y is not None and y > 0:
            values.append(x / y)
    return Spread.of(values)


def column(rounds: Sequence[Sequence[float | None]], i: int) -> Spread | None:
    """The median and range of column ``i`` over the rounds."""
    return Spread.of([r[i] for r in rounds if r[i] is not None])  # type: ignore[misc]


@dataclass
class Row:
    """One line of the result table.

    ``skyhop``, ``raw`` (raw confluent-kafka with skyhop's librdkafka settings),
    ``raw_best`` (raw with the best settings found for it) and ``upstream`` are medians
    over the rounds; ``sky_range`` is skyhop's spread and ``ratio``/``up_ratio`` are
    skyhop/raw and skyhop/upstream taken round by round. ``load`` is the load average
    when the row was measured.
    """

    scenario: str
    case: str
    unit: str
    skyhop: float | None
    raw: float | None
    upstream: float | None
    goal: str
    met: bool | None
    raw_best: float | None = None
    sky_range: Spread | None = None
    ratio: Spread | None = None
    up_ratio: Spread | None = None
    load: float | None = None

    def as_json(self) -> dict[str, Any]:
        """The row as plain JSON-able values."""
        out = dict(self.__dict__)
        for key in ("sky_range", "ratio", "up_ratio"):
            value = out[key]
            out[key] = None if value is None else value.__dict__
        return out


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value != value:  # NaN
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _ratio(a: float | None, b: float | None) -> str:
    # Only positive quantities have a meaningful ratio (not a shrinking memory).
    if a is None or b is None or a != a or b != b or a < 0 or b <= 0:
        return "-"
    return f"{a / b:.2f}x"


def _ratio_text(spread: Spread | None, a: float | None, b: float | None) -> str:
    if spread is None:
        return _ratio(a, b)
    return spread.text(lambda v: f"{v:.2f}") + "x"


def print_table(rows: Iterable[Row], file: Any = None) -> None:
    """Print rows as an aligned table: medians, spreads, per-round ratios, goal, met.

    ``skyhop [range]`` is the median over the rounds with the smallest and largest
    value; ``sky/raw`` and ``sky/up`` are the medians (and ranges) of the ratios taken
    within each round. ``raw ck`` uses skyhop's librdkafka settings, ``raw best`` the
    best ones found for raw confluent-kafka. ``load`` is the one-minute load average.
    """
    header = [
        "scenario", "case", "unit", "skyhop [range]", "raw ck", "raw best", "upstream",
        "sky/raw [range]", "sky/up [range]", "goal", "met", "load",
    ]  # fmt: skip
    table = [header]
    for r in rows:
        met = "-" if r.met is None else ("yes" if r.met else "NO")
        sky = _fmt(r.skyhop) if r.sky_range is None else r.sky_range.text(_fmt)
        table.append(
            [
                r.scenario, r.case, r.unit, sky, _fmt(r.raw), _fmt(r.raw_best),
                _fmt(r.upstream), _ratio_text(r.ratio, r.skyhop, r.raw),
                _ratio_text(r.up_ratio, r.skyhop, r.upstream), r.goal, met,
                "-" if r.load is None else f"{r.load:.1f}",
            ]
        )  # fmt: skip
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    out = file or sys.stdout
    for n, line in enumerate(table):
        cells = [
            c.ljust(w) if i < 3 or 9 <= i <= 10 else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ]
        print("  ".join(cells).rstrip(), file=out)
        if n == 0:
            print("  ".join("-" * w for w in widths), file=out)
    out.flush()
