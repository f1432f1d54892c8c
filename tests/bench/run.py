"""`make bench`: run every tests/bench/bench_*.py module's run() and print what each measured.

Each module prints its own lines as it goes and returns a dict of figures;
this runner prints them together at the end. A module that fails is
reported and the others still run; the exit code is 1 if any failed.
`python tests/bench/run.py apiserver` runs only the modules whose name holds
one of the words given.
"""
from __future__ import annotations

import importlib.util
import json
import sys
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    results, failed = {}, []
    for path in sorted(HERE.glob("bench_*.py")):
        if argv and not any(word in path.stem for word in argv):
            continue
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        print(f"== {path.stem}", flush=True)
        try:
            spec.loader.exec_module(module)
            if not hasattr(module, "run"):
                continue
            results[path.stem] = module.run()
        except Exception:
            traceback.print_exc()
            failed.append(path.stem)
    print("== results")
    print(json.dumps(results, indent=2, default=str))
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
