"""Shared by the tests that run the workbook's notebooks cell by cell (the honest-commands and exercise tests).

The notebooks use the post's fixed ports (2379, 8080, 10250) and the lab's
own state dir, so these tests run the lab exactly as the notebooks do: under
the notebooks' lock (/tmp/labserver-notebooks.lock, as `make notebooks` and
nbval runs take it), from a clean start, and the lab's own teardown stops
everything afterwards. Do not run them inside an outer `flock` on that file:
they take it themselves, and would wait for it.

Cells come from the py:percent sources (what the maintainers edit), run in
one kernel per notebook, one at a time, so a test can run extra code between
them or leave some out.

jupytext, nbformat and nbclient are imported where used: every xdist worker
collects every test module, and importing nbformat (jsonschema's format
checkers) costs about 1 s of CPU.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from labserver.lab.supervise import notebooks_lock, teardown

if TYPE_CHECKING:
    from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def sources(numbers=range(1, 10)) -> list[Path]:
    """notebooks/NN-*.py for each NN in numbers, in order."""
    return [p for n in numbers for p in sorted(NOTEBOOKS.glob(f"{n:02d}-*.py"))]


def tags(cell) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


@contextlib.contextmanager
def notebook_lab(say=print, timeout: float = 1200):
    """Hold the notebooks' lock (labserver.lab.supervise.notebooks_lock), with a clean lab before and after."""
    with notebooks_lock.holding(say, timeout):
        teardown.stop_everything(say=lambda line: say(f"(clean start) {line}"))
        try:
            yield
        finally:
            teardown.stop_everything(say=lambda line: say(f"(teardown) {line}"))


def text_of(cell) -> str:
    """What a cell printed (its stream outputs and any plain-text results)."""
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif "data" in out:
            parts.append(out["data"].get("text/plain", ""))
    return "".join(parts)


class Kernel:
    """One notebook's kernel; `run(source)` executes a cell and returns what it printed."""

    def __init__(self, client: NotebookClient):
        self.client = client

    def run(self, source: str) -> str:
        import nbformat
        cell = nbformat.v4.new_code_cell(source)
        self.client.nb.cells.append(cell)
        self.client.execute_cell(cell, len(self.client.nb.cells) - 1)
        return text_of(cell)


@contextlib.contextmanager
def kernel(timeout: float = 120):
    """A fresh python3 kernel whose working directory is notebooks/, as Jupyter and nbval give."""
    import nbformat
    from nbclient import NotebookClient
    client = NotebookClient(nbformat.v4.new_notebook(), timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    with client.setup_kernel():
        yield Kernel(client)


def cells(path: Path) -> list:
    """The code cells of a notebook's py:percent source, in order."""
    import jupytext
    return [c for c in jupytext.read(path).cells if c.cell_type == "code"]
