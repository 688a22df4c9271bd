#!/usr/bin/env python
"""Run every benchmark in benchmarks/ (modules named bench_*.py) and print ratios.

Each benchmark measures the code under test against a baseline *in the same run* and reports a
ratio; `--quick` runs a small size so CI keeps the benchmarks from rotting.
"""

import argparse
import importlib
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "circulus.settings")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI")
    parser.add_argument("--only", help="run only benchmarks whose name contains this")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    import django

    django.setup()
    from benchmarks.harness import bench_database

    results, failed = [], False
    names = sorted(p.stem for p in (ROOT / "benchmarks").glob("bench_*.py"))
    with bench_database():
        for name in names:
            if args.only and args.only not in name:
                continue
            module = importlib.import_module(f"benchmarks.{name}")
            started = time.perf_counter()
            print(f"--- {name}: {module.__doc__.strip().splitlines()[0]}", flush=True)
            result = module.run(quick=args.quick)
            result["benchmark"] = name
            result["wall_s"] = round(time.perf_counter() - started, 2)
            results.append(result)
            for line in result.get("lines", []):
                print("   ", line)
            if not args.quick and result.get("goal_met") is False:
                failed = True
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
