"""`python -m labserver.lab.notebook.walkthrough` (`make walkthrough`): run the whole workbook headless.

Runs every notebook in order, each in a fresh kernel with its own folder as
working directory (as Jupyter and nbval do), and prints progress per notebook
and per cell. The executed notebooks and an HTML copy of each go to `build/`.
At the first failing cell it prints that cell and its error and stops. The
lab is torn down before the first notebook (so the run starts from nothing)
and on exit, whatever happened.

`--in-place` also writes the executed notebooks back into `notebooks/`: that is
how the committed outputs are produced. `--only 03 04` runs a subset (their
catch-up cells start what the earlier notebooks would have).
"""
from __future__ import annotations

import argparse
import socket
import sys
import time
from pathlib import Path

from ..supervise.state import REPO_ROOT

NOTEBOOKS = REPO_ROOT / "notebooks"
BUILD = REPO_ROOT / "build"


def notebooks(only: list[str] | None = None) -> list[Path]:
    """The workbook's notebooks in order (NN-name.ipynb), optionally filtered by prefix."""
    found = sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
    return [p for p in found if not only or any(p.name.startswith(o) for o in only)]


def _first_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return line.strip()[:70]
    return source.strip()[:70]


def run_notebook(path: Path, timeout: float = 120):
    """Execute one notebook; return (executed notebook, seconds). Raises CellExecutionError."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    started = {}

    def on_start(cell, cell_index):
        started[cell_index] = time.monotonic()

    def on_executed(cell, cell_index, execute_reply):
        n = code_cells.index(cell_index) + 1
        took = time.monotonic() - started.get(cell_index, time.monotonic())
        ok = execute_reply.get("content", {}).get("status") == "ok"
        print(f"    [{n:2d}/{len(code_cells)}] {'✓' if ok else '✗'} {took:5.1f}s  {_first_line(cell.source)}",
              flush=True)

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}},
                            on_cell_start=on_start, on_cell_executed=on_executed)
    start = time.monotonic()
    BUILD.mkdir(exist_ok=True)
    with open(BUILD / "kernels.log", "ab") as kernel_log:  # the kernels' own chatter, not the notebook's
        client.execute(stderr=kernel_log)
    return nb, time.monotonic() - start


def write_outputs(nb, path: Path, in_place: bool) -> None:
    import nbformat
    from nbconvert import HTMLExporter

    BUILD.mkdir(exist_ok=True)
    nbformat.write(nb, BUILD / path.name)
    html, _ = HTMLExporter().from_notebook_node(nb)
    (BUILD / path.with_suffix(".html").name).write_text(html)
    if in_place:
        # The node name is this machine's hostname; nbval's conftest masks the one recorded here.
        nb.metadata["labserver"] = {"hostname": socket.gethostname().lower()}
        nbformat.write(nb, path)


def main(argv: list[str] | None = None) -> int:
    from nbclient.exceptions import CellExecutionError

    from ..supervise import teardown
    p = argparse.ArgumentParser(prog="python -m labserver.lab.notebook.walkthrough",
                                description="Run every notebook headless, in order; write build/.")
    p.add_argument("--in-place", action="store_true", help="also store the outputs in notebooks/")
    p.add_argument("--only", nargs="*", default=None, help="notebook number prefixes, e.g. 03 04")
    args = p.parse_args(argv)
    paths = notebooks(args.only)
    if not paths:
        print(f"walkthrough: no notebooks found in {NOTEBOOKS}", file=sys.stderr)
        return 1
    total = time.monotonic()
    try:
        teardown.stop_everything(say=lambda line: print(f"walkthrough: (clean start) {line}"))
        for path in paths:
            print(f"walkthrough: {path.name}", flush=True)
            try:
                nb, took = run_notebook(path)
            except CellExecutionError as e:
                print(f"walkthrough: ✗ {path.name} failed; the failing cell and its error:\n{e}", file=sys.stderr)
                return 1
            write_outputs(nb, path, args.in_place)
            print(f"walkthrough: ✓ {path.name} in {took:.1f}s", flush=True)
        print(f"walkthrough: all {len(paths)} notebooks ran in {time.monotonic() - total:.1f}s; "
              f"executed copies and HTML in {BUILD.relative_to(REPO_ROOT)}/")
        return 0
    except KeyboardInterrupt:
        print("walkthrough: interrupted", file=sys.stderr)
        return 130
    finally:
        teardown.stop_everything(say=lambda line: print(f"walkthrough: (teardown) {line}"))


if __name__ == "__main__":
    sys.exit(main())
