"""Network specs without torch: the four forms, blocks, rules, summaries and every bad input."""

from __future__ import annotations

import gc
import json
import time
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import convcalc
from convcalc.errors import ConfigError, ConvcalcError, ParseError, ShapeError
from convcalc.spec import LayerNode, ModuleNode, parse_spec
from convcalc.spec.limits import MAX_LAYERS
from strategies import examples


def summary(text: str, *args, **kwargs) -> convcalc.Summary:
    return convcalc.parse_network(text).summary(*args, **kwargs)


def layer_rows(text: str, *args, **kwargs) -> list:
    return [row for row in summary(text, *args, **kwargs).rows if row.kind == "layer"]


# -- the command-line form ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "conv2d --out 8 -k 3 -s 2 -p 1 --no-bias",
        "conv2d --out=8 --kernel-size=3 --stride 2 --padding 1 --bias=false",
        "conv2d --out-channels 8 -k3 -s2 -p1 --no-bias",
        "conv2d out_channels=8 kernel_size=3 stride=2 padding=1 bias=false",
        "conv2d --in 3 --out 8 -k 3x3 -s 2,2 -p 1 --no-bias",
        "conv2d 3 8 3 2 1 --no-bias",
        "Conv2d --out 8 -k 3 -s 2 -p 1 --no-bias",
        "nn.conv2d --out 8 -k '3' -s \"2\" -p 1 --no-bias",
    ],
)
def test_line_form_spellings(line):
    rows = layer_rows(f"input 1x3x16x16\n{line}")
    assert rows[0].layer == "Conv2d(3, 8, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), bias=False)"
    assert rows[0].output_shape == (1, 8, 8, 8)


def test_line_form_forward_arguments_and_padding_words():
    rows = layer_rows(
        "input 1x4x5x5\n"
        "convtranspose2d --out 2 -k 3 -s 2 --output-size 12x12\n"
        "conv2d --out 2 -k 3 -p same --padding-mode reflect\n"
        "flatten --start-dim 2 --end-dim -1"
    )
    assert [row.output_shape for row in rows] == [(1, 2, 12, 12), (1, 2, 12, 12), (1, 2, 144)]


def test_semicolons_comments_and_blank_lines():
    text = """
    # a comment line

    input 1x3x8x8   # trailing comment
    conv2d --out 4 -k 3; relu  ;  conv2d --out 4 -k 3 # and another
    """
    assert [row.name for row in layer_rows(text)] == ["0", "1", "2"]


def test_input_line_spellings_and_override():
    for line in ("input 1x3x8x8", "input: 1,3,8,8", "INPUT [1, 3, 8, 8]", "input = (1, 3, 8, 8)"):
        assert convcalc.parse_network(f"{line}\nconv2d --out 2 -k 3").input_shape == (1, 3, 8, 8)
    net = convcalc.parse_network("input 1x3x8x8\nconv2d --out 2 -k 3")
    assert net.summary("2x3x10x10").output_shape == (2, 2, 8, 8)
    assert net.summary((3, 10, 10)).output_shape == (2, 8, 8)


def test_named_statements():
    rows = layer_rows("input 1x3x8x8\n(stem): conv2d --out 4 -k 3\n(act): relu\nconv2d --out 4 -k 1")
    assert [row.name for row in rows] == ["stem", "act", "2"]


# -- the PyTorch form -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)",
        "nn.Conv2d(3, 64, 7, 2, 3, bias=False)",
        "torch.nn.Conv2d(in_channels=3, out_channels=64, kernel_size=[7, 7], stride=(2, 2), padding=(3, 3), bias=False)",
        "Conv2d(3, 64, kernel_size='7x7', stride=2, padding=3, bias=False, device='cpu', dtype=torch.float32)",
        "nn.Conv2d(out_channels=64, kernel_size=7, stride=2, padding=3, bias=False)",  # in_channels inferred
        "Conv2d(3, 64,\n       kernel_size=7, stride=2,\n       padding=3, bias=False)",
    ],
)
def test_pytorch_form(line):
    rows = layer_rows(f"input 1x3x224x224\n{line}\n")
    assert rows[0].output_shape == (1, 64, 112, 112)
    assert rows[0].params == 9408


def test_torch_reprs_that_are_not_constructor_syntax():
    text = """Sequential(
  (0): Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=same, padding_mode=circular)
  (1): BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
  (2): ReLU(inplace=True)
  (3): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=True)
  (4): LeakyReLU(negative_slope=0.01)
  (5): Upsample(scale_factor=2.0, mode='nearest')
  (6): GELU(approximate='none')
  (7): AdaptiveAvgPool2d(output_size=(1, 1))
  (8): Flatten(start_dim=1, end_dim=-1)
  (9): Dropout(p=0.5, inplace=False)
  (10): Linear(in_features=8, out_features=10, bias=True)
  (11): Softmax(dim=1)
  (12): LayerNorm((10,), eps=1e-05, elementwise_affine=True)
)"""
    result = summary(text, (1, 3, 9, 9))
    assert result.output_shape == (1, 10)
    assert [row.output_shape for row in result.rows][:8] == [
        (1, 8, 9, 9), (1, 8, 9, 9), (1, 8, 9, 9), (1, 8, 5, 5), (1, 8, 5, 5), (1, 8, 10, 10),
        (1, 8, 10, 10), (1, 8, 1, 1),
    ]
    assert result.totals.params == 3 * 8 * 9 + 8 + 16 + 8 * 10 + 10 + 20
    assert result.totals.buffers == 8 + 8 + 1


