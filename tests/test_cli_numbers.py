"""--units, --totals, --batch, several --input and --count on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
LENET = str(DATA / "lenet_lines.txt")
RESNET18 = str(DATA / "torchvision" / "resnet18.txt")
CONV = ["conv2d", "--in", "3", "--out", "64", "-k", "7", "-s", "2", "-p", "3", "--no-bias"]


def _value(stdout: str, label: str) -> str:
    for line in stdout.splitlines():
        if line.startswith(label + "  "):
            return line[len(label):].strip()
    raise AssertionError(f"no {label!r} line in {stdout!r}")


def test_net_totals_read_exact_and_human_side_by_side(cli):
    result = cli("net", RESNET18, "-i", "1x3x224x224")
    assert result.code == 0, result.stderr
    assert _value(result.stdout, "MACs") == "1,814,073,344 (1.81 G)"
    assert _value(result.stdout, "params") == "11,689,512 (11.7 M)"
    assert _value(result.stdout, "params memory") == "46,758,048 B (44.6 MiB)"  # the JSON's param_bytes
    assert _value(result.stdout, "buffers memory") == "38,480 B (37.6 KiB)"


@pytest.mark.parametrize("units, macs, memory", [
    ("exact", "1,814,073,344", "46,758,048 B"),
    ("human", "1.81 G", "44.6 MiB"),
    ("both", "1,814,073,344 (1.81 G)", "46,758,048 B (44.6 MiB)"),
])
def test_units(cli, units, macs, memory):
    result = cli("net", RESNET18, "-i", "1x3x224x224", "--totals", "--units", units)
    assert result.code == 0, result.stderr
    assert _value(result.stdout, "MACs") == macs and _value(result.stdout, "params memory") == memory


def test_units_human_shortens_the_table_cells(cli):
    lines = cli("net", LENET, "--units", "human").stdout.splitlines()
    assert lines[2].startswith("0 ") and " 118 k  18.4 KiB " in lines[2]  # MACs 117,600
    exact = cli("net", LENET, "--units", "exact").stdout.splitlines()[2].split()
    assert "117,600" in exact and "18,816" in exact  # the memory column in bytes


def test_totals_only(cli):
    result = cli("net", LENET, "--totals")
    assert result.code == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == "input [1, 1, 32, 32] → output [1, 10]"
    assert [line.split("  ")[0] for line in lines[1:]] == [
        "params", "buffers", "MACs", "FLOPs", "input size (float32)", "activations", "params memory",
        "buffers memory", "peak inference memory"]


def test_totals_json_is_the_full_jsons_totals(cli):
    full = json.loads(cli("net", LENET, "--json").stdout)
    data = json.loads(cli("net", LENET, "--json", "--totals").stdout)
    assert sorted(data) == ["count", "dtype", "input_shape", "output_shape", "totals"]
    assert data["totals"] == full["totals"] and data["input_shape"] == full["input_shape"] == [1, 1, 32, 32]
    assert full["count"] == data["count"] == "convcalc"


def test_single_layer_units_and_count(cli):
    human = cli(*CONV, "-i", "1x3x224x224", "--units", "human")
    assert human.code == 0, human.stderr
    assert "│ MACs    118 M " in human.stdout and "│ params  9.41 k " in human.stdout
    both = cli(*CONV, "-i", "1x3x224x224")
    assert "118,013,952 (118 M)" in both.stdout and "3,211,264 B (3.1 MiB) output" in both.stdout
    data = json.loads(cli("conv2d", "--in", "3", "--out", "8", "-k", "3", "-i", "1x3x8x8", "--count", "torchinfo",
                          "--json").stdout)
    assert data["macs"] == (8 * 27 + 8) * 36 and data["count"] == "torchinfo"  # weight and bias per position
    assert data["flops"] == 2 * 8 * 27 * 36 + 8 * 36  # FLOPs stay convcalc's
    text = cli("linear", "--in", "4", "--out", "2", "-i", "3x5x4", "--count", "torchinfo").stdout
    assert "MACs (torchinfo)  30" in text  # (8 + 2) · 3: the first dim only


def test_net_count(cli):
    counts = {}
    for count in ("convcalc", "torchinfo", "fvcore"):
        data = json.loads(cli("net", RESNET18, "-i", "1x3x224x224", "--count", count, "--json").stdout)
        assert data["count"] == count and data["totals"]["macs"] == sum(row["macs"] for row in data["layers"])
        counts[count] = data["totals"]["macs"]
    assert counts == {"convcalc": 1_814_073_344, "torchinfo": 1_814_083_944, "fvcore": 1_819_065_856}
    assert "MACs (fvcore)  " in cli("net", RESNET18, "-i", "1x3x224x224", "--count", "fvcore").stdout


def test_batch(cli):
    data = json.loads(cli("net", LENET, "--batch", "8", "--json").stdout)
    one = json.loads(cli("net", LENET, "--json").stdout)
    assert data["input_shape"] == [8, 1, 32, 32] and data["output_shape"] == [8, 10]
    assert data["totals"]["macs"] == 8 * one["totals"]["macs"]
    layer = json.loads(cli(*CONV, "-i", "1x3x224x224", "--batch", "4", "--json").stdout)
    assert layer["input_shape"] == [4, 3, 224, 224] and layer["output_shape"] == [4, 64, 112, 112]
    mha = json.loads(cli("multiheadattention", "--embed-dim", "8", "--num-heads", "2", "-i", "5x1x8",
                         "--batch", "3", "--json").stdout)
    assert mha["input_shape"] == [5, 3, 8]  # (L, N, E): the batch is the second dim


def test_batch_given_with_the_same_batch_is_accepted(cli):
    result = cli(*CONV, "-i", "4x3x224x224", "--batch", "4", "--json")
    assert result.code == 0 and json.loads(result.stdout)["input_shape"] == [4, 3, 224, 224]


@pytest.mark.parametrize("argv, words", [
    ([*CONV, "-i", "1x3x9x9", "--units", "si"], ["--units 'si' is not one of: both, exact, human"]),
    ([*CONV, "-i", "1x3x9x9", "--count", "thop"], ["--count 'thop' is not one of: convcalc, torchinfo, fvcore"]),
    (["net", LENET, "--count", "ptflops"], ["--count 'ptflops'"]),
    (["net", LENET, "--units", "SI"], ["--units 'SI'"]),
    ([*CONV, "-i", "1x3x9x9", "--batch", "0"], ["--batch '0' must be at least 1"]),
    ([*CONV, "-i", "1x3x9x9", "--batch", "two"], ["--batch"]),
    ([*CONV, "--batch", "2"], ["--batch sets the batch dim of --input; give --input SHAPE too"]),
    ([*CONV, "-i", "3x9x9", "--batch", "2"], ["the input [3, 9, 9] has no batch dim for Conv2d", "--input 2x3x9x9"]),
    ([*CONV, "-i", "4x3x9x9", "--batch", "2"], ["--batch 2 conflicts with the batch of 4", "--input 1x3x9x9 --batch 2"]),
    (["net", LENET, "--batch", "-1"], ["--batch '-1' must be at least 1"]),
    (["net", LENET, "-i", "2x1x32x32", "--batch", "3"], ["--batch 3 conflicts with the batch of 2"]),
    (["linear", "--in", "4", "--out", "2", "-i", "4", "--batch", "3"], ["the input [4] has no batch dim for Linear"]),
    (["net", LENET, "-i", "1x1x32x32", "-i", "1x1x64x64", "--run"], ["--run takes one input, and 2 --input sizes"]),
    (["net", LENET, "-i", "1x1x32x32", "-i", "1x1x64x64", "--train"], ["--train takes one input, and 2 --input sizes"]),
    (["net", LENET, "--train", "--totals"], ["--totals shows the inference totals; drop it for --train"]),
    (["net", LENET, "-i", "1x1x32x32", "-i", "1x1x64x64", "--csv"], ["--csv takes one input size, and 2 were given"]),
    (["net", LENET, "--totals", "--csv"], ["--totals prints the totals as text or --json, not as --csv"]),
    (["net", LENET, "--totals", "--run"], ["--totals prints the totals alone", "drop --totals or --run"]),
    (["net", LENET, "--totals", "--seed", "3"], ["--totals prints the totals alone", "drop --totals or --run"]),
    (["net", LENET, "--totals", "--wide"], ["--wide widens the per-layer table", "drop --wide or --totals"]),
    (["net", LENET, "--wide", "--json"], ["--json writes none", "drop --wide or --json"]),
    (["net", LENET, "--wide", "--csv"], ["--csv writes none", "drop --wide or --csv"]),
    (["net", LENET, "--wide", "--markdown"], ["--markdown writes none", "drop --wide or --markdown"]),
    (["net", LENET, "-i", "1x1x32x32", "-i", "1x1x64x64", "--wide"], ["drop --wide or several --input"]),
])
def test_bad_values_are_one_line_and_exit_2(cli, argv, words):
    cli(*argv).assert_one_error_line(words)


def test_batch_needs_an_input_shape(cli, tmp_path):
    spec = tmp_path / "net.txt"
    spec.write_text("conv2d --in 3 --out 8 -k 3\n")
    cli("net", str(spec), "--batch", "2").assert_one_error_line(["no input shape is known"])


def test_several_inputs_give_a_column_set_each(cli):
    result = cli("net", RESNET18, "-i", "1x3x224x224", "-i", "1x3x320x320", "--depth", "1")
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "input [1, 3, 224, 224]" in lines[0] and "input [1, 3, 320, 320]" in lines[0]
    assert lines[1].split() == ["name", "type", "params", *["output", "MACs", "memory"] * 2]
    conv1 = next(line for line in lines if line.startswith("conv1 "))
    assert "118,013,952" in conv1 and "240,844,800" in conv1 and "[1, 64, 160, 160]" in conv1
    macs = next(line for line in lines if line.startswith("MACs "))
    assert macs.split("  ")[-1].strip() == "3,701,657,600 (3.70 G)" and "1,814,073,344 (1.81 G)" in macs


def test_several_inputs_json_is_a_list_of_the_single_form(cli):
    data = json.loads(cli("net", LENET, "-i", "1x1x32x32", "-i", "4x1x32x32", "--json").stdout)
    single = json.loads(cli("net", LENET, "-i", "4x1x32x32", "--json").stdout)
    assert list(data) == ["inputs"] and len(data["inputs"]) == 2
    assert data["inputs"][1] == single
    totals = json.loads(cli("net", LENET, "-i", "1x1x32x32", "-i", "4x1x32x32", "--json", "--totals").stdout)
    assert [entry["totals"]["macs"] for entry in totals["inputs"]] == [416_520, 4 * 416_520]


def test_several_inputs_with_inferred_parameters_get_params_per_size(cli):
    # lenet's Linear infers its in_features from the input: 400 at 32x32, 2704 at 64x64.
    result = cli("net", LENET, "-i", "1x1x32x32", "-i", "1x1x64x64", "--totals", "--units", "exact")
    assert _value(result.stdout, "params").split() == ["61,706", "338,186"]
    table = cli("net", LENET, "-i", "1x1x32x32", "-i", "1x1x64x64").stdout.splitlines()
    assert table[1].split() == ["name", "type", *["params", "output", "MACs", "memory"] * 2]


@pytest.mark.parametrize("columns", [80, 120, 200])
def test_sizes_and_totals_fit_a_real_terminal(columns):
    from terminal import assert_unbroken, run_in_terminal

    resnet50 = str(DATA / "torchvision" / "resnet50.txt")
    result = run_in_terminal(["net", resnet50, "-i", "1x3x224x224", "-i", "1x3x320x320"], columns, lines=400)
    assert result.code == 0
    assert_unbroken(result.text, columns, names=["layer1.0.downsample.0", "AdaptiveAvgPool2d"])
    assert "8,343,142,400" in result.text or "8.34 G" in result.text  # the 320x320 MACs
    totals = run_in_terminal(["net", resnet50, "-i", "1x3x224x224", "--totals"], columns)
    assert totals.code == 0 and "4,089,184,256 (4.09 G)" in totals.text
    assert_unbroken(totals.text, columns)


@pytest.mark.parametrize("columns, macs", [(40, "4.09 G"), (60, "4,089,184,256 (4.09 G)")])
def test_totals_on_a_narrow_terminal_go_human_rather_than_cut(columns, macs):
    from terminal import assert_unbroken, run_in_terminal

    result = run_in_terminal(["net", str(DATA / "torchvision" / "resnet50.txt"), "-i", "1x3x224x224", "--totals"],
                             columns)
    assert result.code == 0
    assert_unbroken(result.text, columns)
    assert f"MACs                   {macs} " in result.text


@pytest.mark.parametrize("count, human", [
    (9_996, "10.0 k"), (99_960, "100 k"), (9_999_999, "10.0 M"), (999_499, "999 k"), (999_500, "1.00 M"),
    (999, "999"), (1_000, "1.00 k"), (-9_996, "-10.0 k"), (10**21, "1000 E"),
])
def test_human_count_rounds_to_three_digits_before_choosing_the_prefix(count, human):
    from convcalc.units import human_count

    assert human_count(count) == human


@pytest.mark.parametrize("count, human", [
    (1_048_575, "1.0 MiB"), (1_048_524, "1023.9 KiB"), (1_023, "1023 B"), (1_024, "1.0 KiB"),
    (1024**3 - 1, "1.0 GiB"),
])
def test_format_bytes_rounds_before_choosing_the_prefix(count, human):
    from convcalc.shapes import format_bytes

    assert format_bytes(count) == human


def test_input_file_without_input_keeps_units_and_count(cli, tmp_path):
    np = pytest.importorskip("numpy")
    np.save(tmp_path / "x.npy", np.ones((1, 3, 8, 8), dtype=np.float32))
    words = ["conv2d", "--out", "4", "-k", "3", "--input-file", str(tmp_path / "x.npy")]
    result = cli(*words, "--units", "human", "--count", "torchinfo")
    assert result.code == 0, result.stderr
    assert "MACs (torchinfo)  4.03 k" in result.stdout  # (4·27 + 4)·36, not convcalc's 3,888
    data = json.loads(cli(*words, "--count", "fvcore", "--json").stdout)
    assert data["count"] == "fvcore"


def test_choices_are_read_in_any_case_alike(cli):
    result = cli(*CONV, "-i", "1x3x224x224", "--units", "HUMAN", "--count", "FVCORE")
    assert result.code == 0, result.stderr
    assert "MACs (fvcore)  118 M" in result.stdout
    train = json.loads(cli("net", LENET, "--train", "--optimizer", "ADAM", "--units", "Exact", "--json").stdout)
    assert train["training"]["optimizer"] == "adam"


def test_bad_choices_raise_one_error_class():
    import convcalc
    from convcalc.errors import ParseError

    net = convcalc.parse_network("input 1x3x8x8\nconv2d --out 4 -k 3")
    for call in (lambda: net.summary(count="thop"), lambda: net.training_memory(optimizer="rmsprop")):
        with pytest.raises(ParseError, match="is not one of"):
            call()


@pytest.mark.parametrize("argv, words", [
    (["zeropad2d", "--padding", "1", "-i", "3x8x8"], ["no batch dim for ZeroPad2d", "--input 4x3x8x8"]),
    (["reflectionpad1d", "--padding", "1", "-i", "3x8"], ["no batch dim for ReflectionPad1d"]),
    (["dropout2d", "-i", "3x8x8"], ["Dropout2d", "(N, C, L)", "ambiguous", "4 dims"]),
    (["dropout1d", "-i", "4x8"], ["no batch dim for Dropout1d"]),
    (["dropout", "-i", "3x8x8"], ["Dropout", "acts on each element", "in --input"]),
    (["relu", "-i", "1x3x8x8"], ["ReLU", "acts on each element"]),
])
def test_batch_is_refused_where_the_layer_has_no_batch_dim_in_that_input(cli, argv, words):
    cli(*argv, "--batch", "4").assert_one_error_line(words)


def test_batch_on_padding_and_channel_dropout_sets_torchs_batch_dim(cli):
    pad = json.loads(cli("zeropad2d", "--padding", "1", "-i", "1x3x8x8", "--batch", "4", "--json").stdout)
    assert pad["input_shape"] == [4, 3, 8, 8] and pad["output_shape"] == [4, 3, 10, 10]
    drop = json.loads(cli("dropout2d", "-i", "1x3x8x8", "--batch", "4", "--json").stdout)
    assert drop["input_shape"] == [4, 3, 8, 8]


def test_batch_on_a_network_read_first_by_an_element_wise_layer(cli, tmp_path):
    spec = tmp_path / "net.txt"
    spec.write_text("input 3x8x8\nrelu\nconv2d --in 3 --out 4 -k 3\n")
    cli("net", str(spec), "--batch", "2").assert_one_error_line(["no batch dim for 1 (Conv2d)"])
    spec.write_text("input 1x3x8x8\nrelu\nconv2d --in 3 --out 4 -k 3\n")
    assert json.loads(cli("net", str(spec), "--batch", "2", "--json").stdout)["input_shape"] == [2, 3, 8, 8]


def test_layer_precision_help_says_digits_after_the_point(cli):
    result = cli("conv2d", "--help")
    assert result.code == 0
    help_text = " ".join(result.stdout.replace("│", " ").split())
    assert "--precision INT Digits after the decimal point of each value shown (not significant digits)" in help_text
