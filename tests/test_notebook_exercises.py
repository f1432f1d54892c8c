"""Each exercise's check says ✓ with the solution, and gives its hint when the exercise is left empty.

Notebooks 01-05 each end with an exercise cell (tag `exercise`, for the learner),
a solution (tag `solution`, source hidden; CI runs it, so nbval sees the ✓) and a
check (tag `check`). Here each notebook runs in order with its exercise left as
written (empty) and its solution skipped: the check must print a hint (and not
raise, so a learner running all cells is not stopped). Then the solution runs
and the same check, run again, must print ✓.
"""
from __future__ import annotations

import pytest

from notebook_session import cells, kernel, notebook_lab, sources, tags

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]  # it may wait for the notebooks lock
pytestmark.append(pytest.mark.xdist_group("lab"))   # the lab's fixed ports and .lab/: one at a time (tests/conftest.py)


def test_each_of_notebooks_01_to_05_has_one_exercise_solution_and_check_in_that_order():
    for path in sources(range(1, 6)):
        kinds = [t for c in cells(path) for t in sorted(tags(c)) if t in ("exercise", "solution", "check")]
        assert kinds == ["exercise", "solution", "check"], (path.name, kinds)
        solution = next(c for c in cells(path) if "solution" in tags(c))
        assert solution.metadata.get("jupyter", {}).get("source_hidden") is True, path.name


def test_checks_give_their_hint_when_empty_and_a_tick_with_the_solution():
    seen = {}
    with notebook_lab():
        for path in sources(range(1, 6)):
            with kernel() as k:
                solution = None
                for cell in cells(path):
                    if "solution" in tags(cell):
                        solution = cell.source
                        continue
                    out = k.run(cell.source)
                    if "check" in tags(cell):
                        assert solution, f"{path.name}: the check comes before its solution"
                        k.run(solution)
                        seen[path.stem] = (out.strip(), k.run(cell.source).strip())
    assert len(seen) == 5, seen
    for stem, (empty, solved) in seen.items():
        assert empty.startswith("hint: ") and "✓" not in empty, (stem, empty)
        assert solved.startswith("✓ "), (stem, solved)