def test_embedding_and_layernorm_repr():
    result = summary("Sequential(\n  (0): Embedding(10, 3)\n  (1): LayerNorm((3,), eps=1e-05, elementwise_affine=True)\n)", (2, 7))
    assert result.output_shape == (2, 7, 3)
    assert result.totals.params == 30 + 6


def test_printed_keywords_that_are_not_arguments_are_read():
    """print(model) shows attributes that are not constructor arguments (mode=)."""
    result = summary("input 1x3x4x4\nReLU(inplace=True)\nUpsamplingNearest2d(scale_factor=2.0, mode='nearest')")
    assert result.output_shape == (1, 3, 8, 8) and not result.notes
    result = summary("input 1x3x4x4\nUpsamplingNearest2d(scale_factor=2.0, mode='bilinear')")
    assert any("ignored mode='bilinear'" in note for note in result.notes)


def test_a_keyword_torch_neither_takes_nor_prints_is_rejected():
    with pytest.raises(ParseError, match=r"line 2.*unexpected keyword argument foo=3 \(nn.ReLU raises TypeError"):
        summary("input 1x3x4x4\nReLU(inplace=True, foo=3)")
    with pytest.raises(ParseError, match="strid=2.*did you mean stride"):
        summary("input 1x3x8x8\nConv2d(3, 8, 3, strid=2)")


def test_keywords_torch_takes_but_ignores_are_read_with_a_note():
    """nn.Identity takes any keyword; nn.Embedding has private _weight and _freeze arguments."""
    result = summary("input 1x3\nIdentity(foo=3)")
    assert any("ignored foo=3" in note for note in result.notes)
    result = summary("input 2x5\nEmbedding(10, 4, _freeze=True)")
    assert result.output_shape == (2, 5, 4)
    assert any("ignored _freeze=True (torch's private argument)" in note for note in result.notes)


def test_python_sequential_forms():
    one_line = "nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Sequential(nn.Conv2d(8, 8, 3)))"
    multi_line = "nn.Sequential(\n    nn.Conv2d(3, 8, 3),\n    nn.ReLU(),\n    nn.Sequential(\n        nn.Conv2d(8, 8, 3),\n    ),\n)"
    for text in (one_line, multi_line):
        rows = layer_rows(text, (1, 3, 8, 8))
        assert [row.name for row in rows] == ["0", "1", "2.0"]
        assert rows[-1].output_shape == (1, 8, 4, 4)


# -- print(model) ---------------------------------------------------------------------------------

NESTED = """Net(
  some=extra, repr=text
  (blocks): ModuleList(
    (0-2): 3 x Linear(in_features=4, out_features=4, bias=True)
  )
  (heads): ModuleDict(
    (a): ReLU()
    (b): Sequential()
  )
  (tail): Sequential(
    (0-1): 2 x Mix(
      (lin): Linear(in_features=4, out_features=4, bias=True)
      (act): Tanh()
    )
  )
)"""


def test_print_model_nesting_and_repeated_modules():
    result = summary(NESTED, (2, 4))
    names = [row.name for row in result.rows if row.kind == "layer"]
    assert names == [
        "blocks.0", "blocks.1", "blocks.2", "heads.a",
        "tail.0.lin", "tail.0.act", "tail.1.lin", "tail.1.act",
    ]
    assert result.totals.params == 5 * 20
    # Mix has no recipe: run as its children in order, and that assumption is named (no guessed add).
    assert not [row for row in result.rows if row.kind == "add"]
    assert [(a.module, a.type_name) for a in result.assumptions if "Mix" in a.message] == [("tail.0", "Mix"), ("tail.1", "Mix")]
    assert parse_spec(NESTED).root.args == "some=extra, repr=text"  # extra_repr: kept, not skipped


def test_print_model_root_names():
    spec = parse_spec("Net(\n  (features): Sequential(\n    (0): Identity()\n  )\n)")
    assert [name for name, _ in spec.root.children] == ["features"]
    assert spec.root.type_name == "Net"


BASIC_BLOCK = (Path(__file__).parent / "data" / "basic_block.txt").read_text().rstrip("\n")

BOTTLENECK = """Bottleneck(
  (conv1): Conv2d(16, 4, kernel_size=(1, 1), stride=(1, 1), bias=False)
  (bn1): BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
  (conv2): Conv2d(4, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)
  (bn2): BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
  (conv3): Conv2d(4, 16, kernel_size=(1, 1), stride=(1, 1), bias=False)
  (bn3): BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
  (relu): ReLU(inplace=True)
)"""


