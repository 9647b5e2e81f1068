"""The README's FLOPs table is generated from each layer's ``flops_rule``, so it can't drift.

Regenerate after changing a rule with: CONVCALC_UPDATE_README=1 python -m pytest tests/test_readme.py
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

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


NUMBERS_START, NUMBERS_END = "## Numbers: units, totals, batch", "## Shell completion"


def _numbers_examples() -> list[tuple[str, str]]:
    """``(command line, what it prints)`` of each console block of the README's sections on
    numbers and counting conventions."""
    text = README.read_text()
    section = text[text.index(NUMBERS_START) : text.index(NUMBERS_END)]
    examples = []
    for block in section.split("```console\n")[1:]:
        lines = block.split("```")[0].rstrip("\n").split("\n")
        assert lines[0].startswith("$ convcalc "), lines[0]
        examples.append((lines[0][len("$ convcalc "):], "\n".join(lines[1:]) + "\n"))
    return examples


def test_the_numbers_examples_are_there():
    commands = " ".join(command for command, _ in _numbers_examples())
    for option in ("--totals", "--units", "--batch", "--count", "-i 1x3x224x224 -i 1x3x320x320"):
        assert option in commands, option


@pytest.mark.parametrize("command, printed", _numbers_examples(), ids=lambda value: value[:60])
def test_readme_numbers_example_is_what_the_command_prints(cli, monkeypatch, command, printed):
    import shlex

    monkeypatch.chdir(README.parent)
    result = cli(*shlex.split(command))
    assert result.code == 0 and result.stderr == "", result.stderr
    shown = [line.rstrip() for line in result.stdout.splitlines()]
    if os.environ.get("CONVCALC_UPDATE_README"):
        old = f"$ convcalc {command}\n{printed}"
        README.write_text(README.read_text().replace(old, f"$ convcalc {command}\n" + "\n".join(shown) + "\n"))
        printed = "\n".join(shown) + "\n"
    assert shown == printed.rstrip("\n").split("\n")
