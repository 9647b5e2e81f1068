"""pyproject's dependencies: what the code leans on is bounded to what was tested."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import pytest

PYPROJECT = Path(__file__).parent.parent / "pyproject.toml"


def test_typer_is_bounded_to_the_tested_minor_release():
    """cli/help.py calls typer's private rich_utils functions: a new minor release may drop them."""
    tomllib = pytest.importorskip("tomllib")
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    (typer,) = [spec for spec in dependencies if re.match(r"typer\b", spec)]
    bounds = dict(re.findall(r"(>=|<)\s*([\d.]+)", typer))
    assert set(bounds) == {">=", "<"}, typer
    installed = tuple(int(part) for part in version("typer").split(".")[:2])
    lower = tuple(int(part) for part in bounds[">="].split(".")[:2])
    upper = tuple(int(part) for part in bounds["<"].split(".")[:2])
    assert lower <= installed < upper == (installed[0], installed[1] + 1), (typer, installed)
