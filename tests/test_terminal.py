"""convcalc on a real pseudo-terminal at 80, 120 and 200 columns: every table fits, and no
number, shape or name is split across lines or cut short with an ellipsis."""

from __future__ import annotations

import csv
import io
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from terminal import REPO_ROOT, assert_unbroken, broken_pieces, run_in_terminal

DATA = Path(__file__).parent / "data"
RESNET50 = "tests/data/torchvision/resnet50.txt"
BASIC_BLOCK = "tests/data/basic_block.txt"
WIDTHS = (80, 120, 200)


def _piped(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "convcalc", *args], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _names_and_types(*args: str) -> tuple[list[str], list[str]]:
    layers = json.loads(_piped(*args, "--json"))["layers"]
    names = [layer["name"] + (f"#{layer['call']}" if layer.get("call", 1) > 1 else "") for layer in layers]
    return names, sorted({layer["type"] for layer in layers})


@pytest.mark.parametrize("columns", WIDTHS)
def test_net_resnet50_fits(columns):
    args = ("net", RESNET50, "-i", "1x3x224x224")
    names, types = _names_and_types(*args)
    shown = run_in_terminal(args, columns)
    assert shown.code == 0, shown.text
    assert_unbroken(shown.text, columns, names=[*names, *types])
    lines = shown.text.splitlines()
    assert sum(1 for line in lines if line.split()[:1] and line.split()[0] in names) == len(names)


@pytest.mark.parametrize("columns", WIDTHS)
def test_net_run_statistics_fit(columns):
    args = ("net", BASIC_BLOCK, "-i", "1x8x6x6", "--run", "--seed", "0")
    names, types = _names_and_types(*args)
    rows = list(csv.DictReader(io.StringIO(_piped(*args, "--csv"))))
    means = [f"{float(row['mean']):.4g}" for row in rows if row["mean"]]  # the last row is the total
    shown = run_in_terminal(args, columns)
    assert shown.code == 0, shown.text
    assert_unbroken(shown.text, columns, names=[*names, *types, *means])
    assert "mean" in shown.text and "std" in shown.text


@pytest.mark.parametrize("columns", WIDTHS)
def test_explain_wide_kernel_fits(columns):
    args = ("explain", "conv2d", "--in", "2", "--out", "4", "-k", "7", "-i", "1x2x8x8", "--seed", "0")
    data = json.loads(_piped(*args, "--json"))
    shown = run_in_terminal(args, columns)
    assert shown.code == 0, shown.text
    assert_unbroken(shown.text, columns)
    assert "input window" in shown.text and "products" in shown.text
    window = data["terms"][0]["values"]
    first, last = (f"{value:.4g}" for value in (window[0], window[-1]))  # corners are always drawn
    assert_unbroken(shown.text, columns, names=[first, last])
    total = shown.text.split("total = ")[1].split("\n")[0]
    assert total.endswith(f"= {data['total']:.6g}"), total


@pytest.mark.parametrize("columns", (80, 120))
def test_explain_small_kernel_fits(columns):
    shown = run_in_terminal(("explain", "conv2d", "--in", "2", "--out", "4", "-k", "3", "-i", "1x2x8x8"), columns)
    assert shown.code == 0, shown.text
    assert_unbroken(shown.text, columns)


def test_net_wide_shows_every_column_in_full_on_a_narrow_terminal():
    shown = run_in_terminal(("net", RESNET50, "-i", "1x3x224x224", "--wide"), 80)
    assert shown.code == 0, shown.text
    header = shown.text.splitlines()[0].split()
    assert header == ["name", "type", "input", "output", "weight", "params", "MACs", "memory", "receptive", "field"]
    assert "[1, 64, 112, 112]" in shown.text and "118,013,952" in shown.text and "see --wide" not in shown.text


def test_a_narrow_terminal_says_what_it_left_out():
    shown = run_in_terminal(("net", RESNET50, "-i", "1x3x224x224"), 80)
    assert "note: 4 columns left out, params and MACs rounded to fit 80 columns: see --wide" in shown.text
    assert shown.text.splitlines()[0].split() == ["name", "type", "output", "params", "MACs"]


README_EXAMPLE = re.compile(r"^\$ convcalc ([^\n]+?) +# on an? (\d+)-column terminal\n(.*?)^```", re.M | re.S)
README_EXAMPLES = README_EXAMPLE.findall((REPO_ROOT / "README.md").read_text())


def test_the_readme_has_terminal_examples():
    assert len(README_EXAMPLES) >= 2


@pytest.mark.parametrize("command, columns, block", README_EXAMPLES, ids=[e[0][:40] for e in README_EXAMPLES])
def test_readme_terminal_example_is_what_the_terminal_shows(command, columns, block):
    """Each README block marked `# on an N-column terminal`: its lines, in order ("..." skips
    some), are lines the command shows on a pseudo-terminal that wide."""
    shown = run_in_terminal(shlex.split(command), int(columns))
    assert shown.code == 0, shown.text
    printed = iter(line.rstrip() for line in shown.text.splitlines())
    for line in (line.rstrip() for line in block.splitlines() if line not in ("...", "")):
        assert any(line == candidate for candidate in printed), (line, shown.text)


@pytest.mark.parametrize("columns", (80, 120))
def test_explain_matmul_keeps_each_weight_row_on_one_line(columns):
    """The weight slice is a matrix: its rows were wrapped two numbers a line at 80 columns."""
    args = ("explain", "conv2d", "--out", "16", "-k", "3", "-g", "2", "-i", "1x16x8x8", "--view", "matmul")
    weight = json.loads(_piped(*args, "--json"))["matmul"][0]["weight"]
    shown = run_in_terminal(args, columns)
    assert shown.code == 0, shown.text
    assert_unbroken(shown.text, columns)
    first, last = f"{weight[0][0]:.4g}", f"{weight[0][-1]:.4g}"
    assert any(f" {first} " in line and f" {last} " in line for line in shown.text.splitlines()), shown.text


def test_a_terminal_narrower_than_the_leanest_table_gets_whole_cells():
    """At 40 columns even name, output, params and MACs do not fit: the lines run past the
    edge (the terminal wraps them) rather than cells cut short with an ellipsis."""
    args = ("net", RESNET50, "-i", "1x3x224x224")
    names, _ = _names_and_types(*args)
    shown = run_in_terminal(args, 40)
    assert shown.code == 0, shown.text
    cut = [problem for problem in broken_pieces(shown.text, 40, names=names) if "columns wide" not in problem]
    assert cut == [] and "…" not in shown.text
    assert shown.text.splitlines()[2].split() == ["conv1", "1×64×112×112", "9.41", "k", "118", "M"]
