"""``convcalc net`` through the real entry point: formats, standard input, and bad specs."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from convcalc.network import parse_network
from convcalc.render.report import render_network

DATA = Path(__file__).parent / "data"
LENET = DATA / "lenet_lines.txt"
SNAPSHOTS = Path(__file__).parent / "snapshots"


def test_plain_table_and_totals(cli):
    result = cli("net", str(LENET))
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["name", "type", "input", "output", "weight", "params", "MACs", "memory",
                                "receptive", "field"]
    assert "input [1, 1, 32, 32] → output [1, 10]" in result.stdout
    assert "61,706" in result.stdout  # LeNet-5's parameters
    assert result.stderr == ""


def test_json_has_the_contract_keys(cli):
    data = json.loads(cli("net", str(LENET), "--json").stdout)
    assert data["input_shape"] == [1, 1, 32, 32] and data["output_shape"] == [1, 10]
    first = data["layers"][0]
    assert {k: first[k] for k in ("name", "type", "input_shape", "output_shape", "param_shapes", "params")} == {
        "name": "0", "type": "Conv2d", "input_shape": [1, 1, 32, 32], "output_shape": [1, 6, 28, 28],
        "param_shapes": {"weight": [6, 1, 5, 5], "bias": [6]}, "params": 156,
    }
    assert first["macs"] == 6 * 28 * 28 * 25 and first["flops"] == 2 * first["macs"] + 6 * 28 * 28
    assert data["totals"]["params"] == data["totals"]["trainable_params"] == 61706
    assert data["totals"]["macs"] == sum(layer["macs"] for layer in data["layers"])


def test_standard_input_and_dash(console_script):
    text = LENET.read_text()
    for argv in (["net"], ["net", "-"]):
        result = console_script(*argv, "--json", stdin=text)
        assert result.code == 0, result.stderr
        assert json.loads(result.stdout)["output_shape"] == [1, 10]


def test_input_option_overrides_the_spec(cli):
    data = json.loads(cli("net", str(LENET), "--input", "4x1x32x32", "--json").stdout)
    assert data["input_shape"] == [4, 1, 32, 32] and data["output_shape"] == [4, 10]


def test_csv_has_exact_numbers_and_a_total_row(cli):
    rows = list(csv.DictReader(io.StringIO(cli("net", str(LENET), "--csv").stdout)))
    assert rows[0]["macs"] == "117600" and rows[-1]["name"] == "total" and rows[-1]["params"] == "61706"


def test_markdown_table(cli):
    out = cli("net", str(LENET), "--markdown").stdout
    assert out.startswith("| name | type |") and "|---|---|" in out and "- params: 61,706" in out


def test_depth_folds_containers(cli, tmp_path):
    spec = tmp_path / "blocks.txt"
    spec.write_text("input 1x8x16x16\nsequential { conv2d --out 8 -k 3 -p 1; relu }\nsequential { conv2d --out 8 -k 3 -p 1; relu }\n")
    full = json.loads(cli("net", str(spec), "--json").stdout)
    folded = json.loads(cli("net", str(spec), "--json", "--depth", "1").stdout)
    assert [row["name"] for row in full["layers"]] == ["0.0", "0.1", "1.0", "1.1"]
    assert [row["name"] for row in folded["layers"]] == ["0", "1"]
    assert folded["totals"] == full["totals"]


def test_linear_after_pooling_gets_an_implicit_flatten(cli, tmp_path):
    spec = tmp_path / "head.txt"
    spec.write_text("input 1x16x5x5\nLinear(400, 10)\n")
    data = json.loads(cli("net", str(spec), "--json").stdout)
    assert [row["type"] for row in data["layers"]] == ["flatten", "Linear"]
    assert data["output_shape"] == [1, 10] and any("flatten" in a["assumption"] for a in data["assumptions"])


def test_rich_table_snapshot():
    summary = parse_network(LENET.read_text()).summary()
    console = Console(width=120, record=True, file=io.StringIO(), color_system=None)
    console.print(render_network(summary))
    text = console.export_text()
    path = SNAPSHOTS / "net_lenet_rich.txt"
    if os.environ.get("CONVCALC_UPDATE_SNAPSHOTS"):
        path.write_text(text)
    assert text == path.read_text()


BAD_SPECS = [
    # (spec text, words the one-line message must contain)
    ("", ["empty"]),
    ("input 1x3x8x8\nconv2d --out 4 -k 3\nfrobnicate2d -k 3\n", ["line 3", "frobnicate2d"]),
    ("input 1x3x8x8\nConv2d(4, 8, 3)\n", ["line 2", "Conv2d", "[1, 3, 8, 8]"]),
    ("input 1x16x5x5\nLinear(300, 10)\n", ["Linear", "300", "[1, 16, 5, 5]", "flatten"]),
    ("input 1x3x4x4\nconv2d --out 4 -k 7\n", ["line 2", "kernel"]),
    ("input 1x3x8x8\nConv2d(3, 8, 3\n", ["line 2"]),
    ("input 1x3x8x8\n" + "(" * 500 + "\n", ["line 2"]),
    ("input 1x3x8x8\nconv2d --out 4 -k 3 --frob 2\n", ["--frob"]),
    # forward arguments in JSON arrive as any JSON value: a float or nested size is refused, not a bug
    ('{"input": [1, 3, 8, 8], "layers": [{"type": "ConvTranspose2d", "in_channels": 3, "out_channels": 4, '
     '"kernel_size": 3, "stride": 2, "forward": {"output_size": [16.5, 16]}}]}',
     ["ConvTranspose2d", "output_size must hold whole numbers", "16.5"]),
    ('{"input": [1, 3, 8, 8], "layers": [{"type": "MaxUnpool2d", "kernel_size": 2, '
     '"forward": {"output_size": [[16]]}}]}', ["MaxUnpool2d", "output_size must hold whole numbers"]),
]


@pytest.mark.parametrize("spec,words", BAD_SPECS)
def test_bad_spec_is_one_line_and_exit_2(cli, tmp_path, spec, words):
    path = tmp_path / "bad.txt"
    path.write_text(spec)
    cli("net", str(path)).assert_one_error_line(words)


def test_an_unpool_of_stride_0_has_no_receptive_field(cli, tmp_path):
    """torch lets a 2-d unpool have stride 0 (every input on one window): no grid to map back."""
    path = tmp_path / "unpool.json"
    path.write_text('[{"type": "MaxUnpool2d", "kernel_size": 4, "stride": 0}]')
    result = cli("net", str(path), "--input", "1x4x8", "--json")
    assert result.code == 0, result.stderr
    layer = json.loads(result.stdout)["layers"][0]
    assert layer["output_shape"] == [1, 4, 4] and layer["receptive_field"] is None


def test_binary_garbage_and_huge_specs(cli, tmp_path):
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(bytes(range(256)) * 64)
    huge = tmp_path / "huge.txt"
    huge.write_text("relu\n" * 2_200_000)  # 11 MB, over the 10 MB limit
    for path in (garbage, huge):
        result = cli("net", str(path))
        assert result.code == 2 and result.stderr.startswith("convcalc: error: ") and result.stdout == ""


@pytest.mark.parametrize("path", ["/nonexistent/model.txt", "."])
def test_unreadable_file(cli, path):
    result = cli("net", path)
    assert result.code == 2 and "cannot read" in result.stderr


def test_one_output_format_at_a_time(cli):
    result = cli("net", str(LENET), "--json", "--csv")
    assert result.code == 2 and "choose one" in result.stderr


BASIC_BLOCK = DATA / "basic_block.txt"  # torchvision's block, as print(model) shows it


@pytest.mark.parametrize("form", ["--csv", "--markdown"])
def test_run_statistics_in_csv_and_markdown_keep_each_call(cli, form):
    """The block's relu runs twice: two rows, relu and relu#2, each with its own statistics."""
    result = cli("net", str(BASIC_BLOCK), "-i", "1x8x6x6", "--run", form)
    assert result.code == 0, result.stderr
    if form == "--csv":
        rows = {row["name"]: row for row in csv.DictReader(io.StringIO(result.stdout))}
        assert {"min", "max", "mean", "std"} <= set(rows["relu"])
        assert float(rows["relu"]["min"]) == 0.0 and rows["relu"]["max"] != rows["relu#2"]["max"]
    else:
        assert "| min | max | mean | std |" in result.stdout
        assert "`relu`" in result.stdout and "`relu#2`" in result.stdout


