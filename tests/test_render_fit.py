"""What the network summary says in words: its totals name what they count, its notes agree
with its rows; and the layout that decides which columns fit a width."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from convcalc.shapes import format_bytes
from convcalc.units import bytes_text

DATA = Path(__file__).parent / "data"
RESNET50 = DATA / "torchvision" / "resnet50.txt"


def test_params_memory_is_the_params_alone_as_in_json(cli):
    """The totals said `params memory 97.7 MiB` (params and buffers) where JSON's param_bytes,
    97.5 MiB, counts the params alone: each figure now says what it counts, as JSON does."""
    data = json.loads(cli("net", str(RESNET50), "-i", "1x3x224x224", "--json").stdout)["totals"]
    text = cli("net", str(RESNET50), "-i", "1x3x224x224").stdout
    values = dict(re.findall(r"^(params memory|buffers memory)\s+(.+)$", text, re.MULTILINE))
    assert values == {"params memory": bytes_text(data["param_bytes"]),  # exact (binary-prefixed)
                      "buffers memory": bytes_text(data["buffer_bytes"])}
    assert values["params memory"] == "102,228,128 B (97.5 MiB)"


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


@pytest.fixture(scope="module")
def resnet50_summary():
    from convcalc.network import parse_network

    return parse_network(RESNET50.read_text()).summary((1, 3, 224, 224))


@pytest.mark.parametrize("width", [60, 80, 100, 120, 160, 200])
def test_the_network_table_rich_draws_is_as_wide_as_the_layout_says(resnet50_summary, width):
    """The layout's arithmetic (cells and gaps) is Rich's: every line fits, no cell is cut."""
    import io

    from rich.console import Console

    from convcalc.render.report import NETWORK_GAP, render_network
    from convcalc.render.tables import fitted_table

    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(render_network(resnet50_summary, None, width=width))
    lines = console.export_text().splitlines()
    table_width = max(len(line.rstrip()) for line in lines[: len(resnet50_summary.rows) + 2])
    fitted = fitted_table(resnet50_summary, None, width, NETWORK_GAP)
    assert table_width <= width and "…" not in "\n".join(lines)
    widest = [max(len(title), *(len(row[i]) for row in fitted.rows)) for i, title in
              enumerate(column.title for column in fitted.columns)]
    assert table_width == sum(widest) + NETWORK_GAP * (len(widest) - 1)


def test_the_layout_gives_up_detail_in_order(resnet50_summary):
    from convcalc.render.tables import fitted_table

    titles = {width: [c.title for c in fitted_table(resnet50_summary, None, width, 2).columns]
              for width in (80, 120, 200)}
    assert titles[200] == ["name", "type", "input", "output", "weight", "params", "MACs", "memory", "receptive field"]
    assert titles[120] == ["name", "type", "input", "output", "params", "MACs", "memory"]
    assert titles[80] == ["name", "type", "output", "params", "MACs"]
    at_80 = fitted_table(resnet50_summary, None, 80, 2)
    assert at_80.rows[0] == ["conv1", "Conv2d", "1×64×112×112", "9.41 k", "118 M"]
    assert at_80.note == "4 columns left out, params and MACs rounded to fit 80 columns: see --wide"
    assert fitted_table(resnet50_summary, None, None, 2).note is None


EXPLAIN = ("explain", "conv2d", "--out", "2", "-k", "3", "-i", "1x1x5x5", "--seed", "3")


@pytest.mark.parametrize("digits", [2, 9])
def test_explain_precision_writes_every_number_to_n_digits(cli, digits):
    data = json.loads(cli(*EXPLAIN, "--json").stdout)
    result = cli(*EXPLAIN, "--precision", str(digits))
    assert result.code == 0, result.stderr
    assert f"= {data['total']:.{digits}g}\n" in result.stdout
    assert all(f"{value:.{digits}g}" in result.stdout for value in data["terms"][0]["weights"])


@pytest.mark.parametrize("bad", ["0", "18", "x", "-1", "2.5", ""])
def test_explain_precision_refuses_what_is_not_a_digit_count(cli, bad):
    cli(*EXPLAIN, "--precision", bad).assert_one_error_line(["--precision", "1 to 17"])


SNAPSHOTS = Path(__file__).parent / "snapshots"


def _snapshot(name: str, text: str) -> None:
    """Compare with snapshots/NAME (regenerate: CONVCALC_UPDATE_SNAPSHOTS=1)."""
    import os

    path = SNAPSHOTS / name
    if os.environ.get("CONVCALC_UPDATE_SNAPSHOTS"):
        path.write_text(text)
    assert text == path.read_text()


@pytest.mark.parametrize("width", [60, 80, 120])
def test_fitted_network_table_snapshot(width):
    import io

    from rich.console import Console

    from convcalc.network import parse_network
    from convcalc.render.report import render_network

    summary = parse_network((DATA / "lenet_lines.txt").read_text()).summary()
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(render_network(summary, None, width=width))
    text = console.export_text()
    assert max(len(line.rstrip()) for line in text.splitlines()) <= width
    _snapshot(f"net_lenet_rich_{width}.txt", text)


def test_fitted_explain_snapshot_at_80_columns(cli, monkeypatch):
    """Piped with COLUMNS set, explain fits that width as on a terminal."""
    monkeypatch.setenv("COLUMNS", "80")
    result = cli("explain", "conv2d", "--in", "2", "--out", "4", "-k", "7", "-i", "1x2x8x8", "--precision", "3")
    assert result.code == 0, result.stderr
    assert max(len(line.rstrip()) for line in result.stdout.splitlines()) <= 80
    _snapshot("explain_k7_80.txt", result.stdout)
