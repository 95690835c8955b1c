"""Run every benchmark (or those named): `python -m benchmarks [store pipeline ...]`.

Each module in BENCHMARKS has a `run() -> None` that prints its figures beside the baselines
it measured in the same run. CLAIRE_BENCH_SCALE=0.1 gives a quick, smaller run.
"""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = {
    "store": "benchmarks.bench_store",
    "pipeline": "benchmarks.bench_pipeline",
    "replay": "benchmarks.bench_replay",
    "service": "benchmarks.bench_service",
    "timeline": "benchmarks.bench_timeline",
    "faults": "benchmarks.faults",
    "ui": "benchmarks.bench_ui",
    "archive": "benchmarks.bench_archive",
    "conditional": "benchmarks.bench_conditional",
}


def main(argv: list[str]) -> None:
    names = argv or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        sys.exit(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    for name in names:
        try:
            module = importlib.import_module(BENCHMARKS[name])
        except ModuleNotFoundError as exc:
            if exc.name != BENCHMARKS[name]:
                raise
            print(f"\n== {name}: not written yet ==", flush=True)
            continue
        module.run()


if __name__ == "__main__":
    main(sys.argv[1:])