def test_net_run_stays_under_its_memory_estimate(cli, tmp_path):
    """The estimate behind --max-memory bounds net --run's real peak: every kept activation, the
    state and the largest step's scratch (measured with tracemalloc on a model with a residual,
    a concatenation and a squeeze-excitation gate)."""
    import tracemalloc

    import convcalc
    from convcalc.network.execute import run_network_bytes, state_dict_shapes

    text = (Path(__file__).parent / "data" / "torchvision" / "mobilenet_v3_small.txt").read_text()
    spec = tmp_path / "net.txt"
    spec.write_text(text)
    shape = (1, 3, 96, 96)
    network = convcalc.parse_network(text)
    trace = network.trace(shape)
    estimate = run_network_bytes(trace, shape, state_dict_shapes(trace),
                                 network.summary(shape).totals.activation_bytes, np.dtype("float32"))
    cli("net", str(spec), "-i", "1x3x96x96", "--run", "--csv")  # imports and caches are not the run's
    tracemalloc.start()
    result = cli("net", str(spec), "-i", "1x3x96x96", "--run", "--csv")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert result.code == 0, result.stderr
    assert peak < estimate, (peak, estimate)
    refused = cli("net", str(spec), "-i", "1x3x96x96", "--run", "--max-memory", f"{estimate // 2}")
    refused.assert_one_error_line(["needs about", "more than --max-memory"])


