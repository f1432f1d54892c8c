"""Each notebook's text source (py:percent, what maintainers edit) and its .ipynb say the same.

The .py files are the notebooks' sources; `make notebooks` rebuilds each
.ipynb from its .py and stores fresh outputs. An edit to one side only (a
.py changed without `make notebooks`, or a cell changed in Jupyter with the
pairing off) fails here, naming the notebook and the first cell that differs.
"""
from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("jupytext_imported")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
IPYNB = sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))


def cells(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def test_every_notebook_has_a_text_pair_and_every_pair_a_notebook():
    assert IPYNB, f"no notebooks in {NOTEBOOKS}"
    assert {p.stem for p in IPYNB} == {p.stem for p in NOTEBOOKS.glob("[0-9][0-9]-*.py")}


@pytest.mark.parametrize("ipynb", IPYNB, ids=lambda p: p.stem)
def test_text_pair_matches_the_notebook(ipynb):
    """Same cells, same order, same sources (outputs live only in the .ipynb)."""
    import jupytext   # here, not at the top: see the jupytext_imported fixture
    import nbformat
    stored = cells(nbformat.read(ipynb, as_version=4))
    text = cells(jupytext.read(ipynb.with_suffix(".py")))
    for i, (a, b) in enumerate(zip(stored, text)):
        assert a == b, (f"{ipynb.name} cell {i + 1} differs from {ipynb.with_suffix('.py').name}: "
                        f"run `make notebooks` (sources are edited in the .py)")
    assert len(stored) == len(text), f"{ipynb.name} has {len(stored)} cells, its .py {len(text)}"


def test_a_changed_source_is_noticed(tmp_path):
    """The comparison sees a one-character edit (so the test above can fail)."""
    import jupytext
    import nbformat
    nb = nbformat.read(IPYNB[0], as_version=4)
    edited = jupytext.reads(jupytext.writes(nb, fmt="py:percent").replace("\n# %%\n", "\n# %%\nx = 1\n", 1),
                            fmt="py:percent")
    assert cells(edited) != cells(nb)