def test_basic_block_runs_in_torchvision_order():
    result = summary(BASIC_BLOCK, (1, 8, 8, 8))
    assert [row.name for row in result.rows] == [
        "conv1", "bn1", "relu", "conv2", "bn2", "downsample.0", "downsample.1", "add", "relu",
    ]
    add = result.rows[7]
    assert add.type == "add" and add.input_shape == add.output_shape == (1, 16, 4, 4)
    assert add.flops == 16 * 4 * 4 and add.macs == 0
    assert result.rows[5].input_shape == (1, 8, 8, 8)  # the branch reads the block's input
    assert [row.call for row in result.rows if row.name == "relu"] == [1, 2]  # the one relu runs twice
    # BasicBlock's forward is a built-in recipe; alone, outside a torchvision model, taking it for
    # torchvision's class (and not one's own of that name) is named
    assert [(a.type_name, "read as torchvision's BasicBlock" in a.message) for a in result.assumptions] == [("BasicBlock", True)]
    # the relu module runs twice but its (zero) parameters count once
    assert result.totals.params == 8 * 16 * 9 + 32 + 16 * 16 * 9 + 32 + 8 * 16 + 32


def test_bottleneck_order():
    result = summary(BOTTLENECK, (1, 16, 4, 4))
    assert [row.name for row in result.rows] == [
        "conv1", "bn1", "relu", "conv2", "bn2", "relu", "conv3", "bn3", "add", "relu",
    ]


def test_shortcut_child_makes_a_residual_block():
    text = """Block(
  (conv1): Conv2d(4, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
  (shortcut): Sequential(
    (0): Conv2d(4, 8, kernel_size=(1, 1), stride=(1, 1))
  )
  (conv2): Conv2d(8, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
)"""
    # No guess from the child's name: Block's forward is unknown, its children in order fail, and
    # the error says so instead of blaming the (correct) conv.
    with pytest.raises(ShapeError, match=r"Block, whose forward convcalc does not know.*class Block:"):
        summary(text, (1, 4, 6, 6))
    recipe = "class Block:\n    def forward(self, x):\n        return self.conv2(self.conv1(x)) + self.shortcut(x)\n"
    result = summary(recipe + text, (1, 4, 6, 6))
    assert [row.name for row in result.rows] == ["conv1", "conv2", "shortcut.0", "add"]
    assert result.assumptions == []


def test_empty_shortcut_is_the_identity():
    text = "Net(\n  (block): Res(\n    (conv): Conv2d(4, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n    (shortcut): Sequential()\n  )\n)"
    result = summary(text, (1, 4, 6, 6))
    assert [row.name for row in result.rows] == ["block.conv"]  # an empty Sequential is the identity
    assert any("Res has no recipe" in str(a) for a in result.assumptions)


def test_custom_module_rules():
    keeps = "Net(\n  (a): Unit(\n    (conv): Conv2d(4, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n  )\n)"
    changes = "Net(\n  (a): Unit(\n    (conv): Conv2d(4, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n  )\n)"
    wrapper = "Net(\n  (a): ConvBNReLU(\n    (0): Conv2d(4, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n  )\n)"
    root = "Unit(\n  (conv): Conv2d(4, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n)"
    kinds = {text: [row.kind for row in summary(text, (1, 4, 6, 6)).rows] for text in (keeps, changes, wrapper, root)}
    # No "same shape means residual" guess: a custom module runs its children, and says so.
    assert kinds[keeps] == ["layer"]
    assert any(str(a) == "a: Unit has no recipe: its children run in order" for a in summary(keeps, (1, 4, 6, 6)).assumptions)
    assert kinds[changes] == ["layer"]
    assert kinds[wrapper] == ["layer"]
    assert kinds[root] == ["layer"]


# -- blocks of the line form ----------------------------------------------------------------------


def test_residual_repeat_and_shortcut_blocks():
    text = """
    input 1x4x8x8
    repeat 2 {
      residual { conv2d --out 4 -k 3 -p 1; relu }
    }
    residual {
      conv2d --out 8 -k 3 -s 2 -p 1
    } shortcut downsample { conv2d --out 8 -k 1 -s 2 }
    sequential { relu; identity }
    """
    result = summary(text)
    assert [row.name for row in result.rows] == [
        "0.0.0", "0.0.1", "0.0.add", "0.1.0", "0.1.1", "0.1.add",
        "1.0", "1.downsample.0", "1.add", "2.0", "2.1",
    ]
    assert result.output_shape == (1, 8, 4, 4)


def test_residual_shape_mismatch_names_the_block():
    with pytest.raises(ShapeError) as error:
        summary("input 1x4x8x8\nrelu\n(res): residual {\n  conv2d --out 8 -k 3 -p 1\n}")
    message = str(error.value)
    assert "line 3" in message and "res" in message and "[1, 8, 8, 8]" in message and "[1, 4, 8, 8]" in message
    assert "shortcut" in message
    with pytest.raises(ShapeError, match=r"the network \(BasicBlock\): add: shapes \[1, 16, 4, 4\] and \[1, 16, 8, 8\].*torchvision.recipe"):
        summary(BASIC_BLOCK.replace("stride=(2, 2), bias=False)\n    (1)", "stride=(1, 1), bias=False)\n    (1)"), (1, 8, 8, 8))


