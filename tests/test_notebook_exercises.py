"""Notebooks 01-05 each end with an exercise: a cell for the learner, a hidden solution, a check.

The exercise cell (tag `exercise`) is left for the learner, the solution (tag
`solution`, source hidden) is what CI runs so nbval sees the check's ✓, and the
check (tag `check`) says ✓ or gives a hint. Here: each notebook has one of each,
in that order, the solution hidden. That each check gives its hint with the
exercise left empty and ✓ after the solution is tested by the walk through the
notebooks in test_honest_commands.py, which starts the lab once for both.
"""
from __future__ import annotations

import pytest

from notebook_session import cells, sources, tags

pytestmark = pytest.mark.usefixtures("jupytext_imported")


def test_each_of_notebooks_01_to_05_has_one_exercise_solution_and_check_in_that_order():
    for path in sources(range(1, 6)):
        kinds = [t for c in cells(path) for t in sorted(tags(c)) if t in ("exercise", "solution", "check")]
        assert kinds == ["exercise", "solution", "check"], (path.name, kinds)
        solution = next(c for c in cells(path) if "solution" in tags(c))
        assert solution.metadata.get("jupyter", {}).get("source_hidden") is True, path.name
