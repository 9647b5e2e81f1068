"""Help that reads at 80, 120 and 200 columns, and the spellings a PyTorch user types.

The pseudo-terminal tests run the real command under ``script`` (tests/terminal.py); the others
call the entry point in-process at a fixed width.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from convcalc.cli.app import main
from convcalc.registry import layer_classes

from conftest import Result
from terminal import _TOKEN, broken_pieces, run_in_terminal

WIDTHS = (80, 120, 200)
README = Path(__file__).parent.parent / "README.md"


@pytest.fixture
def cli_at(capsys, monkeypatch):
    """Like the ``cli`` fixture, at a width of the test's choosing."""
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TERMINAL_WIDTH", raising=False)

    def run(columns: int, *argv: str) -> Result:
        monkeypatch.setenv("COLUMNS", str(columns))
        code = main(list(argv))
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


def _spellings(name: str) -> list[str]:
    """Every option word of a layer command, as its help should show them."""
    cls = layer_classes()[name]
    return [flag for spec in (*cls.arg_specs(), *cls.forward_arg_specs()) for flag in spec.spellings]


def _broken(cli_at, text: str, columns: int, names: list[str], argv: tuple[str, ...]) -> list[str]:
    """``broken_pieces`` of ``text``, less the number-like words the texts themselves hold
    (``3,5`` in "3, 3x5 or 3,5"): those the same help shows at 1000 columns, where nothing wraps."""
    whole = set(_TOKEN.findall(cli_at(1000, *argv).stdout))
    return [problem for problem in broken_pieces(text, columns, names)
            if not ("number cut: " in problem and problem.split("number cut: ")[1] in whole)]