def test_resnet18_fits_in_forty_lines_of_line_form():
    stage = """residual {{
  conv2d --out {c} -k 3 -s 2 -p 1 --no-bias; batchnorm2d; relu; conv2d --out {c} -k 3 -p 1 --no-bias; batchnorm2d
}} shortcut downsample {{ conv2d --out {c} -k 1 -s 2 --no-bias; batchnorm2d }}
relu
residual {{ conv2d --out {c} -k 3 -p 1 --no-bias; batchnorm2d; relu; conv2d --out {c} -k 3 -p 1 --no-bias; batchnorm2d }}
relu
"""
    text = (
        "input 1x3x224x224\n"
        "conv2d --out 64 -k 7 -s 2 -p 3 --no-bias; batchnorm2d; relu\n"
        "maxpool2d -k 3 -s 2 -p 1\n"
        "repeat 2 {\n"
        "  residual { conv2d --out 64 -k 3 -p 1 --no-bias; batchnorm2d; relu; conv2d --out 64 -k 3 -p 1 --no-bias; batchnorm2d }\n"
        "  relu\n"
        "}\n"
        + "".join(stage.format(c=c) for c in (128, 256, 512))
        + "adaptiveavgpool2d --output-size 1; flatten; linear --out 1000\n"
    )
    assert len(text.splitlines()) < 40
    result = summary(text)
    assert result.output_shape == (1, 1000)
    assert result.totals.params == 11_689_512


# -- JSON -----------------------------------------------------------------------------------------


def test_json_forms():
    document = {
        "input": "1x3x8x8",
        "layers": [
            {"type": "conv2d", "name": "stem", "out_channels": 4, "kernel_size": [3, 3], "padding": "same"},
            "relu",
            "(pool): MaxPool2d(2)",
            {"type": "repeat", "times": 2, "layers": [{"type": "residual", "layers": ["conv2d --out 4 -k 3 -p 1"]}]},
            {"type": "residual", "layers": [{"type": "Conv2d", "args": [4, 8, 1], "stride": 2}],
             "shortcut": {"type": "sequential", "name": "downsample", "layers": ["conv2d --out 8 -k 1 -s 2"]}},
            {"type": "Block", "layers": {"conv": {"type": "conv2d", "args": [8, 8, 1]}}},
            {"type": "convtranspose2d", "out_channels": 2, "kernel_size": 3, "stride": 2, "forward": {"output_size": [6, 6]}},
        ],
    }
    result = summary(json.dumps(document, indent=1))
    assert [row.name for row in result.rows] == [
        "stem", "1", "pool", "3.0.0", "3.0.add", "3.1.0", "3.1.add", "4.0", "4.downsample.0", "4.add",
        "5.conv", "6",
    ]
    assert result.output_shape == (1, 2, 6, 6)
    plain_list = summary(json.dumps(["conv2d --in 3 --out 4 -k 3", {"type": "relu"}]), (1, 3, 8, 8))
    assert plain_list.output_shape == (1, 4, 6, 6)


def test_json_errors_are_located():
    text = '{\n  "input": [1, 3, 8, 8],\n  "layers": [\n    "relu",\n    {"type": "conv2d", "out_channels": 4, "kernal_size": 3}\n  ]\n}'
    with pytest.raises(ParseError) as error:
        convcalc.parse_network(text)
    assert (error.value.line, error.value.column) == (5, 5)
    assert "kernel_size" in str(error.value)
    with pytest.raises(ParseError) as error:
        convcalc.parse_network('[\n  "relu",\n  "conv2d --out 4 --kernal 3"\n]')
    assert error.value.line == 3 and "--kernal" in str(error.value)


# -- summaries ------------------------------------------------------------------------------------


def test_receptive_fields_by_hand():
    text = """
    input 1x1x32x32
    conv2d --out 1 -k 3               # r 3, jump 1
    conv2d --out 1 -k 3 -s 2 -p 1     # r 3 + 2·1 = 5, jump 2
    maxpool2d -k 2                    # r 5 + 1·2 = 7, jump 4
    conv2d --out 1 -k 3 -d 2 -p 2     # effective kernel 5: r 7 + 4·4 = 23
    convtranspose2d --out 1 -k 4 -s 2 -p 1   # jump 4/2 = 2, r 23 + 3·2 = 29
    upsample --scale-factor 2         # nearest: jump 1, r unchanged
    convtranspose2d --out 1 -k 2 -s 2        # jump 1/2, r 29 + 1/2
    upsample --scale-factor 2 --mode bilinear  # one more input tap: r + 1/2, jump 1/4
    flatten
    """
    fields = [row.receptive_field for row in summary(text).rows]
    assert [(f[0].size, f[0].jump) for f in fields[:8]] == [
        (3, 1), (5, 2), (7, 4), (23, 4), (29, 2), (29, 1), (Fraction(59, 2), Fraction(1, 2)), (30, Fraction(1, 4)),
    ]
    assert fields[0][0] == fields[0][1]
    assert fields[-1] is None  # flattened: no spatial axes left
    row = summary(text).to_json()["layers"][6]
    assert row["receptive_field"][0] == {"size": "59/2", "jump": "1/2"}


