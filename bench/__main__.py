"""``python -m bench [name] [options]``: run one benchmark by name (``./run bench``).

Names: ``stream`` (the default), ``models``, ``robust``, ``samp``, ``bridge``, ``aio``,
``offload``, or ``all`` (each with its defaults). Options after the name go to that
benchmark; ``python -m bench <name> --help`` lists them.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path

# Benchmarks that import ``tests._peers`` or ``hop`` from the checkout need the root.
_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

#: name -> module holding a ``main(argv) -> int``; modules load only when asked for.
BENCHMARKS = {
    # dedupe: readers with deduplicate on vs off; scale: a three-node cluster.
    "dedupe": "bench.bench_dedupe",
    "scale": "bench.bench_scale",
    "stream": "bench.bench_stream",
    "models": "bench.bench_models",
    "robust": "bench.bench_robust",
    "samp": "bench.bench_samp",
    "bridge": "bench.bench_bridge",
    "aio": "bench.bench_aio",
    "offload": "bench.bench_offload",
}


def _entry(name: str) -> Callable[[list[str]], int]:
    module = importlib.import_module(BENCHMARKS[name])
    main: Callable[[list[str]], int] = module.main
    return main


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark named by the first argument (``stream`` when none)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    name = args.pop(0) if args and not args[0].startswith("-") else "stream"
    if name == "all":
        status = 0
        for each in BENCHMARKS:
            print(f"\n=== bench {each} ===", flush=True)
            status |= int(_entry(each)([]) or 0)
        return status
    if name not in BENCHMARKS:
        print(
            f"bench: unknown benchmark {name!r}; choose one of {', '.join(BENCHMARKS)} or all",
            file=sys.stderr,
        )
        return 2
    return int(_entry(name)(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