def _line_of(text: str, option: str) -> str:
    return next(line for line in text.splitlines() if re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", line))


# -- what the help shows -------------------------------------------------------------------------


@pytest.mark.parametrize("columns", WIDTHS)
def test_conv2d_help_shows_every_spelling_whole(cli_at, columns):
    result = cli_at(columns, "conv2d", "--help")
    assert result.code == 0, result.stderr
    names = [*_spellings("conv2d"), "--input", "-i", "--max-memory", "N[xN..]", "same", "valid"]
    assert _broken(cli_at, result.stdout, columns, names, ("conv2d", "--help")) == []
    assert "…" not in result.stdout


@pytest.mark.parametrize("name", list(layer_classes()))
def test_every_layer_help_fits_80_columns(cli_at, name):
    result = cli_at(80, name, "--help")
    assert result.code == 0, result.stderr
    assert _broken(cli_at, result.stdout, 80, _spellings(name), (name, "--help")) == []


def test_required_options_are_marked(cli_at):
    text = cli_at(80, "conv2d", "--help").stdout
    for option in ("--out-channels", "--kernel-size"):
        assert _line_of(text, option).lstrip("│ ").startswith("*"), _line_of(text, option)
        assert "[required]" in text
    for option in ("--stride", "--bias", "--input"):
        assert not _line_of(text, option).lstrip("│ ").startswith("*"), _line_of(text, option)


@pytest.mark.parametrize("argv", [("conv2d",), ("net",), ("solve",), ("explain",), ("show",), ("layers",), ()])
def test_flags_are_shown_as_flags(cli_at, argv):
    text = cli_at(120, *argv, "--help").stdout
    assert "<bool>" not in text and "Usage:" in text


def test_defaults_in_option_texts_are_shown(cli_at):
    """``[default: 0]`` was read as a markup tag and vanished from --seed's text."""
    text = cli_at(200, "conv2d", "--help").stdout
    assert "[default: 0]" in _line_of(text, "--seed") and "[default: 4]" in _line_of(text, "--precision")


def test_net_run_says_what_it_adds(cli_at):
    text = " ".join(cli_at(200, "net", "--help").stdout.split())
    assert "show input, weights and output" not in text
    assert "min, max, mean and std" in text


@pytest.mark.parametrize("argv,usage", [
    (("net",), "Usage: convcalc net [OPTIONS] [FILE]"),
    (("explain",), "Usage: convcalc explain [OPTIONS] LAYER"),
    (("show",), "Usage: convcalc show [OPTIONS] LAYER"),
])
def test_usage_lines_read_naturally(cli_at, argv, usage):
    text = cli_at(120, *argv, "--help").stdout
    assert usage in text
    assert "[[" not in text and "{" not in text.split("Usage:")[1].splitlines()[0]


@pytest.mark.parametrize("command", ["explain", "show"])
def test_per_layer_help(cli_at, command):
    generic = cli_at(80, command, "--help").stdout
    text = cli_at(80, command, "conv2d", "--help").stdout
    for option in ("--out-channels", "--kernel-size", "--padding-mode", "--dilation"):
        assert option not in generic and option in text
    names = ["--out-channels", "--kernel-size", "--at"]
    assert "Conv2d options" in text and _broken(cli_at, text, 80, names, (command, "conv2d", "--help")) == []
    assert cli_at(80, command, "--at", "0x0", "Maxpool2d", "--help").stdout.count("--ceil-mode") == 1


# -- flags: --flag=true|false everywhere, --flag true refused in one line ----------------------------


FLAG_CASES = [  # (argv before the flag, flag, argv after)
    (["solve", "--in-size", "8", "--out-size", "4"], "--transposed", ["--json"]),
    (["conv2d", "--out", "2", "-k", "3", "-i", "1x1x4x4"], "--json", []),
    (["conv2d", "--out", "2", "-k", "3", "-i", "1x1x4x4", "--json"], "--bias", []),
    (["net", "tests/data/lenet_lines.txt"], "--json", []),
    (["explain", "conv2d", "--out", "2", "-k", "3", "-i", "1x1x4x4"], "--json", []),
    (["explain", "conv2d", "--out", "2", "-k", "3", "-i", "1x1x4x4", "--json"], "--bias", []),  # the layer's flag
    (["show", "maxpool2d", "-k", "3", "-i", "5x5"], "--ceil-mode", []),
]


@pytest.mark.parametrize("before,flag,after", FLAG_CASES)
def test_a_flag_given_a_value_with_equals_is_read(cli_at, before, flag, after):
    plain = cli_at(200, *before, flag, *after)
    assert plain.code == 0, plain.stderr
    assert cli_at(200, *before, f"{flag}=true", *after).stdout == plain.stdout
    assert cli_at(200, *before, f"{flag}=yes", *after).stdout == plain.stdout


@pytest.mark.parametrize("before,flag,after", FLAG_CASES)
@pytest.mark.parametrize("value", ["true", "false", "False"])
def test_a_flag_given_a_separate_value_is_refused_clearly(cli_at, before, flag, after, value):
    cli_at(200, *before, flag, value, *after).assert_one_error_line([flag, "takes no value", f"{flag}=false"])


def test_a_flag_set_false_is_left_out(cli_at):
    result = cli_at(200, "solve", "--in-size", "8", "--out-size", "4", "--transposed=false", "--json")
    assert result.code == 0 and json.loads(result.stdout)["mode"] == "conv"
    cli_at(200, "solve", "--in-size", "8", "--out-size", "4", "--json=maybe").assert_one_error_line(
        ["--json", "maybe", "true or false"]
    )


# -- torch's spellings ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Conv2d", "CONV2D", "nn.Conv2d", "torch.nn.Conv2d", "conv2D"])
def test_torch_class_names_are_commands(cli_at, name):
    result = cli_at(120, name, "--in", "3", "--out", "8", "-k", "5", "-i", "1x3x32x32", "--json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["output_shape"] == [1, 8, 28, 28]


def test_torch_class_names_have_help(cli_at):
    assert "--out-channels" in cli_at(120, "ConvTranspose2d", "--help").stdout


@pytest.mark.parametrize("argv", [
    ["conv2d", "--in_channels", "3", "--out_channels", "8", "--kernel_size", "5", "-i", "1x3x32x32", "--json"],
    ["conv2d", "--in", "3", "--out", "8", "-k", "5", "--input", "1x3x32x32", "--json", "--max_memory", "1GiB", "--run"],
    ["conv2d", "--in", "3", "--out", "8", "-k", "5", "-i", "1x3x32x32", "--json", "--fill_weights=ones", "--run"],
])
def test_underscore_spellings_of_options(cli_at, argv):
    result = cli_at(120, *argv)
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["output_shape"] == [1, 8, 28, 28]


def test_underscore_spellings_of_other_commands(cli_at):
    result = cli_at(120, "solve", "--in_size", "8", "--out_size", "4", "--json")
    assert result.code == 0 and json.loads(result.stdout)["out_size"] == [4]
    assert cli_at(120, "net", "tests/data/lenet_lines.txt", "--max_memory=1GiB", "--run").code == 0


@pytest.mark.parametrize("text", ["torch.Size([1, 3, 32, 32])", "torch.Size((1, 3, 32, 32))", "Size([1, 3, 32, 32])",
                                  "[1, 3, 32, 32]", "(1, 3, 32, 32)", " torch.Size([1,3,32,32]) "])
def test_shapes_as_torch_prints_them(cli_at, text):
    result = cli_at(120, "conv2d", "--out", "8", "-k", "5", "-i", text, "--json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["input_shape"] == [1, 3, 32, 32]


@pytest.mark.parametrize("text", ["torch.Size([1, 3, 32, 32)", "torch.Size(1, 3)", "torch.Sizes([1, 3])"])
def test_bad_torch_sizes_say_what_is_wrong(cli_at, text):
    result = cli_at(120, "conv2d", "--out", "8", "-k", "5", "-i", text)
    result.assert_one_error_line(["input shape"])
    assert "unclosed bracket" not in result.stderr or text.count("(") + text.count("[") != text.count(")") + text.count("]")


# -- an unbatched input is said to be one ---------------------------------------------------------


def test_a_3d_input_to_conv2d_is_said_to_be_unbatched(cli_at):
    text = cli_at(120, "conv2d", "--out", "8", "-k", "3", "-i", "3x32x32").stdout
    assert "unbatched (C, H, W)" in _line_of(text, "input")
    data = json.loads(cli_at(120, "conv2d", "--out", "8", "-k", "3", "-i", "3x32x32", "--json").stdout)
    assert data["unbatched"] is True and data["input_layout"] == "(C, H, W)"
    assert data["input_shape"] == [3, 32, 32] and data["output_shape"] == [8, 30, 30]


def test_a_batched_input_is_not_called_unbatched(cli_at):
    text = cli_at(120, "conv2d", "--out", "8", "-k", "3", "-i", "1x3x32x32").stdout
    assert "unbatched" not in text
    data = json.loads(cli_at(120, "conv2d", "--out", "8", "-k", "3", "-i", "1x3x32x32", "--json").stdout)
    assert data["unbatched"] is False and data["input_layout"] == "(N, C, H, W)"
    linear = json.loads(cli_at(120, "linear", "--in", "4", "--out", "2", "-i", "3x4", "--json").stdout)
    assert linear["unbatched"] is None and linear["input_layout"] is None
    conv1d = json.loads(cli_at(120, "conv1d", "--out", "2", "-k", "3", "-i", "4x9", "--json").stdout)
    assert conv1d["unbatched"] is True and conv1d["input_layout"] == "(C, L)"


# -- layers --------------------------------------------------------------------------------------


@pytest.mark.parametrize("columns", WIDTHS)
def test_layers_fits(cli_at, columns):
    text = cli_at(columns, "layers").stdout
    names = [*layer_classes(), *(f"nn.{cls.__name__}" for cls in layer_classes().values())]
    assert _broken(cli_at, text, columns, names, ("layers",)) == []
    # Descriptions wrap as whole text in a column wide enough for several words a line.
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) < 3 * len(layer_classes()) + 30, len(lines)


# -- on a real terminal --------------------------------------------------------------------------


@pytest.mark.parametrize("columns", WIDTHS)
def test_conv2d_help_on_a_terminal(cli_at, columns):
    result = run_in_terminal(["conv2d", "--help"], columns=columns)
    assert result.code == 0, result.text
    names = [*_spellings("conv2d"), "--input", "-i", "N[xN..]", "same", "valid"]
    assert _broken(cli_at, result.text, columns, names, ("conv2d", "--help")) == [], result.text
    assert "<bool>" not in result.text and "…" not in result.text and "--out-channels" in result.text


@pytest.mark.parametrize("columns", WIDTHS)
def test_layers_on_a_terminal(cli_at, columns):
    result = run_in_terminal(["layers"], columns=columns, lines=400)
    assert result.code == 0, result.text
    names = [*layer_classes(), *(f"nn.{cls.__name__}" for cls in layer_classes().values())]
    assert _broken(cli_at, result.text, columns, names, ("layers",)) == [], result.text


# -- README ---------------------------------------------------------------------------------------


def test_readme_spellings_block_runs_as_shown(cli_at):
    """The README's example of torch's spellings is this command's real output."""
    block = README.read_text().split("<!-- torch-spellings: checked by tests/test_help.py -->\n```console\n")[1]
    block = block.split("```")[0]
    command, *shown = block.splitlines()
    import shlex

    argv = shlex.split(command.removeprefix("$ convcalc "))
    result = cli_at(100, *argv)
    assert result.code == 0, result.stderr
    assert result.stdout.rstrip("\n").splitlines() == shown


def test_a_no_flag_given_a_value_is_pointed_at_a_spelling_that_works(cli_at):
    """Reproducer: `--no-bias no` suggested --no-bias=false, which is refused too."""
    layer = ["conv2d", "--in", "3", "--out", "8", "-k", "3", "-i", "1x3x8x8"]
    cli_at(200, *layer, "--no-bias", "no").assert_one_error_line(["--no-bias alone", "--bias=true / --bias=false"])
    suggested = cli_at(200, *layer, "--bias=false")
    assert suggested.code == 0 and suggested.stdout == cli_at(200, *layer, "--no-bias").stdout
