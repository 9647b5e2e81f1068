"""What the network summary says in words: its totals name what they count, its notes agree
with its rows; and the layout that decides which columns fit a width."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from convcalc.shapes import format_bytes

DATA = Path(__file__).parent / "data"
RESNET50 = DATA / "torchvision" / "resnet50.txt"


def test_params_memory_is_the_params_alone_as_in_json(cli):
    """The totals said `params memory 97.7 MiB` (params and buffers) where JSON's param_bytes,
    97.5 MiB, counts the params alone: each figure now says what it counts, as JSON does."""
    data = json.loads(cli("net", str(RESNET50), "-i", "1x3x224x224", "--json").stdout)["totals"]
    text = cli("net", str(RESNET50), "-i", "1x3x224x224").stdout
    values = dict(re.findall(r"^(params memory|buffers memory)\s+(.+)$", text, re.MULTILINE))
    assert values == {"params memory": format_bytes(data["param_bytes"]),
                      "buffers memory": format_bytes(data["buffer_bytes"])}
    assert values["params memory"] == "97.5 MiB"


def test_notes_that_count_runs_agree_with_the_rows(cli):
    """A note saying a module runs twice must match the rows: Bottleneck's relu shows relu,
    relu#2 and relu#3 (three calls), so "(its relu runs twice)" was wrong."""
    data = json.loads(cli("net", str(RESNET50), "-i", "1x3x224x224", "--json").stdout)
    calls: dict[str, int] = {}
    for layer in data["layers"]:
        calls[layer["name"]] = max(calls.get(layer["name"], 0), layer.get("call", 1))
    words = {"once": 1, "twice": 2, "three times": 3}
    for note in data["notes"]:
        for module, count in re.findall(r"its (\w+) runs (once|twice|three times)", note):
            block_relus = [value for key, value in calls.items() if key.endswith("." + module)]
            assert block_relus and max(block_relus) == words[count], note
    assert max(value for key, value in calls.items() if key.endswith(".relu")) == 3