def test_receptive_field_of_a_residual_block_is_its_widest_branch():
    rows = summary("input 1x2x16x16\nresidual { conv2d --out 2 -k 5 -p 2 } shortcut { conv2d --out 2 -k 1 }").rows
    assert [row.receptive_field[0].size for row in rows] == [5, 1, 5]


def test_memory_residual_keeps_the_block_input_alive():
    # 1x1x4x4 float32 tensors are 64 bytes each.
    residual = summary("input 1x1x4x4\nresidual { conv2d --out 1 -k 3 -p 1; conv2d --out 1 -k 3 -p 1 }")
    chain = summary("input 1x1x4x4\nconv2d --out 1 -k 3 -p 1; conv2d --out 1 -k 3 -p 1")
    assert residual.totals.peak_memory_bytes == 3 * 64  # x stays alive until the add
    assert chain.totals.peak_memory_bytes == 2 * 64
    assert residual.totals.activation_bytes == 3 * 64 and chain.totals.activation_bytes == 2 * 64
    assert residual.totals.input_bytes == 64
    half = convcalc.parse_network("input 1x1x4x4\nconv2d --out 1 -k 3 -p 1").summary(dtype="float16")
    assert half.totals.input_bytes == 32 and half.totals.param_bytes == 20 and half.rows[0].output_bytes == 32


def test_in_place_and_view_layers_allocate_nothing():
    result = summary("input 1x1x4x4\nconv2d --out 1 -k 3 -p 1\nrelu --inplace\ndropout\nflatten")
    assert result.totals.activation_bytes == 64
    assert result.totals.peak_memory_bytes == 128


def test_implicit_flatten_is_inserted_and_noted():
    text = "input 1x2x3x3\nconv2d --out 4 -k 1\nLinear(36, 5)"
    result = summary(text)
    assert [(row.name, row.kind, row.output_shape) for row in result.rows] == [
        ("0", "layer", (1, 4, 3, 3)), ("flatten", "flatten", (1, 36)), ("1", "layer", (1, 5)),
    ]
    assert any("inserted a flatten" in a.message for a in result.assumptions)
    # placed where the model's forward has it: before the classifier, not before its Linear
    printed = "Net(\n  (features): Conv2d(2, 4, kernel_size=(1, 1), stride=(1, 1))\n  (classifier): Sequential(\n    (0): Dropout(p=0.5, inplace=False)\n    (1): Linear(in_features=36, out_features=5, bias=True)\n  )\n)"
    rows = summary(printed, (1, 2, 3, 3)).rows
    assert [(row.name, row.output_shape) for row in rows] == [
        ("features", (1, 4, 3, 3)), ("flatten", (1, 36)), ("classifier.0", (1, 36)), ("classifier.1", (1, 5)),
    ]


def test_linear_on_the_last_dim_is_noted():
    result = summary("input 1x2x3x3\nconv2d --out 4 -k 1\nlinear --out 5")
    assert result.output_shape == (1, 4, 3, 5)
    assert any("last dim" in note and "flatten" in note for note in result.notes)


def test_depth_folding():
    text = "input 1x4x8x8\n(a): sequential { conv2d --out 4 -k 3 -p 1; (b): sequential { relu; conv2d --out 2 -k 1 } }\nflatten"
    net = convcalc.parse_network(text)
    assert [row.name for row in net.summary().rows] == ["a.0", "a.b.0", "a.b.1", "1"]
    one = net.summary(depth=1)
    assert [(row.name, row.kind) for row in one.rows] == [("a", "container"), ("1", "layer")]
    assert one.rows[0].param_shapes == {"0.weight": (4, 4, 3, 3), "0.bias": (4,), "b.1.weight": (2, 4, 1, 1), "b.1.bias": (2,)}
    assert one.rows[0].input_shape == (1, 4, 8, 8) and one.rows[0].output_shape == (1, 2, 8, 8)
    two = net.summary(depth=2)
    assert [row.name for row in two.rows] == ["a.0", "a.b", "1"]
    assert sum(row.flops for row in two.rows) == net.summary().totals.flops
    with pytest.raises(ConvcalcError, match="depth"):
        net.summary(depth=0)


def test_summary_without_input_shape():
    result = summary("Conv2d(3, 8, 3)\nReLU()\nLinear(10, 2)")
    assert result.input_shape is None and result.output_shape is None
    assert [row.params for row in result.rows] == [224, 0, 22]
    assert result.totals.params == 246 and result.totals.macs is None and result.totals.peak_memory_bytes is None
    assert json.loads(json.dumps(result.to_json()))["layers"][0]["output_shape"] is None
    with pytest.raises(ParseError, match="inferred from the input shape") as error:
        summary("Conv2d(3, 8, 3)\nbatchnorm2d")
    assert error.value.line == 2


