"""The one-way dependencies hold: `lint-imports` checks the contracts in pyproject.toml.

The lab may import the components; the API server and the kubelet import
neither the lab nor each other (they talk through the API, as upstream's do).
"""
from __future__ import annotations

import pytest

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


@pytest.mark.integration
def test_import_contracts_hold():
    """Every contract is kept; on a violation the output names the importing line."""
    proc = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout, proc.stdout
