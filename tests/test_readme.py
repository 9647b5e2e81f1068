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


def test_readme_flops_table_is_current():
    text = README.read_text()
    current = text[text.index(START) : text.index(END) + len(END)]
    if os.environ.get("CONVCALC_UPDATE_README"):
        README.write_text(text.replace(current, flops_table()))
        current = flops_table()
    assert current == flops_table(), "README's FLOPs table is stale: run with CONVCALC_UPDATE_README=1"


def test_every_layer_states_its_flops_rule():
    missing = [name for name, cls in layer_classes().items() if not cls.flops_rule or cls.flops_rule == "2·MACs"]
    assert missing == []
