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



def test_the_suite_is_collected_without_torch(tmp_path):
    """Reproducer: `python -m pytest` without torch stopped at collection (exit 2, no test
    run) on tests/train_step.py, a script that imports torch at the top. Here torch and
    torchvision cannot be imported (a sitecustomize hides them) and collection must pass."""
    import os
    import subprocess
    import sys

    (tmp_path / "sitecustomize.py").write_text(
        "import sys\nsys.modules['torch'] = None\nsys.modules['torchvision'] = None\n")
    root = PYPROJECT.parent
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(root)]))
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--collect-only"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "error" not in done.stdout.lower().replace("convcalc/errors.py", "")
