"""Benchmarks: ``python -m deepchain.bench <area> [options]``.

Each area is a module ``deepchain.bench.<area>`` exposing ``main(argv: list[str]) -> int``.
Every benchmark measures its baseline in the same process and ends with a one-line summary.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import deepchain.bench as _pkg


def areas() -> list[str]:
    """Names of the benchmark areas shipped in this package."""
    return sorted(m.name for m in pkgutil.iter_modules(_pkg.__path__) if not m.name.startswith("_"))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"}:
        print("usage: python -m deepchain.bench <area> [options]")
        print("areas: " + ", ".join(areas()))
        return 0 if argv else 2
    area, rest = argv[0], argv[1:]
    if area not in areas():
        print(f"error: unknown benchmark area {area!r}; choose from: {', '.join(areas())}")
        return 2
    module = importlib.import_module(f"deepchain.bench.{area}")
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
