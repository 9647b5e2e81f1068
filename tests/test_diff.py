"""``convcalc diff``: two specs, or one spec at two input sizes, compared row by row (matched
by name), with the totals' changes; plain text, JSON and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from readme_blocks import check_readme_block

import convcalc
from convcalc.network.diff import diff_summaries

DATA = Path(__file__).parent / "data"
LENET, WIDE = str(DATA / "lenet_lines.txt"), str(DATA / "lenet_wide.txt")


def _summary(path: str, shape=None):
    return convcalc.parse_network(Path(path).read_text()).summary(shape)


# -- the core ---------------------------------------------------------------------------------


def test_a_network_against_itself_has_no_rows_and_zero_deltas():
    diff = diff_summaries(_summary(LENET), _summary(LENET))
    assert diff.same and diff.rows == [] and diff.unchanged == 12
    assert all(total.delta == 0 for total in diff.totals)


def test_a_spec_without_an_input_shape_against_itself_is_the_same():
    net = convcalc.parse_network("Conv2d(3, 8, 3)")
    diff = diff_summaries(net.summary(), net.summary())
    assert diff.same and diff.totals[3].a is None and diff.totals[3].relative is None


def test_two_sizes_change_every_shape_but_no_parameter():
    diff = diff_summaries(_summary(LENET, (1, 1, 32, 32)), _summary(LENET, (4, 1, 32, 32)))
    assert not diff.same and [row.status for row in diff.rows] == ["changed"] * 12
    assert all("params" not in row.changes and "output_shape" in row.changes for row in diff.rows)
    totals = {total.name: total for total in diff.totals}
    assert totals["macs"].relative == 3.0 and totals["params"].delta == 0
    assert totals["buffers"].relative is None  # 0 → 0: no ratio to give


def test_rows_only_in_one_spec_are_placed_where_they_run():
    diff = diff_summaries(_summary(LENET), _summary(WIDE))
    assert [(row.name, row.status) for row in diff.rows][-3:] == [("9", "changed"), ("10", "only_a"), ("11", "only_a")]
    assert diff.unchanged == 1  # row 8, the relu after the first linear, is the same
    first = diff.rows[0]
    assert first.changes == ("layer", "output_shape", "params", "macs", "output_bytes")
    reverse = diff_summaries(_summary(WIDE), _summary(LENET))
    assert [row.status for row in reverse.rows][-2:] == ["only_b", "only_b"]


# -- the command line -------------------------------------------------------------------------


def test_diff_of_one_spec_at_two_sizes(cli):
    result = cli("diff", LENET, "--input", "1x1x32x32", "-i", "2x1x32x32")
    assert result.code == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].startswith("--- a: ") and lines[0].endswith("input [1, 1, 32, 32] → output [1, 10]")
    assert lines[1].startswith("+++ b: ") and lines[1].endswith("input [2, 1, 32, 32] → output [2, 10]")
    assert lines[2] == "rows matched by name: 0 unchanged, 12 changed, 0 only in a, 0 only in b"
    macs = next(line for line in lines if line.startswith("MACs"))
    assert macs.split() == ["MACs", "416,520", "833,040", "+416,520", "(+100.0", "%)"]


def test_diff_of_two_specs_shows_changed_and_missing_rows(cli):
    result = cli("diff", LENET, WIDE)
    assert result.code == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert "~  0     Conv2d     output [1, 6, 28, 28] → [1, 12, 32, 32]; params 156 → 312;" in result.stdout
    assert lines.count("-  10    ReLU       only in a: output [1, 84], 0 params, 0 MACs") == 1
    assert next(line for line in lines if line.startswith("params ")).split()[-3:] == ["+13,872", "(+22.5", "%)"]


def test_diff_json_is_stable(cli):
    data = json.loads(cli("diff", LENET, WIDE, "--json").stdout)
    assert set(data) == {"matched_by", "same", "a", "b", "rows", "unchanged_rows", "totals"}
    assert data["matched_by"] == "name" and data["same"] is False and data["unchanged_rows"] == 1
    assert data["a"] == {"spec": LENET, "input_shape": [1, 1, 32, 32], "output_shape": [1, 10], "dtype": "float32"}
    row = data["rows"][0]
    assert set(row) == {"name", "status", "changes", "a", "b"}
    assert row["a"]["output_shape"] == [1, 6, 28, 28] and row["b"]["output_shape"] == [1, 12, 32, 32]
    assert set(row["a"]) == {"type", "layer", "input_shape", "output_shape", "params", "macs", "output_bytes"}
    only = data["rows"][-1]
    assert only["status"] == "only_a" and only["b"] is None and only["changes"] == []
    assert data["totals"]["params"] == {"a": 61706, "b": 75578, "delta": 13872, "relative": 13872 / 61706}
    assert set(data["totals"]) == {"params", "trainable_params", "buffers", "macs", "flops", "activation_bytes",
                                   "param_bytes", "buffer_bytes", "peak_memory_bytes"}


def test_exit_code_is_0_unless_asked_then_1_when_they_differ(cli):
    assert cli("diff", LENET, WIDE).code == 0
    assert cli("diff", LENET, WIDE, "--exit-code").code == 1
    same = cli("diff", LENET, LENET, "--exit-code")
    assert same.code == 0 and "12 unchanged, 0 changed" in same.stdout


def test_one_side_from_standard_input(console_script):
    result = console_script("diff", "-", WIDE, stdin=Path(LENET).read_text())
    assert result.code == 0 and result.stderr == ""
    assert result.stdout.startswith("--- a: standard input, input [1, 1, 32, 32]")


@pytest.mark.parametrize("argv, words", [
    ((LENET,), ["compare two specs", "got 1 spec(s) and 0 --input"]),
    ((LENET, WIDE, LENET), ["got 3 spec(s)"]),
    ((LENET, WIDE, "-i", "1x1x32x32", "-i", "1x1x64x64"), ["got 2 spec(s) and 2 --input"]),
    (("-", "-"), ["only one of A and B can be read from standard input"]),
    ((LENET, "no-such-file.txt"), ["cannot read no-such-file.txt"]),
    ((LENET, "--input", "1x1x32x32", "--input", "1x1xfoo"), ["1x1xfoo"]),
    ((LENET, "--input", "1x1x32x32", "--input", "1x1x2x2"), ["Conv2d"]),
    ((LENET, WIDE, "--depth", "0"), ["--depth"]),
])
def test_bad_input_is_one_clean_error_line(cli, argv, words):
    cli("diff", *argv).assert_one_error_line(words)


def test_an_unparsable_spec_is_one_clean_error_line(cli, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("conv2d --out 4 -k\n")
    cli("diff", LENET, str(bad)).assert_one_error_line([f"B ({bad}): "])


def test_an_error_names_the_side_it_is_about(cli, tmp_path):
    small = tmp_path / "small.txt"
    small.write_text("input 1x3x8x8\nconv2d --out 8 -k 9\n")
    cli("diff", LENET, str(small)).assert_one_error_line([f"B ({small}): line 2", "kernel's reach 9"])
    cli("diff", str(small), LENET).assert_one_error_line([f"A ({small}): line 2"])
    cli("diff", LENET, "--input", "1x1x32x32", "--input", "1x1x8x8").assert_one_error_line(
        [f"{LENET} at --input 1x1x8x8: line 3"])


# -- the README's examples ------------------------------------------------------------------


@pytest.mark.parametrize("argv", [
    ("tests/data/lenet_lines.txt", "tests/data/lenet_wide.txt"),
    ("tests/data/lenet_lines.txt", "--input", "1x1x32x32", "--input", "8x1x32x32"),
    ("tests/data/lenet_lines.txt", "tests/data/lenet_lines.txt", "--exit-code"),
])
def test_readme_diff_examples_are_what_the_command_prints(cli, monkeypatch, argv):
    monkeypatch.chdir(Path(__file__).parent.parent)
    result = cli("diff", *argv)
    assert result.code == 0 and result.stderr == ""
    check_readme_block("convcalc diff " + " ".join(argv), result.stdout)


def test_the_terminal_rendering_holds_the_same_rows_and_totals():
    from rich.console import Console

    from convcalc.render.diff import render_diff

    console = Console(width=200, record=True, color_system=None)
    console.print(render_diff(diff_summaries(_summary(LENET), _summary(WIDE)), ("a.txt", "b.txt")))
    text = console.export_text()
    assert "--- a: a.txt, input 1×1×32×32 → output 1×10" in text  # shapes a terminal cannot break
    assert "only in a: output 1×84, 0 params, 0 MACs" in text
    assert "+13,872 (+22.5 %)" in text


@pytest.mark.parametrize("columns", [80, 120, 200])
def test_on_a_terminal_no_number_shape_or_name_is_split_or_cut(columns):
    from terminal import assert_unbroken, run_in_terminal

    resnet50 = str(DATA / "torchvision" / "resnet50.txt")
    result = run_in_terminal(["diff", resnet50, "-i", "1x3x224x224", "-i", "8x3x320x320"], columns=columns)
    assert result.code == 0
    assert "rows matched by name: 0 unchanged, 175 changed" in result.text
    assert_unbroken(result.text, columns, names=["layer4.2.relu#3", "layer1.0.downsample.0"])
    two = run_in_terminal(["diff", LENET, WIDE], columns=columns)
    assert two.code == 0 and "only in a: output 1×84, 0 params, 0 MACs" in two.text
    assert_unbroken(two.text, columns, names=["MaxPool2d"])


def test_readme_exit_code_example_says_1_when_the_specs_differ(cli, monkeypatch):
    """The README's --exit-code example is 0 for a spec against itself; the same call on two
    different specs (the README's first example) is 1."""
    monkeypatch.chdir(Path(__file__).parent.parent)
    assert cli("diff", "tests/data/lenet_lines.txt", "tests/data/lenet_wide.txt", "--exit-code").code == 1
