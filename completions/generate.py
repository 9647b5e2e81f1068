"""Write convcalc's shell-completion scripts into this folder (run after changing the CLI).

    python completions/generate.py

The scripts are Typer's own: each asks ``convcalc`` itself for completions at <TAB>, so they list
every layer command and option of the installed version. tests/test_completions.py checks that
the committed files equal what this writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from typer.completion import get_completion_script

PROG = "convcalc"
COMPLETE_VAR = "_CONVCALC_COMPLETE"
FILES = {"bash": "convcalc.bash", "zsh": "_convcalc", "fish": "convcalc.fish", "powershell": "convcalc.ps1"}


def scripts() -> dict[str, str]:
    """File name -> script text for every supported shell."""
    return {
        name: get_completion_script(prog_name=PROG, complete_var=COMPLETE_VAR, shell=shell) + "\n"
        for shell, name in FILES.items()
    }


def main(directory: Path = Path(__file__).parent) -> None:
    for name, text in scripts().items():
        (directory / name).write_text(text)
        print(f"wrote {directory / name}", file=sys.stderr)


if __name__ == "__main__":
    main()
