"""The command line through its real entry point: output, exit codes, and every kind of bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import re

import pytest


def test_conv2d_without_input_shows_weights_and_formula(cli):
    result = cli("conv2d", "--in", "3", "--out", "8", "-k", "5")
    assert result.code == 0, result.stderr
    assert "Conv2d(3, 8, kernel_size=(5, 5), stride=(1, 1))" in result.stdout
    assert "[8, 3, 5, 5]" in result.stdout and "out × in/groups × kH × kW" in result.stdout
    assert "608" in result.stdout
    assert "⌊(H + 2·0 − 1·(5−1) − 1)/1⌋ + 1 = H − 4" in result.stdout
    assert result.stderr == ""


def test_conv2d_with_input_fills_in_numbers(cli):
    result = cli("conv2d", "--in", "3", "--out", "8", "-k", "5", "--input", "1x3x32x32")
    assert result.code == 0
    for text in ("[1, 8, 28, 28]", "⌊(32 + 2·0 − 1·(5−1) − 1)/1⌋ + 1 = 28", "470,400", "947,072",
                 "25,088 B"):
        assert text in result.stdout


def test_json_has_the_contract_keys(cli):
    result = cli("conv2d", "--in", "3", "--out", "8", "-k", "5", "--input", "1x3x32x32", "--json")
    data = json.loads(result.stdout)
    assert {k: data[k] for k in ("type", "layer", "input_shape", "output_shape", "param_shapes",
                                 "params", "macs", "flops")} == {
        "type": "Conv2d", "layer": "Conv2d(3, 8, kernel_size=(5, 5), stride=(1, 1))",
        "input_shape": [1, 3, 32, 32], "output_shape": [1, 8, 28, 28],
        "param_shapes": {"weight": [8, 3, 5, 5], "bias": [8]}, "params": 608,
        "macs": 470400, "flops": 947072,
    }


def test_json_without_input_has_nulls(cli):
    data = json.loads(cli("conv2d", "--in", "3", "--out", "8", "-k", "5", "--json").stdout)
    assert data["input_shape"] is None and data["output_shape"] is None
    assert data["macs"] is None and data["flops"] is None and data["params"] == 608


def test_groups_say_which_inputs_each_group_sees(cli):
    out = cli("conv2d", "--in", "4", "--out", "8", "-k", "5", "--groups", "2").stdout
    assert "[8, 2, 5, 5]" in out
    assert "group 0: outputs 0–3 see inputs 0–1" in out and "group 1: outputs 4–7 see inputs 2–3" in out


def test_in_channels_inferred_from_input(cli):
    data = json.loads(cli("conv2d", "--out", "8", "-k", "3", "-i", "2x5x9x9", "--json").stdout)
    assert data["param_shapes"]["weight"] == [8, 5, 3, 3] and data["output_shape"] == [2, 8, 7, 7]


@pytest.mark.parametrize("shape", ["1x3x32x32", "1,3,32,32", "[1, 3, 32, 32]", "(1, 3, 32, 32)"])
def test_shape_spellings(cli, shape):
    data = json.loads(cli("conv2d", "--out", "8", "-k", "5", "--input", shape, "--json").stdout)
    assert data["output_shape"] == [1, 8, 28, 28]


@pytest.mark.parametrize("kernel", ["3x5", "3,5", "(3, 5)"])
def test_tuple_spellings(cli, kernel):
    data = json.loads(cli("conv2d", "--in", "1", "--out", "1", "-k", kernel, "--json").stdout)
    assert data["param_shapes"]["weight"] == [1, 1, 3, 5]


def test_alias_and_forward_option(cli):
    data = json.loads(cli("deconv2d", "--in", "16", "--out", "8", "-k", "4", "-s", "2", "-p", "1",
                          "-i", "1x16x16x16", "--output-size", "33x33", "--json").stdout)
    assert data["type"] == "ConvTranspose2d" and data["output_shape"] == [1, 8, 33, 33]
    assert data["param_shapes"]["weight"] == [16, 8, 4, 4]


def test_formulas_follow_the_forward_output_size(cli):
    data = json.loads(cli("deconv2d", "--in", "16", "--out", "8", "-k", "4", "-s", "2", "-p", "1",
                          "-i", "1x16x16x16", "--output-size", "33x32", "--json").stdout)
    assert data["formulas"] == ["H_out = (16 − 1)·2 − 2·1 + 1·(4−1) + 1 + 1 = 33",
                                "W_out = (16 − 1)·2 − 2·1 + 1·(4−1) + 0 + 1 = 32"]
    data = json.loads(cli("maxunpool2d", "-k", "2", "-i", "1x3x4x4", "--output-size", "9x8", "--json").stdout)
    assert data["output_shape"] == [1, 3, 9, 8] and data["formulas"] == ["H_out = 9", "W_out = 8"]


def test_dtype_changes_memory(cli):
    data = json.loads(cli("conv2d", "--in", "3", "--out", "8", "-k", "5", "-i", "1x3x32x32",
                          "--dtype", "float16", "--json").stdout)
    assert data["output_bytes"] == 8 * 28 * 28 * 2


def test_bias_flag_pair(cli):
    data = json.loads(cli("conv2d", "--in", "3", "--out", "8", "-k", "5", "--no-bias", "--json").stdout)
    assert data["param_shapes"] == {"weight": [8, 3, 5, 5]} and "bias=False" in data["layer"]


def test_layers_lists_every_command(cli):
    data = json.loads(cli("layers", "--json").stdout)
    names = {row["command"] for row in data}
    assert {"conv1d", "conv2d", "conv3d", "convtranspose2d"} <= names
    rows = {row["command"]: row for row in data}
    assert rows["convtranspose2d"]["aliases"] == ["conv-transpose2d", "deconv2d"] and rows["conv2d"]["aliases"] == []


def test_no_arguments_prints_help(cli):
    result = cli()
    assert result.code == 0 and "Usage" in result.stdout and "conv2d" in result.stdout


BAD_INPUTS = [
    # (argv, words the one-line message must contain)
    (["conv2d", "--in", "4", "--out", "8", "-k", "3", "-g", "3"], ["groups=3", "in_channels=4", "{1, 2, 4}"]),
    (["conv2d", "--in", "3", "--out", "8", "-k", "3", "-p", "same", "-s", "2"], ["'same'", "stride"]),
    (["convtranspose2d", "--in", "3", "--out", "8", "-k", "3", "-s", "2", "--output-padding", "2"],
     ["output_padding=2", "output_padding<=1"]),
    (["conv2d", "--in", "3", "--out", "8", "-k", "9", "-i", "1x3x4x4"], ["reach 9", "padded input 4"]),
    (["conv2d", "--in", "3", "--out", "8", "-k", "3", "-i", "1xthreex5"], ["'three'", "whole number"]),
    (["conv2d", "--in", "3", "--out", "8", "-k", "3", "-i", "0x"], ["empty entry"]),
    (["conv2d", "--in", "3", "--out", "8", "-k", "3", "-i", "1x0x5x5"], ["zero-size"]),
    (["conv2d", "--in", "3", "--out", "8", "-k", "3", "-i", "1x-3x5x5"], ["negative"]),
    (["conv2d", "--in", "3", "--out", "8", "-k", "3", "-i", ""], ["empty"]),
    (["conv2d", "--in", "3", "--out", "8", "-k", "3", "-i", "8x8"], ["3-D or 4-D", "got 2-D"]),
    (["conv2d", "--in", "3", "--out", "8", "-k", "3", "-i", "1x4x8x8"], ["4 channels", "in_channels=3"]),
    (["conv2", "--in", "3"], ["unknown layer", "did you mean 'conv2d'"]),
    (["conv2d", "--in", "3", "--out", "8", "-k", "3", "--frobnicate"], ["--frobnicate"]),
    (["conv2d", "--in", "three", "--out", "8", "-k", "3"], ["--in-channels", "'three'"]),
    (["conv2d", "--in", "3", "--out", "8", "-k", "1.5"], ["'1.5'", "whole number"]),
    (["conv2d", "--out", "8", "-k", "3"], ["--in", "in_channels", "--input"]),
    (["conv2d", "--in", "3", "--out", "8", "-k", "3", "--padding-mode", "mirror"], ["zeros, reflect"]),
    (["conv2d", "--in", "3", "--out", "8", "-k", "3", "--dtype", "float128", "-i", "1x3x8x8"], ["float128"]),
    (["conv2d", "--in", "3", "--out", "8", "-k", "3", "--stride"], ["--stride"]),
    (["maxpool2d", "-k", "3", "-p", "2", "-i", "1x3x8x8"], ["at most half", "padding<=1"]),
    (["avgpool2d", "-k", "2", "--divisor-override", "0"], ["divisor_override=0"]),
    (["upsample", "-i", "1x3x8x8"], ["size", "scale_factor"]),
    (["upsample", "--scale-factor", "2", "--mode", "bilinear", "-i", "1x3x8"], ["bilinear", "4-D"]),
    (["linear", "--in", "400", "--out", "10", "-i", "1x16x5x5"], ["400", "flatten first"]),
    (["batchnorm2d", "--num-features", "3", "-i", "1x4x8x8"], ["4 channels", "num_features=3"]),
    (["groupnorm", "--num-groups", "3", "-i", "1x4x8x8"], ["num_groups=3", "{1, 2, 4}"]),
    (["maxunpool2d", "-k", "2", "-i", "1x3x4x4", "--output-size", "12x12"], ["from 7 to 9"]),
    (["pixelshuffle", "--upscale-factor", "3", "-i", "1x8x4x4"], ["divisible"]),
    (["softmax", "--dim", "4", "-i", "1x2x3"], ["dim=4", "-3 to 2"]),
    (["dropout", "--p", "1.5"], ["1.5"]),
    (["maxpool2d", "-k", "2", "--ceil-mode", "maybe"], ["maybe"]),
]


@pytest.mark.parametrize("argv,words", BAD_INPUTS)
def test_bad_input_is_one_clear_line_and_exit_2(cli, argv, words):
    cli(*argv).assert_one_error_line(words)


@pytest.mark.parametrize("argv,words", BAD_INPUTS[:4] + BAD_INPUTS[11:14])
def test_console_script_bad_input_has_no_traceback(console_script, argv, words):
    result = console_script(*argv)
    assert result.code == 2 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and words[0] in result.stderr


def test_console_script_pipes_plain_text(console_script):
    result = console_script("conv2d", "--in", "3", "--out", "8", "-k", "5", "-i", "1x3x32x32")
    assert result.code == 0 and "\x1b[" not in result.stdout and "[1, 8, 28, 28]" in result.stdout


def test_console_script_honours_no_color_on_a_forced_terminal(console_script):
    forced = console_script("conv2d", "--in", "3", "--out", "8", "-k", "5", env={"FORCE_COLOR": "1"})
    plain = console_script("conv2d", "--in", "3", "--out", "8", "-k", "5",
                           env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    colour = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-8]|9[0-7])[m;]")  # foreground colours
    assert colour.search(forced.stdout)
    assert not colour.search(plain.stdout)  # bold and italic may stay


def test_huge_channel_counts_answer_at_once(cli):
    # Error messages list divisors; enumerating them must not take time linear in the count.
    result = cli("conv2d", "--in", "4", "--out", "200000000001", "-k", "3", "-g", "3")
    assert result.code == 2 and "groups=3 must divide" in result.stderr


def test_no_color_means_no_escape_codes_at_all(console_script):
    result = console_script("conv2d", "--in", "3", "--out", "8", "-k", "5", env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert result.code == 0 and "\x1b[" not in result.stdout and "[8, 3, 5, 5]" in result.stdout


def test_help_keeps_brackets_that_look_like_markup(cli):
    assert "clamped to [min_val, max_val]" in cli("--help").stdout.replace("\n", " ").replace("│", "")
    assert "[min_val, max_val]" in cli("layers").stdout


def test_optional_bool_options_are_flags(cli):
    data = json.loads(cli("upsample", "--scale-factor", "2", "--mode", "bilinear", "--align-corners",
                          "-i", "1x3x7x7", "--json").stdout)
    assert data["output_shape"] == [1, 3, 14, 14]


def test_integral_float_arguments_print_as_torch_does(cli):
    assert "norm_type=2," in json.loads(cli("lppool2d", "--norm-type", "2", "-k", "2", "--json").stdout)["layer"]


@pytest.mark.parametrize("argv,words", [
    (["maxpool2d", "-k", "3", "-p", "same"], ["numbers only"]),
    (["conv2d", "--in", "3", "--out", "8", "-k", "3", "-p", "sane"], ["same or valid"]),
    (["conv2d", "--in", "3", "--out", "8", "-k", "3", "-i", "[1, 3, 8, 8"], ["unclosed bracket"]),
    (["conv2d", "--in", "99999999999999999999", "--out", "8", "-k", "3"], ["64-bit"]),
    (["batchnorm2d", "-i", "1x3x4"], ["4-D", "got 3-D"]),
    (["net", "tests/data/lenet_lines.txt", "--depth", "abc"], ["--depth", "whole number"]),
])
def test_messages_fit_the_option(cli, argv, words):
    result = cli(*argv)
    assert result.code == 2 and all(word in result.stderr for word in words), result.stderr


def test_capital_x_in_shapes(cli):
    assert json.loads(cli("conv2d", "--out", "8", "-k", "3", "-i", "1X3X8X8", "--json").stdout)["output_shape"] == [1, 8, 6, 6]


def test_piped_output_without_columns_is_not_cut_to_80():
    """A pipe is not a screen: without COLUMNS, wide explanations keep every digit."""
    env = {key: value for key, value in os.environ.items() if key != "COLUMNS"}
    proc = subprocess.run(
        [sys.executable, "-m", "convcalc", "explain", "conv2d", "--out", "2", "-k", "7",
         "-i", "1x8x9x9", "--fill", "normal"],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "…" not in proc.stdout
    assert max(map(len, proc.stdout.splitlines())) > 160  # the width the tables need


# -- one way from words to a layer: the commands agree ---------------------------------------------


def test_show_takes_positional_channels(cli):
    """`show conv2d 3 8 3` gives out_channels by position; the one-channel default must not clash."""
    result = cli("show", "conv2d", "3", "8", "3", "-i", "5x5")
    assert result.code == 0, result.stderr
    assert "given twice" not in result.stderr and "input 5×5 → output 3×3" in result.stdout


@pytest.mark.parametrize("command", [(), ("explain",)])
@pytest.mark.parametrize("value, bias", [("false", False), ("no", False), ("true", True)])
def test_a_flag_with_a_value_reads_the_same_everywhere(cli, command, value, bias):
    """--bias=false is --no-bias for a layer command as for explain and a spec line."""
    result = cli(*command, "conv2d", "--out", "2", "-k", "3", f"--bias={value}", "-i", "1x1x4x4", "--json")
    assert result.code == 0, result.stderr
    assert ("bias=False" in json.loads(result.stdout)["layer"]) == (not bias)


@pytest.mark.parametrize("command", [(), ("explain",)])
def test_a_flag_with_a_bad_value_is_refused(cli, command):
    cli(*command, "conv2d", "--out", "2", "-k", "3", "--bias=maybe", "-i", "1x1x4x4").assert_one_error_line(
        ["--bias", "maybe", "true or false"]
    )


@pytest.mark.parametrize("command", [("conv2d", "--out", "2", "-k", "3", "-i", "1x1x4x4", "--run"),
                                     ("explain", "conv2d", "--out", "2", "-k", "3", "-i", "1x1x4x4")])
def test_seed_is_read_the_same_everywhere(cli, command):
    cli(*command, "--seed", "3x5").assert_one_error_line(["--seed", "3x5"])


def test_explain_keeps_the_memory_limit(cli):
    """explain runs the forward pass under --max-memory, 4GiB by default, like every other run."""
    # The estimate is an upper bound of the run's peak (input, output, kernel scratch, rendering):
    # past the 11.9 GiB that the input and output alone take here.
    result = cli("explain", "conv2d", "--out", "1", "-k", "1", "-i", "1x1x40000x40000")
    result.assert_one_error_line(["GiB, more than --max-memory 4.0 GiB"])
    assert float(result.stderr.split("needs about ")[1].split(" GiB")[0]) > 11.9
    cli("explain", "conv2d", "--out", "1", "-k", "1", "-i", "1x1x64x64", "--max-memory", "1KiB").assert_one_error_line(
        ["KiB, more than --max-memory 1.0 KiB"]
    )


@pytest.mark.parametrize("line", [("--out", "8", "--out", "16"), ("--out", "8", "--out-channels=16"),
                                  ("--out", "8", "out_channels=16")])
def test_an_argument_given_twice_is_refused_everywhere(cli, tmp_path, line):
    """The layer command refused nothing (Click kept the last --out); a spec line refuses it."""
    words = ("conv2d", "--in", "3", "-k", "3", *line)
    if "out_channels=16" not in line:
        cli(*words).assert_one_error_line(["out_channels is given twice"])
    spec = tmp_path / "net.txt"
    spec.write_text(" ".join(words) + "\n")
    cli("net", str(spec)).assert_one_error_line(["out_channels is given twice"])


def test_an_unknown_option_reads_the_same_everywhere(cli, tmp_path):
    cli("conv2d", "--in", "3", "--out", "8", "-k", "3", "--kernal", "3").assert_one_error_line(
        ["conv2d has no option --kernal", "--kernel-size"]
    )
    spec = tmp_path / "net.txt"
    spec.write_text("conv2d --in 3 --out 8 -k 3 --kernal 3\n")
    cli("net", str(spec)).assert_one_error_line(["conv2d has no option --kernal", "--kernel-size"])


def test_layer_commands_take_the_spellings_a_spec_line_takes(cli):
    plain = cli("conv2d", "--in", "3", "--out", "8", "-k", "3", "-p", "1", "--no-bias", "--json")
    for words in (("--in_channels", "3", "--out_channels", "8", "--kernel_size", "3", "--padding=1", "--bias=false"),
                  ("--in", "3", "--out", "8", "-k3", "-p1", "--bias=0")):
        result = cli("conv2d", *words, "--json")
        assert result.code == 0 and result.stdout == plain.stdout, result.stderr


def test_an_option_value_given_twice_is_refused(cli):
    """Click kept the last --input; a repeated flag stays harmless."""
    cli("conv2d", "--in", "3", "--out", "8", "-k", "3", "-i", "1x3x8x8", "--input", "1x3x9x9").assert_one_error_line(
        ["--input is given twice"]
    )
    result = cli("conv2d", "--in", "3", "--out", "8", "-k", "3", "--json", "--json")
    assert result.code == 0 and json.loads(result.stdout)["params"] == 224


def test_option_values_are_not_read_as_layer_options(cli):
    """A value that looks like a layer option (--fill -k) stays the other option's value."""
    cli("conv2d", "--in", "3", "--out", "8", "-k", "3", "-i", "1x3x8x8", "--fill", "-k").assert_one_error_line(
        ["fill '-k' is not one of"]
    )