def test_dtype_checked():
    with pytest.raises(ParseError, match="dtype"):
        summary("input 1x3x4x4\nrelu", dtype="float8")


def test_to_json_shape():
    data = convcalc.parse_network("input 1x3x8x8\nconv2d --out 4 -k 3\nrelu").to_json()
    text = json.dumps(data)
    assert json.loads(text) == data
    assert data["input_shape"] == [1, 3, 8, 8] and data["output_shape"] == [1, 4, 6, 6]
    layer = data["layers"][0]
    assert layer == {
        **layer,
        "name": "0", "type": "Conv2d", "kind": "layer", "line": 2,
        "param_shapes": {"weight": [4, 3, 3, 3], "bias": [4]}, "params": 112,
        "macs": 4 * 36 * 27, "flops": 2 * 4 * 36 * 27 + 4 * 36,
        "receptive_field": [{"size": 3, "jump": 1}, {"size": 3, "jump": 1}],
    }
    assert set(data["totals"]) >= {"params", "trainable_params", "buffers", "macs", "flops", "input_bytes",
                                   "activation_bytes", "param_bytes", "peak_memory_bytes"}


# -- bad input ------------------------------------------------------------------------------------

ERRORS = [
    # (spec, error class, words in the message, line, column)
    ("", ParseError, ["empty"], None, None),
    ("# only a comment\n\n", ParseError, ["empty"], None, None),
    ("input 1x3x8x8\n", ParseError, ["no layers"], 1, None),
    ("conv2d\x00\x7f garbage", ParseError, ["binary"], 1, 7),
    ("Conv2d(3, 8,\n  kernel_size=3\n", ParseError, ["unterminated", "never closed"], 1, 7),
    ("input 1x3x8x8\nresidual {\n  relu\n", ParseError, ["never closed", "}"], 2, 1),
    ("Net(\n  (conv): Conv2d(3, 8, 3)\n", ParseError, ["never closed", ")"], 1, 1),
    ("relu)\n", ParseError, ["unmatched"], 1, 5),
    ("relu\n}\n", ParseError, ["closes no block"], 2, 1),
    ("relu\n)\n", ParseError, ["closes no module"], 2, 1),
    ("residual {\n  relu\n)\n", ParseError, ["expected '}'"], 3, 1),
    ("Conv2d" + "(" * 40, ParseError, ["nested more than"], 1, None),
    ("[" * 10_000, ParseError, ["nested more than"], 1, None),
    ("sequential {\n" * 100, ParseError, ["nested more than"], None, None),
    ("Sequential(\n" * 100, ParseError, ["nested more than"], None, None),
    ("relu " * 30_000, ParseError, ["characters long"], 1, None),
    ("input 1x3x8x8\ncomv2d --out 8 -k 3", ParseError, ["unknown layer", "conv2d"], 2, 1),
    ("input 1x3x8x8\nconv2d --out 8 --kernal 3", ParseError, ["no option --kernal", "--kernel-size"], 2, 16),
    ("input 1x3x8x8\nconv2d --out 8 -k", ParseError, ["needs a value"], 2, 16),
    ("input 1x3x8x8\nconv2d --out 8 -k x", ParseError, ["kernel-size", "'x'"], 2, 16),
    ("input 1x3x8x8\nconv2d --out 8 -k 3 -k 5", ParseError, ["given twice"], 2, 21),
    ("input 1x3x8x8\nconv2d --out 8", ParseError, ["needs kernel_size"], 2, 1),
    ("input 1x3x8x8\nconv2d --out 8 -k 3 -p 1 extra", ParseError, ["'extra' is read as in_channels"], 2, 26),
    ("input 1x3x8\nlinear --in 8 --out 2 true extra", ParseError, ["unexpected value 'extra'"], 2, 28),
    ("input 1x3x8x8\nconv2d --out 8 -k 3 --bias true", ParseError, ["--bias is a flag and takes no value", "--bias=true"], 2, 21),
    ("input 1x3x8x8\nconv2d 3 8 3 --no-bias No", ParseError, ["got '--no-bias No'", "--no-bias alone, or --bias=true"], 2, 14),
    ("input 1x3x8x8\nconv2d --out 8 -k 3 --padding-mode mirror", ParseError, ["mirror", "reflect"], 2, 21),
    ("input 1x3x8x8\nconv2d --out 8 -k 3 --no-out", ParseError, ["no option --no-out"], 2, 21),
    ("input 1x3x8x8\nconv2d 'unterminated", ParseError, ["unterminated string"], 2, 8),
    ("Conv2d(3, 8, 2 + 1)", ParseError, ["literal"], 1, 14),
    ("Conv2d(__import__('os').system('true'), 8, 3)", ParseError, ["literal", "never evaluated"], 1, 8),
    ("Conv2d(3, 8, **options)", ParseError, ["**kwargs"], 1, 14),
    ("Conv2d(3, 8, 3,,)", ParseError, ["not a valid call"], 1, 16),
    ("Conv2d(3, 8, 3, 1, 0, 1, 1, True, 'zeros', 'cpu', None, 7)", ParseError, ["positional"], 1, 1),
    ("Conv2d(3, 8, 3, kernel_size=3)", ParseError, ["given twice"], 1, 17),
    ("Conv2d(3, 8, kernal_size=3)", ParseError, ["needs kernel_size", "did you mean kernel_size"], 1, 1),
    ("Conv2d(3, 8, 3, padding_mode='circ)", ParseError, ["unterminated string"], 1, 30),
    ("Conv2d(3, 8, 3, padding=(1, 2, 3))", ConfigError, ["padding"], 1, 1),
    ("Conv2d(3, 8, 3, groups='two')", ParseError, ["groups"], 1, 24),
    ("Conv2d(3, 8, 99999999999999999999999)", ParseError, ["too large"], 1, 14),
    ("input 1x3x8x8\nNet(\n  (conv): Conv2d(3, 8, 3)\n  (act): Swishh()\n)", ParseError, ["Swishh() is neither a torch.nn layer nor a class with a recipe", "did you mean", "class Swishh:"], 4, 10),
    ("Net(\n  (a): Identity()\n  (a): Identity()\n)", ParseError, ["used twice"], 1, 1),
    ("input 1x64\nNet(\n  (attn): Attention(\n    dim=64, heads=8\n  )\n)", ParseError, ["Attention(dim=64, heads=8) is neither a torch.nn layer", "class Attention:"], 3, 3),
    ("Net(\n  (0-2): 2 x Identity()\n)", ParseError, ["names 3 modules"], 2, 3),
    ("Net(\n  (a.b): Identity()\n)", ParseError, ["not a module name"], 2, 3),
    ("residual\nrelu", ParseError, ["must be followed by '{'"], 1, 1),
    ("relu {\n}", ParseError, ["'{' must follow"], 1, 6),
    ("input 1x3x8x8\nshortcut { relu }", ParseError, ["must directly follow"], 2, 1),
    ("input 1x3x8x8\nrepeat 0 { relu }", ParseError, ["repeat count"], 2, 1),
    ("input 1x3x8x8\nrepeat x { relu }", ParseError, ["repeat N"], 2, 8),
    ("input 1x3x8x8\nrepeat 1000 { repeat 1000 { relu } }", ParseError, ["limit is", str(MAX_LAYERS)], 2, 1),
    ("input 1x3x8x8\nresidual { }", ParseError, ["empty"], 2, 1),
    ("input 1x3x8x8\ninput 1x3x8x8\nrelu", ParseError, ["second input"], 2, 1),
    ("input 1x0x8\nrelu", ParseError, ["zero-size"], 1, 1),
    ("input\nrelu", ParseError, ["needs a shape"], 1, 1),
    ("relu\nsequential {\n  input 1x3x8x8\n}", ParseError, ["top level"], 3, 3),
    ('{"layers": [{"type": "conv2d", }]}', ParseError, ["invalid JSON"], 1, 32),
    ('[{"type": "conv9d"}]', ParseError, ["unknown layer", "conv2d"], 1, 11),
    ('[{"out_channels": 3}]', ParseError, ['"type"'], 1, 2),
    ('[3]', ParseError, ["a layer is a string or an object"], 1, 1),
    ('{"layers": [], "inputs": [1]}', ParseError, ["unknown top-level key"], 1, 1),
    ('{"input": [1, 3]}', ParseError, ['"layers"'], 1, 1),
    ('{"input": [1, "a"], "layers": ["relu"]}', ParseError, ["input must be"], 1, 1),
    ('[{"type": "repeat", "times": "2", "layers": ["relu"]}]', ParseError, ['"times"'], 1, 2),
    ('[{"type": "linear", "args": [1, 2, 3, 4, 5]}]', ParseError, ["positional"], 1, 2),
    ('[{"type": "linear", "args": [4, 2], "in_features": 4}]', ParseError, ["given twice"], 1, 2),
    ('[{"type": "conv2d", "args": [3, 8], "kernel_size": "three"}]', ParseError, ["kernel_size"], 1, 52),
    # shapes that do not fit: the spec line, the layer's name and type, the shape and a fix
    ("input 1x3x8x8\n(c1): Conv2d(4, 8, 3)", ShapeError, ["c1 (Conv2d)", "[1, 3, 8, 8]", "in_channels=3"], 2, 7),
    ("input 1x16x5x4\nLinear(400, 10)", ShapeError, ["Linear expects 400 features", "[1, 16, 5, 4]", "320", "in_features=320"], 2, 1),
    ("input 1x3x4x4\nrelu\nconv2d --out 8 -k 5", ShapeError, ["layer 1 (Conv2d)", "kernel", "larger"], 3, 1),
    ("input 1x3x8x8\nconv2d --out 8 -k 3 -g 2", ConfigError, ["layer 0 (Conv2d)", "groups=2"], 2, 1),
    ("input 1x3x8x8\nbatchnorm1d", ShapeError, ["BatchNorm1d"], 2, 1),
    ("conv2d --out 8 -k 3", ParseError, ["needs in_channels", "input"], 1, 1),
]