def test_the_warning_names_the_class_of_every_assumption_it_does_not_spell_out(cli, tmp_path):
    """smp's heads print Upsample without align_corners=True: that assumption was the fourth and
    the warning said only "and 1 more" (--run's values 0.0055 off, unseen without --json)."""
    spec = tmp_path / "net.txt"
    spec.write_text("Net(\n  (a): BlockA(\n    (conv): Conv2d(1, 1, kernel_size=(1, 1), stride=(1, 1))\n  )\n"
                    "  (b): BlockB(\n    (conv): Conv2d(1, 1, kernel_size=(1, 1), stride=(1, 1))\n  )\n"
                    "  (up): Upsample(scale_factor=2.0, mode='bilinear')\n)\n")
    result = cli("net", str(spec), "-i", "1x1x4x4", "--run")
    assert result.code == 0, result.stderr
    warning = [line for line in result.stderr.splitlines() if line.startswith("convcalc: warning: assumed")]
    assert len(warning) == 1 and "; and 1 more, about Upsample (--json lists them)" in warning[0]


def test_recipes_from_several_files_all_apply(cli, tmp_path):
    """`--recipes A --recipes B` used B's alone, silently: BlockA then ran as a chain, named."""
    spec = tmp_path / "net.txt"
    spec.write_text("Net(\n  (a): BlockA(\n    (conv): Conv2d(4, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n  )\n"
                    "  (b): BlockB(\n    (conv): Conv2d(4, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n  )\n)\n")
    for name in ("A", "B"):
        (tmp_path / f"{name}.recipe").write_text(f"class Block{name}:\n    def forward(self, x):\n        return self.conv(x) + x\n")
    result = cli("net", str(spec), "-i", "1x4x8x8", "--json", "--recipes", str(tmp_path / "A.recipe"),
                 "--recipes", str(tmp_path / "B.recipe"))
    assert result.code == 0, result.stderr
    assumed = {a["class"] for a in json.loads(result.stdout)["assumptions"]}
    assert "BlockA" not in assumed and "BlockB" not in assumed