@pytest.mark.parametrize("argv", [
    ["layers"],
    ["explain", "conv2d", "--in", "2", "--out", "4", "-k", "3", "-i", "1x2x6x6"],
    ["conv2d", "--in", "3", "--out", "8", "-k", "5", "--input", "1x3x32x32"],
])
def test_piped_rich_output_has_no_trailing_spaces(cli, argv):
    """Reproducer: piped, `layers` padded 105 of its 113 lines with spaces to 160 columns."""
    result = cli(*argv)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) > 3 and [line for line in lines if line != line.rstrip()] == []


@pytest.mark.parametrize("argv, words", [
    (["explain", "conv2d", "--out", "4", "-k", "3", "-i", "1x2x8x8", "--jsno"],
     ["explain conv2d: no option --jsno, neither explain's nor conv2d's; did you mean --json"]),
    (["explain", "conv2d", "--out", "4", "-k", "3", "-i", "1x2x8x8", "--precison", "3"], ["did you mean --precision"]),
    (["show", "conv2d", "--in", "1", "--out", "1", "-k", "3", "-i", "5x5", "--frame", "2"],
     ["show conv2d: no option --frame", "did you mean --frames"]),
])
def test_a_typo_in_explain_or_shows_own_options_is_not_reported_as_the_layers(cli, argv, words):
    """Reproducer: `--jsno` was 'line 1, column 21: ... conv2d has no option --jsno; did you mean --in?'."""
    result = cli(*argv)
    result.assert_one_error_line(words)
    assert "line 1" not in result.stderr


