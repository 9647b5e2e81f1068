"""The README's FLOPs table is generated from each layer's ``flops_rule``, so it can't drift.

Regenerate after changing a rule with: CONVCALC_UPDATE_README=1 python -m pytest tests/test_readme.py
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from convcalc.registry import layer_classes

README = Path(__file__).parent.parent / "README.md"
START, END = "<!-- flops-table: generated from each family's flops_rule by tests/test_readme.py -->", "<!-- end flops-table -->"


def _grouped_names(names: list[str]) -> str:
    """``MaxPool1d/2d/3d, AvgPool1d`` from class names, keeping their order."""
    stems: dict[str, list[str]] = {}
    for name in names:
        match = re.fullmatch(r"(.*?)([123]d)", name)
        stem, suffix = (match.group(1), match.group(2)) if match else (name, "")
        stems.setdefault(stem, []).append(suffix)
    return ", ".join(stem + "/".join(suffixes) for stem, suffixes in stems.items())


def flops_table() -> str:
    rules: dict[str, list[str]] = {}
    for cls in layer_classes().values():
        rules.setdefault(cls.flops_rule, []).append(cls.__name__)
    rows = [f"| {_grouped_names(names)} | {rule} |" for rule, names in rules.items()]
    return "\n".join([START, "| layers | FLOPs |", "|---|---|", *rows, END])


COMMANDS_START = "<!-- commands-table: generated from the registry by tests/test_readme.py -->"
COMMANDS_END = "<!-- end commands-table -->"


def commands_table() -> str:
    rows = [
        f"| `{name}`{''.join(f' `{alias}`' for alias in cls.aliases)} | `{cls.signature_text()}` |"
        for name, cls in layer_classes().items()
    ]
    return "\n".join([COMMANDS_START, "| command (aliases) | torch.nn constructor |", "|---|---|", *rows, COMMANDS_END])


def _check_generated(start: str, end: str, expected: str) -> None:
    text = README.read_text()
    current = text[text.index(start) : text.index(end) + len(end)]
    if os.environ.get("CONVCALC_UPDATE_README"):
        README.write_text(text.replace(current, expected))
        current = expected
    assert current == expected, "a generated README table is stale: run with CONVCALC_UPDATE_README=1"


def test_readme_flops_table_is_current():
    _check_generated(START, END, flops_table())


def test_readme_commands_table_is_current():
    _check_generated(COMMANDS_START, COMMANDS_END, commands_table())


def test_every_layer_states_its_flops_rule():
    missing = [name for name, cls in layer_classes().items() if not cls.flops_rule or cls.flops_rule == "2·MACs"]
    assert missing == []
