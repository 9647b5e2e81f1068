"""README console examples checked against what the command prints.

A block reads ``$ convcalc ...`` followed by the output up to the closing fence; run the tests
with CONVCALC_UPDATE_README=1 to rewrite the blocks after a deliberate change of output.
"""

from __future__ import annotations

import os
from pathlib import Path

README = Path(__file__).parent.parent / "README.md"


def check_readme_block(command: str, printed: str) -> None:
    """The README's console block under ``$ command`` is ``printed``, line for line."""
    text = README.read_text()
    head = f"$ {command}\n"
    assert head in text, f"the README has no example of {command!r}"
    shown = text.split(head, 1)[1].split("```", 1)[0]
    if os.environ.get("CONVCALC_UPDATE_README"):
        README.write_text(text.replace(head + shown, head + printed, 1))
        return
    assert shown == printed, "a README example is stale: run with CONVCALC_UPDATE_README=1"