@pytest.mark.parametrize("argv, line", [
    (["net", "--jsno"], "convcalc: error: net has no option --jsno; did you mean --json?"),
    (["net", "--zzzzzz"], "convcalc: error: net has no option --zzzzzz; `convcalc net --help` lists them"),
    (["conv2d", "3", "8", "3", "-i", "1x3x8x8"],
     "convcalc: error: conv2d takes no more arguments, got 3 8 3: its settings are options (`convcalc conv2d --help`)"),
    (["conv2d", "--in", "3", "--out", "8", "-k", "3", "-i", "1x3x8"],
     "convcalc: error: Conv2d: input [1, 3, 8]: has 1 channel at dim 0 (read as one sample without its batch dim, C×spatial) but in_channels=3; set in_channels=1 or feed "
     "3 channels (a channels-last tensor needs permuting first)"),
])
def test_usage_errors_speak_as_the_layer_commands_do(console_script, argv, line):
    """Reproducers: Click's 'No such option: --jsno (Possible options: --json)' and bare 'Got
    unexpected extra argument(s) (3 8 3)', and 'has 1 channels'."""
    result = console_script(*argv)
    assert (result.code, result.stdout, result.stderr.splitlines()) == (2, "", [line])


def test_usage_errors_at_the_top_level_and_with_parentheses(console_script):
    result = console_script("--bogus")
    assert result.stderr.splitlines() == ["convcalc: error: convcalc has no option --bogus; `convcalc --help` lists them"]
    result = console_script("conv2d", "nn.Conv2d(3,8,3)")
    assert result.stderr.splitlines() == [
        "convcalc: error: conv2d takes no more arguments, got nn.Conv2d(3,8,3): its settings are options "
        "(`convcalc conv2d --help`)"]


def test_a_torch_class_convcalc_does_not_model_says_why_as_a_command(cli):
    """Reproducer from a newcomer: `convcalc lstm` said only "unknown layer or command", where a
    spec says why (a recurrent layer); a JSON spec's "out" now points at out_channels."""
    cli("lstm").assert_one_error_line(["unknown layer or command 'lstm'", "LSTM is a torch.nn class convcalc does not model",
                                       "a recurrent layer"])
    import convcalc

    with pytest.raises(convcalc.ConvcalcError, match=r"no argument 'out'; did you mean out_channels \(--out on the command line\)"):
        convcalc.parse_network('{"input": [1, 3, 8, 8], "layers": [{"type": "conv2d", "out": 4, "kernel_size": 3}]}')
