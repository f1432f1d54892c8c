"""Every `!` command in the notebooks runs, in a plain bash with `.lab/env.sh` sourced, and succeeds.

The notebooks' shell cells are the post's commands (`curl ... | jq`, `etcdctl`,
`kubectl`, `docker ps`), and the README tells a reader to run them in a
terminal after `source .lab/env.sh`. This test holds them to that: it runs
notebooks 01-09 in order against the real lab (fixed ports, under the notebooks'
lock), with IPython's `!` (and `x = !...`) replaced, right after each notebook's
setup cell, by: `env -i HOME=... PATH=/usr/bin:/bin bash -c 'source .lab/env.sh && <command>'`.
Nothing of the kernel's environment reaches the command: only what env.sh sets.
Each command must exit 0, and every `!` line of the sources must have run
(the Docker-only ones only with the Docker runtime), as shown: only IPython's own
expansion of the notebook's variables (`$name`, `{expression}`) may differ.

The same walk through the notebooks checks their exercises (notebooks 01-05 end
with an exercise cell, a hidden solution and a check; see
test_notebook_exercises.py): each solution is held back until its check has run
once with the exercise left empty, which must print a hint (and not raise, so a
learner running all cells is not stopped); then the solution runs and the same
check, run again, must print ✓. One walk for both, as each walk starts the whole
lab on the post's fixed ports and so runs alone.
"""
from __future__ import annotations

import json
import re

import pytest
from IPython.core.interactiveshell import InteractiveShell

from notebook_session import cells, kernel, notebook_lab, sources, tags

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]  # it may wait for the notebooks lock
pytestmark.append(pytest.mark.posts_ports)   # the lab's fixed ports and .lab/: one at a time (tests/conftest.py)

SHELL_LINE = re.compile(r"^(?P<indent>\s*)(?:\w+\s*=\s*)?!(?!=)(?P<command>.+)$", re.M)
# IPython's own expansion in a `!` line: $name and {expression}, from the notebook's Python variables
EXPANDED = re.compile(r"\$[A-Za-z_]\w*|\{[^{}\s][^{}]*\}")


def as_ran(shown: str) -> re.Pattern:
    """What `shown` may have become: each $name / {expression} a value, everything else unchanged."""
    parts, last = [], 0
    for m in EXPANDED.finditer(shown):
        parts += [re.escape(shown[last:m.start()]), "(.*?)" if m.group().startswith("{") else "(.*?|" + re.escape(m.group()) + ")"]
        last = m.end()
    return re.compile("".join(parts) + re.escape(shown[last:]), re.S)

# Installed in each kernel after its setup cell: the honest `!`. RECORD is replaced by a file path.
PLAIN_BASH = r'''
import json as _json, os as _os, subprocess as _subprocess
from IPython.utils.text import SList as _SList

def _plain_bash(cmd, _ip=get_ipython(), _capture=False):
    cmd = _ip.var_expand(cmd, depth=1)
    env = {"HOME": _os.environ["HOME"], "PATH": "/usr/local/bin:/usr/bin:/bin"}
    script = f"source {str(lab.dir / 'env.sh')!r} && {cmd}"
    r = _subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120)
    with open(RECORD, "a") as f:
        f.write(_json.dumps({"notebook": NOTEBOOK, "runtime": lab.runtime, "command": cmd, "rc": r.returncode,
                             "output": (r.stdout + r.stderr)[-2000:]}) + "\n")
    if _capture:
        return _SList(r.stdout.splitlines())
    print(r.stdout + r.stderr, end="")
    _ip.user_ns["_exit_code"] = r.returncode

get_ipython().system = _plain_bash
get_ipython().getoutput = lambda cmd, split=True, depth=0: _plain_bash(cmd, _capture=True)
'''


def shell_lines(path) -> list[tuple[str, bool]]:
    """(command, docker_only) of every `!` line in the notebook's code cells."""
    found = []
    for cell in cells(path):
        for m in SHELL_LINE.finditer(cell.source):
            docker_only = bool(m["indent"]) and 'lab.runtime == "docker"' in cell.source
            found.append((m["command"].strip(), docker_only))
    return found


def test_the_notebooks_have_shell_commands_and_ipython_leaves_them_as_bash_reads_them():
    """IPython expands $name and {expr} in `!` lines: none of ours may change with an empty namespace
    (so the line a reader copies into a terminal is the line that ran), except {lab...} on purpose."""
    shell = InteractiveShell.instance()
    commands = [c for path in sources() for c, _ in shell_lines(path)]
    assert len(commands) >= 30, commands
    for command in commands:
        if "{lab." in command:
            continue
        assert shell.var_expand(command, depth=0) == command, command


def test_every_shell_command_succeeds_in_plain_bash_and_each_check_hints_then_ticks(tmp_path):
    record = tmp_path / "commands.jsonl"
    checks = {}   # notebook: (what its check printed with the exercise empty, and after the solution)
    with notebook_lab():
        for path in sources():
            with kernel() as k:
                solution = None
                for cell in cells(path):
                    if "solution" in tags(cell):
                        solution = cell.source   # held back until its check has run once
                        continue
                    out = k.run(cell.source)
                    if "lab.shell_setup()" in cell.source:
                        k.run(PLAIN_BASH.replace("RECORD", repr(str(record))).replace("NOTEBOOK", repr(path.stem)))
                    if "check" in tags(cell):
                        assert solution, f"{path.name}: the check comes before its solution"
                        k.run(solution)
                        checks[path.stem] = (out.strip(), k.run(cell.source).strip())
    assert sorted(checks) == [p.stem for p in sources(range(1, 6))], checks
    for stem, (empty, solved) in checks.items():
        assert empty.startswith("hint: ") and "✓" not in empty, (stem, empty)
        assert solved.startswith("✓ "), (stem, solved)
    entries = [json.loads(line) for line in record.read_text().splitlines()]
    failures = [e for e in entries if e["rc"] != 0]
    assert not failures, "\n".join(f"{e['notebook']}: exit {e['rc']}: {e['command']}\n{e['output']}" for e in failures)
    runtime = entries[0]["runtime"]
    for path in sources():
        expected = [c for c, docker_only in shell_lines(path) if runtime == "docker" or not docker_only]
        ran = [e["command"] for e in entries if e["notebook"] == path.stem]
        assert len(ran) == len(expected), (path.stem, ran, expected)
        for command, shown in zip(ran, expected):
            assert as_ran(shown).fullmatch(command), (command, shown)