@pytest.mark.parametrize("text, kind, words, line, column", ERRORS, ids=[f"error{i}" for i in range(len(ERRORS))])
def test_bad_input(text, kind, words, line, column):
    start = time.process_time()
    with pytest.raises(kind) as error:
        convcalc.parse_network(text).summary()
    assert time.process_time() - start < 1.0
    message = str(error.value)
    for word in words:
        assert word in message, message
    assert "\n" not in message.strip()
    if line is not None:
        assert getattr(error.value, "line", None) == line, message
        assert message.startswith(f"line {line}"), message
    if column is not None:
        assert getattr(error.value, "column", None) == column, message


def test_undecodable_bytes_and_huge_specs():
    with pytest.raises(ParseError, match="not UTF-8"):
        convcalc.parse_network(b"\xff\xfe\x00garbage")
    assert convcalc.parse_network(b"\xef\xbb\xbfinput 1x3x4x4\nrelu").input_shape == (1, 3, 4, 4)
    start = time.process_time()
    with pytest.raises(ParseError, match="limited to"):
        convcalc.parse_network("relu\n" * 20_000_000)  # 100 MB
    assert time.process_time() - start < 1.0
    with pytest.raises(ParseError, match="a spec is text"):
        convcalc.parse_network(42)  # type: ignore[arg-type]


