"""Run every benchmark module under bench/ (``make bench``); each writes bench/results/<name>.json."""
from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path

import bench

SKIP = {"run_all", "common"}


def main(argv: list[str] | None = None) -> int:
    names = [m.name for m in pkgutil.iter_modules(bench.__path__) if m.name not in SKIP]
    wanted = set(argv if argv is not None else sys.argv[1:])
    failed = []
    for name in sorted(names):
        if wanted and name not in wanted:
            continue
        print(f"=== bench {name}", flush=True)
        start = time.time()
        try:
            importlib.import_module(f"bench.{name}").main()
        except Exception as exc:  # a failing benchmark must not hide the others
            failed.append(name)
            print(f"bench {name} failed: {exc!r}", flush=True)
        print(f"=== bench {name} took {time.time() - start:.1f} s", flush=True)
    print(f"results in {Path(bench.__path__[0]) / 'results'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
