"""Shared fixtures: run the real CLI entry point in-process or as a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

import pytest

from convcalc.cli.app import main

# A script tests/test_training.py runs in a process of its own (it imports torch at the top):
# never collected, so that the suite runs, its torch tests skipped, where torch is absent.
collect_ignore = ["train_step.py"]


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def assert_one_error_line(self, words: list[str] | tuple[str, ...] = ()) -> None:
        """Bad input: exit 2, nothing on stdout, one ``convcalc: error:`` line holding ``words``."""
        assert self.code == 2 and self.stdout == "", (self.code, self.stdout, self.stderr)
        lines = self.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("convcalc: error: "), self.stderr
        for word in words:
            assert word in lines[0], (word, lines[0])


@pytest.fixture
def cli(capsys, monkeypatch):
    """Call ``convcalc.cli.app.main`` with argv; plain text at a fixed width of 100 columns."""
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.delenv("FORCE_COLOR", raising=False)

    def run(*argv: str) -> Result:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


@pytest.fixture
def console_script():
    """Run the installed ``convcalc`` console script (or ``python -m convcalc``) as a subprocess."""
    exe = shutil.which("convcalc")
    prefix = [exe] if exe else [sys.executable, "-m", "convcalc"]

    def run(*argv: str, stdin: str | None = None, env: dict | None = None) -> Result:
        proc = subprocess.run(
            [*prefix, *argv], input=stdin, capture_output=True, text=True,
            env={**os.environ, "COLUMNS": "100", **(env or {})}, timeout=60,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run
