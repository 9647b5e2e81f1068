"""convcalc on pseudo-terminals narrower than 80 columns (40, 60, 70): where no form of a table
or grid fits, its lines run past the edge, but no number, shape or name is ever cut; and
``--units exact`` never rounds, even where room is short."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from terminal import REPO_ROOT, assert_unbroken, broken_pieces, run_in_terminal

RESNET50 = "tests/data/torchvision/resnet50.txt"
LENET = "tests/data/lenet_lines.txt"
NARROW = (40, 60, 70)
SMALL_CONV = ("explain", "conv2d", "--in", "2", "--out", "4", "-i", "1x2x8x8")


def _piped_json(*args: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "convcalc", *args, "--json"], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _names(*args: str) -> list[str]:
    layers = _piped_json(*args)["layers"]
    return [layer["name"] + (f"#{layer['call']}" if layer.get("call", 1) > 1 else "") for layer in layers]


def _cut(text: str, columns: int, names: list[str] = ()) -> list[str]:
    """What broken_pieces finds but lines running past the edge (allowed where nothing fits)."""
    return [problem for problem in broken_pieces(text, columns, names) if "columns wide" not in problem]


@pytest.mark.parametrize("columns", NARROW)
def test_net_one_size_never_cuts_cells(columns):
    args = ("net", RESNET50, "-i", "1x3x224x224")
    shown = run_in_terminal(args, columns)
    assert shown.code == 0, shown.text
    assert _cut(shown.text, columns, _names(*args)) == [] and "…" not in shown.text


@pytest.mark.parametrize("columns", NARROW)
def test_net_several_sizes_never_cut_cells(columns):
    """Before: ``9.…`` and ``1×64×11…`` at 60 and 70 columns, names and totals cut at 40."""
    shown = run_in_terminal(("net", RESNET50, "-i", "1x3x224x224", "-i", "1x3x320x320"), columns)
    assert shown.code == 0, shown.text
    assert _cut(shown.text, columns, _names("net", RESNET50, "-i", "1x3x224x224")) == []
    assert "…" not in shown.text
    assert "1×64×112×112" in shown.text and "1×64×160×160" in shown.text and "25.6 M" in shown.text


EXPLAINED = [
    # before: -0.00060… at 40 columns
    ((*SMALL_CONV, "-k", "7", "-i", "1x2x16x16"), 4),
    # before: -0.141934469342231… at 60 columns: even the stacked, elided grid is too wide there,
    # so its lines run past the edge
    ((*SMALL_CONV, "-k", "3", "--precision", "17"), 17),
]


@pytest.mark.parametrize("columns", NARROW)
@pytest.mark.parametrize("args, digits", EXPLAINED, ids=["k7", "precision17"])
def test_explain_never_cuts_numbers(columns, args, digits):
    weights = _piped_json(*args)["terms"][0]["weights"]
    shown = run_in_terminal(args, columns)
    assert shown.code == 0, shown.text
    assert _cut(shown.text, columns) == []
    assert f"{weights[0]:.{digits}g}" in shown.text and f"{weights[-1]:.{digits}g}" in shown.text


@pytest.mark.parametrize("columns", (*NARROW, 80))
def test_train_fits_by_giving_up_the_kept_column_last(columns):
    """Before: 76 columns wide at 70 (the kept-for-backward column never gave way)."""
    shown = run_in_terminal(("net", RESNET50, "-i", "1x3x224x224", "--train"), columns)
    assert shown.code == 0, shown.text
    table = shown.text.split("╭")[0]
    if columns >= 60:  # the leanest table (name, output, params, MACs) is 57 wide
        assert_unbroken(table, columns)
    assert _cut(shown.text, columns) == [] and "peak training memory" in shown.text
    assert ("kept for backward" in table.splitlines()[0]) == (columns >= 80)


def test_train_run_fits_80_columns():
    """Before: 88 columns wide at 80."""
    shown = run_in_terminal(("net", RESNET50, "-i", "1x3x64x64", "--train", "--run"), 80)
    assert shown.code == 0, shown.text
    assert_unbroken(shown.text.split("╭")[0], 80)


def test_train_totals_follow_units_exact(cli):
    """Before: ``kept for backward 47.9 KiB`` beneath exact byte lines."""
    result = cli("net", LENET, "--train", "--units", "exact")
    assert result.code == 0, result.stderr
    assert re.search(r"^kept for backward +49,040 B$", result.stdout, re.M), result.stdout
    assert "KiB" not in result.stdout and "MiB" not in result.stdout


@pytest.mark.parametrize("sizes", [("-i", "1x3x224x224"), ("-i", "1x3x224x224", "-i", "1x3x320x320")])
def test_units_exact_never_rounds_on_a_terminal(sizes):
    """Before: ``9.41 k`` and ``118 M`` at 80 columns despite --units exact."""
    shown = run_in_terminal(("net", RESNET50, *sizes, "--units", "exact"), 80)
    assert shown.code == 0, shown.text
    assert "9,408" in shown.text and "118,013,952" in shown.text
    assert not re.search(r"\d [kMG]\b|KiB|MiB", shown.text), shown.text
    assert _cut(shown.text, 80) == []


@pytest.mark.parametrize("columns", (40, 60))
def test_layers_keep_words_whole(columns):
    """Before: ``align_corner…`` at 60 columns; where the description column would be narrower
    than its words, descriptions go under their command."""
    shown = run_in_terminal(("layers",), columns, lines=500)
    assert shown.code == 0, shown.text
    words = ["upsamplingbilinear2d", "nn.UpsamplingBilinear2d", "align_corners=True", "(bi/tri)linear,",
             "multiheadattention", "nn.MultiheadAttention"]
    assert _cut(shown.text, columns, words) == [] and "…" not in shown.text


def test_single_layer_panel_keeps_each_argument_on_one_line():
    """Before: ``stride=(2,`` / ``2)`` at 50 columns; the layer's arguments go one a line instead."""
    shown = run_in_terminal(("conv2d", "--in", "3", "--out", "8", "-k", "3", "-s", "2", "-i", "1x3x32x32"), 50)
    assert shown.code == 0, shown.text
    assert "kernel_size=(3, 3)," in shown.text and "stride=(2, 2))" in shown.text
    assert_unbroken(shown.text.split("input")[0], 50)