def test_errors_are_value_errors():
    with pytest.raises(ValueError):
        convcalc.parse_network("nonsense here")


# -- no input, however bad, escapes as anything but a ConvcalcError -------------------------------

PIECES = [
    "conv2d", "--out", "8", "-k", "3", "-s", "2", "-p", "same", "relu", "linear", "flatten", "maxpool2d",
    "Conv2d(", ")", "(", "[", "]", "{", "}", ";", ",", "=", "'", '"', "#", "\n", " ", "  ", "x", "-1",
    "residual", "repeat", "shortcut", "sequential", "input", "1x3x8x8", "(0):", "(0-1): 2 x ", "Net(",
    "kernel_size=", "nn.", "BatchNorm2d(8)", "ModuleList(", "1e400", "None", "True", "0", "3.5",
    '{"type": "conv2d"', '"layers": [', "BasicBlock(", "(downsample):", "upsample", "--scale-factor",
]


@examples(300)
@given(st.lists(st.sampled_from(PIECES), max_size=40), st.sampled_from([None, (1, 3, 8, 8), (2, 8)]))
def test_fuzzed_specs_raise_only_convcalc_errors(pieces, shape):
    text = "".join(pieces)
    try:
        convcalc.parse_network(text).summary(shape).to_json()
    except ConvcalcError:
        pass


@examples(200, suppress=())
@given(st.text(max_size=200))
def test_random_text_raises_only_convcalc_errors(text):
    try:
        convcalc.parse_network(text).summary((1, 3, 8, 8))
    except ConvcalcError:
        pass


VALID = BASIC_BLOCK + "\n"


@examples(200, suppress=())
@given(st.integers(0, len(VALID) - 1), st.integers(0, 5), st.sampled_from(["", "(", ")", "{", "x", "\n", "0", ":"]))
def test_mutated_print_model_raises_only_convcalc_errors(position, cut, insert):
    text = VALID[:position] + insert + VALID[position + cut :]
    try:
        convcalc.parse_network(text).summary((1, 8, 8, 8))
    except ConvcalcError:
        pass


# -- the tree, and the cost of long specs ---------------------------------------------------------


def test_tree_shape():
    spec = parse_spec("input 1x3x8x8\nrepeat 3 { conv2d --out 3 -k 3 -p 1 }\nConv2d(3, 3, 1)")
    repeat = spec.root.children[0][1]
    assert isinstance(repeat, ModuleNode) and [name for name, _ in repeat.children] == ["0", "1", "2"]
    body = repeat.children[0][1]
    assert isinstance(body, LayerNode) and body.layer is None  # in_channels comes from the input
    last = spec.root.children[1][1]
    assert isinstance(last, LayerNode) and repr(last.layer) == "Conv2d(3, 3, kernel_size=(1, 1), stride=(1, 1))"
    assert (last.source.line, last.source.column) == (3, 1)


def _cost(text: str) -> float:
    # Without the cyclic GC, whose passes scale with whatever else the test session keeps alive.
    best = float("inf")
    gc.collect()
    gc.disable()
    try:
        for _ in range(3):
            start = time.process_time()
            json.dumps(convcalc.parse_network(text).summary().to_json())
            best = min(best, time.process_time() - start)
    finally:
        gc.enable()
    return best


def test_long_specs_cost_linear_time():
    def spec(blocks: int) -> str:
        lines = ["input 1x8x16x16"]
        for i in range(blocks):
            lines += [f"conv2d --out 8 -k {1 + 2 * (i % 2)} -p {i % 2}", "batchnorm2d", "relu"]
        return "\n".join(lines)

    small, large = _cost(spec(250)), _cost(spec(1000))
    assert large < 8 * small + 0.05  # linear work is 4x, quadratic 16x
    assert large < 0.5  # 3000 layers, parsed, traced, summarised and dumped as JSON
