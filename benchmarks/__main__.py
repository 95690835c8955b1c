"""Run every benchmark and print its figures beside the baselines measured in the same run."""

from __future__ import annotations

import sys


def main() -> None:
    print("no benchmarks yet", file=sys.stderr)


if __name__ == "__main__":
    main()
