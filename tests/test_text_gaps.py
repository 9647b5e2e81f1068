"""What print(model) leaves out: each gap is named (an assumption, a note) or refused, never
filled in silently. Each case is a reproducer of a wrong answer convcalc once gave quietly."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import convcalc
from convcalc.errors import ConvcalcError, ParseError
from strategies import examples


def summary(text: str, *args, strict: bool = False, **kwargs) -> convcalc.Summary:
    network = convcalc.parse_network(text)
    network.strict = strict
    return network.summary(*args, **kwargs)


def messages(result: convcalc.Summary) -> list[str]:
    return [f"{a.module}: {a.message}" for a in result.assumptions]


SWIGLU = """MLP(
  (w1): Linear(in_features=64, out_features=172, bias=False)
  (w2): Linear(in_features=172, out_features=64, bias=False)
  (w3): Linear(in_features=64, out_features=172, bias=False)
)"""


def test_a_class_named_like_a_torchvision_sequential_with_other_children_is_not_its_recipe():
    said = messages(summary(SWIGLU, (2, 10, 64)))
    assert any("MLP is not the class of convcalc's recipe" in m and "children run in order" in m for m in said)
    with pytest.raises(ParseError, match="--strict"):
        summary(SWIGLU, (2, 10, 64), strict=True)
    numbered = "MLP(\n  (0): Linear(in_features=4, out_features=8, bias=True)\n  (1): ReLU()\n)"
    # torchvision's MLP by its name and children; alone, that it is torchvision's is named
    assert [a.message.split(" (")[0] for a in summary(numbered, (1, 4)).assumptions] == ["MLP read as torchvision's MLP"]


@pytest.mark.parametrize("holder", ["ModuleList", "ModuleDict"])
def test_a_module_list_or_dict_run_as_a_chain_is_an_assumption(holder):
    text = f"{holder}(\n  (a): Linear(in_features=8, out_features=8, bias=True)\n  (b): Linear(in_features=8, out_features=8, bias=True)\n)"
    said = messages(summary(text, (2, 8)))
    assert said == [f": a {holder} has no forward of its own: its children run in order, as a loop over it in "
                    "its parent's forward would"]
    with pytest.raises(ParseError, match=f"--strict.*{holder}"):
        summary(text, (2, 8), strict=True)


BN_ACT = """Sequential(
  (0): Conv2d(3, 4, kernel_size=(3, 3), stride=(1, 1))
  (1): BNAct(
    4, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True
    (act): ReLU()
  )
)"""


@pytest.mark.parametrize("shape", [None, (1, 3, 6, 6)])
def test_arguments_above_children_that_are_no_layers_are_named_with_or_without_input(shape):
    result = summary(BN_ACT, shape)
    assert any(m.startswith("1: BNAct prints arguments of its own (4, eps=1e-05") and "not in the totals" in m
               for m in messages(result))
    assert result.totals.params == 112  # the conv's: BNAct's own are said to be missing, not guessed


def test_a_class_without_a_recipe_notes_that_its_own_parameters_do_not_print():
    text = "Sequential(\n  (0): Scaled(\n    (conv): Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1))\n  )\n)"
    assert any("without a recipe (Scaled)" in note and "nn.Parameter" in note for note in summary(text).notes)
    assert not any("without a recipe" in note for note in summary("Sequential(\n  (0): ReLU()\n)").notes)


def test_a_recipe_subclass_that_prints_none_of_its_base_layers_arguments_is_refused():
    """SAM's LayerNorm2d() (none of nn.LayerNorm's arguments): refused with an input; without
    one, listed as unknown (it stopped the listing of the whole model)."""
    text = "Sequential(\n  (0): Conv2d(3, 8, kernel_size=(1, 1), stride=(1, 1))\n  (1): LayerNorm2d()\n)"
    with pytest.raises(ParseError, match=r"line 3.*LayerNorm2d\(\) does not print nn.LayerNorm's arguments"):
        summary(text, (1, 3, 5, 5))
    listed = summary(text)
    assert listed.totals.params == 32
    assert any("1 (LayerNorm2d: not the class its name's recipe is for)" in note for note in listed.notes)


def test_a_recipe_reading_a_child_the_module_lacks_says_which():
    text = """Sequential(
  (0): Encoder(
    (layers): Sequential(
      (0): Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
    )
    (ln): Identity()
    (dropout): Dropout(p=0.5, inplace=False)
  )
)"""
    with pytest.raises(ConvcalcError, match="no child 'pos_embedding' nor a printed argument of that name .its children: layers, ln, dropout"):
        summary(text, (1, 3, 8, 8))


def test_multihead_attention_notes_the_settings_its_parameter_count_takes():
    text = "MultiheadAttention(\n  (out_proj): NonDynamicallyQuantizableLinear(in_features=8, out_features=8, bias=True)\n)"
    result = summary(text)
    assert result.totals.params == 288
    assert any("kdim = vdim = embed_dim" in note and "add_bias_kv" in note for note in result.notes)


AVG_UP = """Sequential(
  (0): AvgPool2d(kernel_size=3, stride=2, padding=1)
  (1): Upsample(scale_factor=2.0, mode='bilinear')
)"""


def test_arguments_torch_does_not_print_are_named_where_they_change_the_result():
    said = messages(summary(AVG_UP, (1, 1, 8, 8)))
    assert any("ceil_mode: assumed False, which gives [4, 4] where ceil_mode=True gives [5, 5]" in m for m in said)
    assert any("count_include_pad: assumed True" in m for m in said)
    assert any(m.startswith("1: Upsample's print does not show align_corners") for m in said)
    assert any(m.startswith("0: AvgPool2d's print does not show divisor_override: assumed None") for m in said)
    # 7×7: ceil_mode gives the same size, so it is not mentioned
    assert not any("ceil_mode" in m for m in messages(summary(AVG_UP, (1, 1, 7, 7))))


def test_arguments_the_text_gives_are_not_assumed():
    given = "Sequential(\n  (0): AvgPool2d(3, 2, 1, ceil_mode=False, count_include_pad=True, divisor_override=None)\n  (1): Upsample(scale_factor=2.0, mode='bilinear', align_corners=False)\n)"
    assert not summary(given, (1, 1, 8, 8)).assumptions
    assert not summary("input 1x1x8x8\navgpool2d -k 3 -s 2 -p 1\nupsample --scale-factor 2 --mode bilinear").assumptions
    assert not summary("Sequential(\n  (0): UpsamplingBilinear2d(scale_factor=2.0, mode='bilinear')\n)", (1, 1, 4, 4)).assumptions


def test_the_assumed_defaults_are_torchs():
    torch = pytest.importorskip("torch")
    pool, up = torch.nn.AvgPool2d(3, 2, 1), torch.nn.Upsample(scale_factor=2.0, mode="bilinear")
    assert repr(torch.nn.Sequential(pool, up)) == AVG_UP  # what the test reads is what torch prints
    x = torch.zeros(1, 1, 8, 8)
    assert tuple(up(pool(x)).shape) == summary(AVG_UP, (1, 1, 8, 8)).output_shape
    assert (pool.ceil_mode, pool.count_include_pad, pool.divisor_override, up.align_corners) == (False, True, None, None)
    assert repr(torch.nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False, divisor_override=3)) == repr(pool)


DOWN = """Sequential(
  (0): Down(
    (conv): Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
  )
  (1): Flatten(start_dim=1, end_dim=-1)
  (2): Linear(in_features=128, out_features=10, bias=True)
)"""


def test_an_error_after_an_assumption_names_the_assumption():
    # Down's forward pools (F.max_pool2d, which print(model) does not show): the Linear is right
    with pytest.raises(ConvcalcError, match=r"set in_features=512 \(this follows what convcalc assumed .*"
                                            r"0: Down has no recipe: its children run in order"):
        summary(DOWN, (1, 3, 8, 8))
    with pytest.raises(ConvcalcError) as plain:
        summary("Sequential(\n  (0): Linear(in_features=128, out_features=10, bias=True)\n)", (1, 512))
    assert "assumed" not in str(plain.value)


@pytest.mark.parametrize("printed, words", [
    ("GRU(8, 12, batch_first=True)", "a recurrent layer"),
    ("EmbeddingBag(10, 3, mode='mean')", "EmbeddingBag sums, averages or maxes bags"),
    ("LazyConv2d(0, 8, kernel_size=(3, 3), stride=(1, 1))", "a lazy module"),
])
def test_torch_nn_classes_convcalc_does_not_model_say_so(printed, words):
    text = f"Sequential(\n  (0): {printed}\n)"
    result = summary(text)
    assert any(words in note and "not in the totals" in note for note in result.notes)
    with pytest.raises(ParseError, match=f"is a torch.nn class convcalc cannot run: {words}"):
        summary(text, (2, 5))


def test_no_flatten_is_inserted_where_the_forward_is_known():
    """Reproducer: a printed nn.Sequential of Conv2d, AdaptiveAvgPool2d(1) and Linear got a
    flatten, where torch fails (mat1 and mat2 shapes cannot be multiplied)."""
    printed = """Sequential(
  (0): Conv2d(3, 4, kernel_size=(3, 3), stride=(1, 1))
  (1): AdaptiveAvgPool2d(output_size=1)
  (2): Linear(in_features=4, out_features=10, bias=True)
)"""
    with pytest.raises(ConvcalcError, match=r"line 4.*forward that runs it is known and flattens nothing.*nn.Flatten"):
        summary(printed, (1, 3, 8, 8))
    # the line form (the user's own list of layers) and a class of one's own still get it, named
    for text, shape in (("input 1x3x8x8\nconv2d --out 4 -k 3\nadaptiveavgpool2d --output-size 1\nLinear(4, 10)", None),
                        (printed.replace("Sequential(", "Net(", 1), (1, 3, 8, 8))):
        result = summary(text, shape)
        assert result.output_shape == (1, 10) and any("inserted a flatten" in m for m in messages(result))
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Linear(4, 10))
    assert repr(model) == printed
    with pytest.raises(RuntimeError, match="cannot be multiplied"):
        model(torch.zeros(1, 3, 8, 8))


def test_a_parametrized_weight_is_refused_with_the_way_out():
    """Reproducer: `_WeightNorm()` (a private class) stopped the parse as an 'unknown layer'."""
    text = """Sequential(
  (0): ParametrizedConv2d(
    3, 4, kernel_size=(3, 3), stride=(1, 1)
    (parametrizations): ModuleDict(
      (weight): ParametrizationList(
        (0): _WeightNorm()
      )
    )
  )
)"""
    assert any("_WeightNorm: a weight parametrization" in note for note in summary(text).notes)
    with pytest.raises(ParseError, match="remove_parametrizations"):
        summary(text, (1, 3, 8, 8))
    torch = pytest.importorskip("torch")
    conv = torch.nn.utils.parametrizations.weight_norm(torch.nn.Conv2d(3, 4, 3))
    assert repr(torch.nn.Sequential(conv)) == text
    torch.nn.utils.parametrize.remove_parametrizations(conv, "weight")
    assert repr(conv) == "Conv2d(3, 4, kernel_size=(3, 3), stride=(1, 1))"  # the way out the message names


@pytest.mark.parametrize("activation", ["relu", "gelu-module"])
def test_a_transformer_encoder_runs_with_its_unprinted_settings_named(activation):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    act = torch.nn.GELU() if activation == "gelu-module" else "relu"
    layer = torch.nn.TransformerEncoderLayer(16, 1, 32, activation=act)
    model = torch.nn.TransformerEncoder(layer, 2, norm=torch.nn.LayerNorm(16), enable_nested_tensor=False).eval()
    network = convcalc.parse_network(repr(model))
    result = network.summary((5, 2, 16))
    said = messages(result)
    assert result.output_shape == (5, 2, 16) and result.totals.params == sum(p.numel() for p in model.parameters())
    assert any("batch_first=False" in m and "num_heads=1" in m for m in said)
    assert any("activation=relu" in m for m in said) == (activation == "relu")
    # per layer and token: projections 4·16², feed-forward 2·16·32; per layer: QKᵀ and AV, 5²·16 each per sequence
    assert result.totals.macs == 2 * (10 * (4 * 16 * 16 + 2 * 16 * 32) + 2 * 2 * 5 * 5 * 16)
    x = torch.randn(5, 2, 16)
    with torch.no_grad():
        want = model(x).numpy()
    got = network.forward(x.numpy(), {k: v.numpy() for k, v in model.state_dict().items()})
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_transformer_decoders_are_refused_for_their_two_inputs():
    torch = pytest.importorskip("torch")
    text = repr(torch.nn.TransformerDecoderLayer(16, 2, 32))
    with pytest.raises(ParseError, match="two inputs"):
        summary(text, (5, 2, 16))
    assert summary(text).totals.params == sum(p.numel() for p in torch.nn.TransformerDecoderLayer(16, 2, 32).parameters())


def test_what_the_user_writes_means_the_defaults():
    """Reproducer: `nn.AvgPool2d(3, 2, 1)` written in the line form or JSON was taken for
    print(model) text, and --strict refused it."""
    for text in ("input 1x1x8x8\nnn.AvgPool2d(3, 2, 1)", '{"input": [1, 1, 8, 8], "layers": ["nn.AvgPool2d(3, 2, 1)"]}',
                 "input 1x1x8x8\nnn.Sequential(nn.AvgPool2d(3, 2, 1))"):
        assert summary(text, strict=True).output_shape == (1, 1, 4, 4)


def test_a_repeated_printed_line_keeps_what_its_print_leaves_out():
    """Reproducer: the statement cache dropped `unstated` from the second copy of a line on."""
    pool = "AvgPool2d(kernel_size=2, stride=2, padding=0)"
    text = "Sequential(\n" + "".join(f"  ({i}): {pool}\n" for i in range(3)) + ")"
    said = messages(summary(text, (1, 1, 12, 12)))  # 12 → 6 → 3 → 1, where ceil_mode=True gives 2
    ceil = [m for m in said if "ceil_mode" in m]
    assert [m.split(":")[0] for m in ceil] == ["2"] and "ceil_mode=True gives [2, 2]" in ceil[0]
    assert [m.split(":")[0] for m in said if "divisor_override" in m] == ["0", "1", "2"]


def test_a_built_in_recipes_children_take_their_class_defaults_unsaid():
    """Reproducer: torchvision's DenseNet failed --strict at 180×180 over its transitions' pools,
    which torchvision builds as AvgPool2d(kernel_size=2, stride=2)."""
    from pathlib import Path

    text = (Path(__file__).parent / "data" / "torchvision" / "densenet121.txt").read_text()
    assert summary(text, (1, 3, 180, 180), strict=True).output_shape == (1, 1000)


def test_an_error_names_only_the_assumptions_that_can_change_shapes():
    printed = """Sequential(
  (0): AvgPool2d(kernel_size=3, stride=1, padding=1)
  (1): Flatten(start_dim=1, end_dim=-1)
  (2): Linear(in_features=10, out_features=2, bias=True)
)"""
    with pytest.raises(ConvcalcError) as error:
        summary(printed, (1, 1, 8, 8))
    assert "set in_features=64" in str(error.value) and "assumed" not in str(error.value)


def test_the_own_parameters_note_is_for_classes_of_ones_own_only():
    from pathlib import Path

    residual = "input 1x3x8x8\nresidual {\n conv2d --out 3 -k 3 -p 1\n}"
    googlenet = (Path(__file__).parent / "data" / "torchvision" / "googlenet.txt").read_text()
    for text in (residual, googlenet):  # the line form's block; an auxiliary head unused in eval
        assert not any("without a recipe" in note for note in summary(text).notes)


@pytest.mark.parametrize("case", ["plain BasicBlock", "summed Inception"])
def test_a_torchvision_block_outside_a_torchvision_model_is_named(case):
    """Reproducers: a BasicBlock of one's own without the residual add, and an Inception whose
    branches are summed, ran torchvision's forwards with nothing said, even under --strict
    (relative error 5.5; [1, 16, 8, 8] where torch gives [1, 4, 8, 8])."""
    conv = "Conv2d(4, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)"
    norm = "BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"
    texts = {
        "plain BasicBlock": f"BasicBlock(\n  (conv1): {conv}\n  (bn1): {norm}\n  (relu): ReLU(inplace=True)\n"
                            f"  (conv2): {conv}\n  (bn2): {norm}\n)",
        "summed Inception": "Inception(\n" + "".join(
            f"  (branch{i}): Conv2d(4, 4, kernel_size=({k}, {k}), stride=(1, 1), padding=({k // 2}, {k // 2}))\n"
            for i, k in ((1, 1), (2, 3), (3, 5), (4, 1))) + ")",
    }
    name = case.split()[1]
    said = messages(summary(texts[case], (1, 4, 8, 8)))
    assert any(m.startswith(f": {name} read as torchvision's {name}") for m in said)
    with pytest.raises(ParseError, match=f"--strict.*{name} read as torchvision's"):
        summary(texts[case], (1, 4, 8, 8), strict=True)


def test_inside_a_torchvision_model_its_blocks_are_its_own():
    from pathlib import Path

    text = (Path(__file__).parent / "data" / "torchvision" / "resnet18.txt").read_text()
    assert convcalc.parse_network(text).summary((1, 3, 224, 224)).assumptions == []
    layer1 = convcalc.parse_network(text).module("layer1")  # --module: a submodule of the model
    assert layer1.summary((1, 64, 56, 56)).assumptions == []


@st.composite
def _printed_avg_pools(draw):
    """An AvgPool torch prints without its ceil_mode and count_include_pad, and an input it takes."""
    nd = draw(st.integers(1, 3))
    kernel = draw(st.integers(1, 4))
    stride = draw(st.integers(1, 3))
    padding = draw(st.integers(0, kernel // 2))
    size = draw(st.integers(kernel, kernel + 9))
    return nd, kernel, stride, padding, draw(st.booleans()), draw(st.booleans()), size


@examples(150)
@given(_printed_avg_pools())
def test_a_printed_avg_pool_gives_torchs_shape_or_names_ceil_mode(config):
    """Whatever ceil_mode and count_include_pad the module had, the text is the same: convcalc's
    answer is torch's, or the assumption that made it differ is named."""
    torch = pytest.importorskip("torch")
    nd, kernel, stride, padding, ceil, include, size = config
    pool = getattr(torch.nn, f"AvgPool{nd}d")(kernel, stride, padding, ceil_mode=ceil, count_include_pad=include)
    shape = (1, 2) + (size,) * nd
    want = tuple(pool(torch.zeros(shape)).shape)
    result = summary(repr(torch.nn.Sequential(pool)), shape)
    said = " ".join(messages(result))
    assert result.output_shape == want or "ceil_mode: assumed False" in said
    assert not padding or include or "count_include_pad: assumed True" in said  # values differ then


def test_one_assumption_about_many_modules_is_one_part_of_the_warning(cli, tmp_path):
    spec = tmp_path / "pools.txt"
    spec.write_text("Sequential(\n" + "".join(f"  ({i}): AvgPool2d(kernel_size=2, stride=2, padding=0)\n" for i in range(5)) + ")\n")
    result = cli("net", str(spec), "-i", "1x1x64x64", "--run")
    assert result.code == 0
    line, = result.stderr.strip().splitlines()
    assert line.count("divisor_override: assumed None") == 1 and "0, 1, 2 and 2 more: AvgPool2d's print" in line


def test_what_can_change_only_values_is_named_and_refused_only_where_values_are_computed(cli, tmp_path):
    """A shape answer does not depend on divisor_override, count_include_pad or align_corners:
    --strict refused every printed AvgPool2d, and every shape answer warned of them."""
    spec = tmp_path / "pool.txt"
    spec.write_text("Sequential(\n  (0): AvgPool2d(kernel_size=2, stride=2, padding=0)\n)\n")
    shapes = cli("net", str(spec), "-i", "1x1x8x8", "--strict", "--json")
    assert shapes.code == 0 and shapes.stderr == "" and json.loads(shapes.stdout)["assumptions"] == []
    cli("net", str(spec), "-i", "1x1x8x8", "--strict", "--run").assert_one_error_line(
        ["--strict: 0 (AvgPool2d)", "divisor_override", "changes the values computed"])
    ran = cli("net", str(spec), "-i", "1x1x8x8", "--run", "--json")
    assert [a["module"] for a in json.loads(ran.stdout)["assumptions"]] == ["0"]
    network = convcalc.parse_network(spec.read_text())
    network.strict = True
    assert network.summary((1, 1, 8, 8)).output_shape == (1, 1, 4, 4)
    with pytest.raises(ConvcalcError, match="divisor_override"):
        network.forward(np.zeros((1, 1, 8, 8), np.float32))


def test_a_printed_avgpool1d_is_not_said_to_take_a_divisor_override():
    """torch's AvgPool1d has no divisor_override."""
    said = messages(summary("Net(\n  (p): AvgPool1d(kernel_size=(2,), stride=(2,), padding=(0,))\n)", (1, 1, 8)))
    assert not any("divisor_override" in m for m in said)


UNET_UP = """Up(
  (up): ConvTranspose2d(64, 32, kernel_size=(2, 2), stride=(2, 2))
  (conv): DoubleConv(
    (double_conv): Sequential(
      (0): Conv2d(64, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)
    )
  )
)"""


def test_a_failure_at_a_blocks_first_layer_blames_the_forward_that_gave_it_its_input():
    """Reproducer: a U-Net's Up (torch.cat in its forward) failed at DoubleConv's first conv, and
    the error told the user to declare DoubleConv, whose children do run in order."""
    with pytest.raises(ConvcalcError) as error:
        summary(UNET_UP, (1, 64, 8, 8))
    message = str(error.value)
    assert "the first layer of conv (DoubleConv), whose input the network (Up) gave it" in message
    assert "declare it: `class Up:`" in message and "class DoubleConv" not in message


PLAIN_NET = """PlainNet(
  (layer1): Sequential(
    (0): BasicBlock(
      (conv1): Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)
      (bn1): BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
      (relu): ReLU(inplace=True)
      (conv2): Conv2d(8, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)
      (bn2): BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
    )
  )
)"""


def test_a_failure_inside_a_block_read_by_its_name_names_that_reading_first():
    """Reproducer: a BasicBlock of one's own (no shortcut) inside a class without a recipe failed
    in torchvision's residual add, and the error blamed the outer class alone."""
    with pytest.raises(ConvcalcError) as error:
        summary(PLAIN_NET, (1, 3, 16, 16))
    message = str(error.value)
    assert "do not broadcast" in message and "That is inside" not in message
    assumed = message.split("this follows what convcalc assumed where the text is silent: ")[1]
    assert assumed.startswith("layer1.0: BasicBlock read as torchvision's BasicBlock")


def test_a_module_asked_for_alone_that_reads_a_parameter_its_parent_declares_says_so():
    """Reproducer: --module encoder of a ViT said its Encoder was not the recipe's class."""
    from pathlib import Path

    text = (Path(__file__).parent / "data" / "torchvision" / "vit_b_16.txt").read_text()
    with pytest.raises(ConvcalcError, match="a parameter its parent's recipe declares .* ask for the module that holds it"):
        convcalc.parse_network(text).module("encoder").trace((1, 197, 768))


def test_a_class_named_like_a_layer_with_children_is_a_module():
    """Reproducer: monai's UpSample, printed with children, was read as a multi-line nn.Upsample
    call and failed with "invalid syntax"."""
    text = "Net(\n  (up): UpSample(\n    (deconv): ConvTranspose2d(4, 2, kernel_size=(2, 2), stride=(2, 2))\n  )\n)"
    result = summary(text, (1, 4, 8, 8))
    assert result.output_shape == (1, 2, 16, 16) and result.totals.params == 34
    assert any(m.startswith("up: UpSample has no recipe") for m in messages(result))
    # its own arguments printed above its children
    above = text.replace("UpSample(\n", "UpSample(\n    spatial_dims=2, mode='deconv'\n")
    assert summary(above, (1, 4, 8, 8)).output_shape == (1, 2, 16, 16)


def test_a_printed_class_named_like_a_layer_in_another_case_is_read_as_it_with_that_named():
    """print(model) prints class names exactly: `UpSample(...)` and `relu()` are classes of one's own."""
    text = "Net(\n  (up): UpSample(scale_factor=2.0, mode='nearest')\n  (act): relu()\n)"
    result = summary(text, (1, 1, 4, 4))
    assert result.output_shape == (1, 1, 8, 8)
    said = messages(result)
    assert any(m.startswith("up: UpSample read as nn.Upsample") for m in said)
    assert any(m.startswith("act: relu read as nn.ReLU") for m in said)
    # written by the user (the line form, a call), a name in any case is the layer itself
    assert not summary("input 1x1x4x4\nnn.upsample(scale_factor=2.0)\nrelu").assumptions


@pytest.mark.parametrize("name", ["Transformer", "TransformerDecoder", "SwinTransformer"])
def test_a_class_named_like_a_torch_or_torchvision_model_with_other_children_is_not_refused_as_it(name):
    """Reproducer: timm's PiT `Transformer(blocks, ...)` was refused as nn.Transformer (two inputs),
    timm's SwinTransformer as torchvision's."""
    text = f"Net(\n  (t): {name}(\n    (blocks): Sequential(\n      (0): Linear(in_features=8, out_features=8, bias=True)\n    )\n  )\n)"
    result = summary(text, (1, 4, 8))
    assert result.output_shape == (1, 4, 8)
    assert any(m.startswith(f"t: {name} is not the class of convcalc's recipe") for m in messages(result))


BLAME_CASES = {
 "known seq in between": """Net(
  (stem): Conv2d(3, 8, kernel_size=(1, 1), stride=(1, 1))
  (layer): Sequential(
    (0): Blk(
      (a): Conv2d(8, 8, kernel_size=(1, 1), stride=(1, 1))
    )
    (1): Blk(
      (a): Conv2d(16, 8, kernel_size=(1, 1), stride=(1, 1))
    )
  )
)""",
 "nested up": """Net(
  (stem): Conv2d(3, 8, kernel_size=(1, 1), stride=(1, 1))
  (up): Up(
    (conv): DoubleConv(
      (a): Conv2d(16, 8, kernel_size=(1, 1), stride=(1, 1))
    )
  )
)""",
 "basicblock input": """Net(
  (stem): Conv2d(3, 8, kernel_size=(1, 1), stride=(1, 1))
  (block): BasicBlock(
    (conv1): Conv2d(16, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)
    (bn1): BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
    (relu): ReLU(inplace=True)
    (conv2): Conv2d(16, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)
    (bn2): BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
  )
)""",
}


@pytest.mark.parametrize("case,blamed", [
    ("known seq in between", "That is inside layer.1, a Blk"),  # its input came from layer.0, through a Sequential
    ("nested up", "the first layer of up.conv (DoubleConv), whose input up (Up) gave it"),
    ("basicblock input", "That is inside the network, a Net"),  # no step of the block ran: its reading is not at fault
])
def test_the_blame_goes_to_the_forward_that_made_the_failing_input(case, blamed):
    """Reproducers from a review: a known Sequential between the blocks, an unknown block whose
    only child failed at its first layer, a block read by its name failing on its own input."""
    with pytest.raises(ConvcalcError) as error:
        summary(BLAME_CASES[case], (1, 3, 8, 8))
    assert blamed in str(error.value)
    if case == "basicblock input":
        assert "BasicBlock read as torchvision's" not in str(error.value).split("(this follows")[0]


@pytest.mark.parametrize("name", ["RMSNorm", "Upsample", "BatchNorm2d"])
def test_torchs_own_name_printed_without_the_arguments_torch_prints_is_a_class_of_ones_own(name):
    """Reproducer: diffusers' RMSNorm() was refused with "RMSNorm needs normalized_shape", a
    user's Upsample() with "give size or scale_factor": read as torch's layers."""
    text = f"Net(\n  (a): {name}()\n)"
    with pytest.raises(ConvcalcError, match=rf"{name}\(\) prints none of nn.{name}'s arguments, which torch's always prints"):
        summary(text, (1, 4, 4, 4))
    listed = summary(text)  # without an input: listed, its parameters unknown
    assert any(f"a ({name}: not a torch.nn layer" in note for note in listed.notes)
    assert summary("Net(\n  (a): ReLU()\n)", (1, 4)).output_shape == (1, 4)  # torch prints ReLU() so


def test_a_class_read_as_a_layer_whose_arguments_need_the_input_is_listed_without_one():
    """Reproducer: DETR's DetrFrozenBatchNorm2d() stopped the parameter listing of the whole model."""
    text = "Net(\n  (a): DetrFrozenBatchNorm2d()\n  (fc): Linear(in_features=4, out_features=2, bias=True)\n)"
    listed = summary(text)
    assert listed.totals.params == 10
    assert any("a (BatchNorm2d: its input shape is needed)" in note for note in listed.notes)
    ran = summary(text, (1, 4, 1, 1))
    assert ran.totals.params == 18 and any(m.startswith("a: DetrFrozenBatchNorm2d read as nn.BatchNorm2d") for m in messages(ran))


def test_a_printed_pool_that_fits_only_with_ceil_mode_says_print_model_leaves_it_out():
    """Reproducer: HF EfficientNet's pooler, nn.AvgPool2d(k, ceil_mode=True) on a smaller input,
    failed with "no window fits" and nothing said that the text leaves ceil_mode out."""
    with pytest.raises(ConvcalcError, match=r"print does not show ceil_mode: with ceil_mode=True, which the model may have, it gives \[1, 1\]"):
        summary("Sequential(\n  (0): AvgPool2d(kernel_size=4, stride=4, padding=0)\n)", (1, 8, 2, 2))
    with pytest.raises(ConvcalcError) as written:  # written by the user, ceil_mode is False
        summary("input 1x8x2x2\nnn.AvgPool2d(4, 4)")
    assert "print does not show" not in str(written.value)


@pytest.mark.parametrize("name", ["GELU", "PReLU", "LeakyReLU", "Dropout2d", "Hardtanh", "CELU"])
def test_a_layer_that_builds_without_arguments_printed_as_name_is_that_layer_and_says_so(name):
    """Reproducers: from a review, GELU(), torch's own print before its `approximate`, was read
    as ELU once torch's own names printed empty were taken for classes of one's own, and PReLU()
    lost its parameter as ReLU; from an audit, a user's LeakyReLU() (slope 0.2) ran as torch's
    0.01 without a word. torch prints these layers' defaults: read as torch's, and named where
    values are computed (they change no shape)."""
    text = f"Sequential(\n  (fc): Linear(in_features=8, out_features=8, bias=True)\n  (act): {name}()\n)"
    result = summary(text, (1, 8))
    assert [row.type for row in result.rows] == ["Linear", name]
    assert result.totals.params == 72 + (1 if name == "PReLU" else 0)
    (bare,) = result.assumptions
    assert bare.message.startswith(f"{name}() prints no arguments where torch's prints its defaults, {name}(")
    if name == "PReLU":  # a PReLU of one's own may hold a slope per channel: the count depends on it
        assert bare.shapes
        with pytest.raises(ConvcalcError, match=r"--strict: act \(PReLU\): PReLU\(\) prints no arguments"):
            summary(text, (1, 8), strict=True)
    else:
        assert not bare.shapes
        summary(text, (1, 8), strict=True)  # a shape answer does not depend on it


def test_torchs_name_printed_bare_follows_a_recipe_of_that_name_and_is_named_where_shapes_depend_on_it():
    """Reproducer: a user's LeakyReLU() recipe was ignored, the line read as torch's layer."""
    own = "class LeakyReLU:\n    def forward(self, x):\n        return F.leaky_relu(x, 0.2)\n\n"
    text = "Sequential(\n  (0): Linear(in_features=2, out_features=2, bias=False)\n  (1): LeakyReLU()\n)"
    network = convcalc.parse_network(own + text)
    x = np.array([[-1.0, 2.0]], np.float32)
    weight = {"0.weight": np.eye(2, dtype=np.float32)}
    np.testing.assert_allclose(network.forward(x, weight), [[-0.2, 2.0]])
    assert not network.summary((1, 2)).assumptions
    flatten = summary("Sequential(\n  (0): Flatten()\n)", (1, 2, 3))
    assert flatten.output_shape == (1, 6) and [a.shapes for a in flatten.assumptions] == [True]
    with pytest.raises(ConvcalcError, match=r"--strict: 0 \(Flatten\): Flatten\(\) prints no arguments"):
        summary("Sequential(\n  (0): Flatten()\n)", (1, 2, 3), strict=True)


def test_a_layer_call_wrapped_over_lines_is_not_taken_for_a_module():
    """Reproducer from a review: the look-ahead for a named child ran past a layer's own
    wrapped arguments into its next sibling."""
    wrapped = "Sequential(\n  (0): Linear(\n    in_features=8, out_features=8, bias=True)\n  (1): ReLU()\n)"
    assert summary(wrapped, (1, 8)).output_shape == (1, 8)
    upsample = "Sequential(\n  (0): Upsample(\n      scale_factor=2.0, mode='nearest'\n      )\n  (1): ReLU()\n)"
    assert summary(upsample, (1, 1, 4, 4)).output_shape == (1, 1, 8, 8)


def test_diff_keeps_only_the_assumptions_that_can_change_a_shape(cli, tmp_path):
    """Reproducer from a review: diff warned "(--strict refuses this)" of a divisor_override that
    --strict no longer refuses for a shape answer."""
    spec = tmp_path / "pool.txt"
    spec.write_text("Sequential(\n  (0): AvgPool2d(kernel_size=2, stride=2, padding=0)\n)\n")
    result = cli("diff", str(spec), str(spec), "-i", "1x3x8x8")
    assert result.code == 0 and "divisor_override" not in result.stderr



def test_a_leaf_read_as_another_layer_is_named_at_every_copy_of_a_repeated_block():
    """Reproducer: in torch's compact `(0-2): 3 x Block(...)` print, 'QuickGELU read as nn.GELU'
    was named for the first copy only (ViT-B-32-quickgelu: 1 of 12)."""
    text = ("Sequential(\n  (0-2): 3 x Foo(\n    (fc): Linear(in_features=8, out_features=8, bias=True)\n"
            "    (act): QuickGELU()\n  )\n)")
    read_as = [a for a in summary(text, (1, 8)).assumptions if "read as nn.GELU" in a.message]
    assert [a.module for a in read_as] == ["0.act", "1.act", "2.act"]
    assert "its forward may do more" in read_as[0].message  # `pass` would lock in GELU's values


def test_a_forward_that_returns_a_tuple_lists_every_output(cli, tmp_path):
    """Reproducer from an audit: LeNet's `return logits, probs` and a VAE's (recon, mu, logvar)
    were reported as their first element, `outputs` empty and nothing said of the rest."""
    spec = tmp_path / "two.txt"
    spec.write_text("class Net:\n    def forward(self, x):\n        y = self.fc(x)\n"
                    "        return y, F.softmax(y, dim=1), y.view(1, 3, 1)\n\n"
                    "Net(\n  (fc): Linear(in_features=4, out_features=3, bias=True)\n)\n")
    shapes = json.loads(cli("net", str(spec), "-i", "1x4", "--json").stdout)
    assert shapes["output_shape"] == [1, 3]
    assert shapes["outputs"] == {"0": [1, 3], "1": [1, 3], "2": [1, 3, 1]}
    assert "input [1, 4] → outputs 0 [1, 3], 1 [1, 3], 2 [1, 3, 1]" in cli("net", str(spec), "-i", "1x4").stdout
    assert "Input [1, 4] → outputs 0 [1, 3]" in cli("net", str(spec), "-i", "1x4", "--markdown").stdout


def test_a_network_input_without_its_batch_dim_is_noted():
    """Reproducer from a newcomer: LeNet given 1x32x32 answered for one unbatched sample
    (output [16, 10], as torch's Flatten then makes it) without a word."""
    lenet = convcalc.parse_network(open("tests/data/lenet_lines.txt").read())
    unbatched = lenet.summary((1, 32, 32))
    assert any("the input [1, 32, 32] has no batch dim: Conv2d reads it as one sample" in n and "[1, 1, 32, 32]" in n
               for n in unbatched.notes)
    assert not any("no batch dim" in n for n in lenet.summary((1, 1, 32, 32)).notes)


def test_a_model_read_by_torchvisions_recipe_says_so():
    """Reproducer from an audit: a CIFAR ResNet of one's own with torchvision's child names (its
    forward skipping the maxpool) was answered with torchvision's forward and nothing said: the
    texts are the same, so the answer names whose forward it took."""
    text = open("tests/data/torchvision/resnet18.txt").read()
    notes = convcalc.parse_network(text).summary((1, 3, 64, 64)).notes
    assert [n for n in notes if "torchvision's" in n] == [
        "the network: read as torchvision's ResNet, its blocks as torchvision's (built-in torchvision.recipe, "
        f"line {convcalc.parse_network(text).recipes.find('ResNet').line}): a class of one's own that prints the same "
        "needs its own recipe"]


def test_a_leaf_read_as_a_torch_layer_that_fails_is_blamed_before_its_block():
    """Reproducer from an audit (open_clip ViTamin's stem): timm's channels-first LayerNormAct2d,
    read as nn.LayerNorm, failed on its (N, C, H, W) input; the error blamed the Stem's forward,
    which was right, and offered LayerNorm's own fix (normalized_shape), which was not."""
    text = ("Stem(\n  (conv1): Conv2d(3, 64, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))\n"
            "  (norm1): LayerNormAct2d(\n    (64,), eps=1e-06, elementwise_affine=True, bias=True\n"
            "    (drop): Identity()\n    (act): GELU()\n  )\n)")
    with pytest.raises(ConvcalcError) as caught:
        summary(text, (1, 3, 32, 32))
    message = str(caught.value)
    assert "norm1 is a LayerNormAct2d, read as nn.LayerNorm by its name and printed arguments" in message
    assert "whose forward convcalc does not know" not in message and "set normalized_shape" not in message


def test_a_linear_given_a_feature_maps_channels_blames_its_own_block():
    """Reproducer from an audit (CLIP's ModifiedResNet): AttentionPool2d's first Linear got the
    (N, C, H, W) map with C = its in_features, and the error blamed the network's forward (which
    ran its children rightly) instead of the pool's own, which flattens and permutes first."""
    text = ("Net(\n  (conv): Conv2d(3, 8, kernel_size=(1, 1), stride=(1, 1))\n  (attnpool): AttentionPool2d(\n"
            "    (k_proj): Linear(in_features=8, out_features=8, bias=True)\n"
            "    (c_proj): Linear(in_features=8, out_features=4, bias=True)\n  )\n)")
    with pytest.raises(ConvcalcError) as caught:
        summary(text, (1, 3, 7, 7))
    assert "That is inside attnpool, a AttentionPool2d, whose forward convcalc does not know" in str(caught.value)
    assert "convcalc does not know Net's forward" not in str(caught.value)


def test_a_declared_layer_subclass_that_fails_keeps_the_layers_own_fix():
    """Reproducer from a review: a recipe's own assume() at a layer subclass's path was taken for
    a leaf read by its name; the error said 'declare it' (it was) and lost 'set in_channels'."""
    text = ("class Conv2dSame(nn.Conv2d):\n    def forward(self, x):\n        assume(\"pads like TF\")\n"
            "        return super().forward(x)\n\nSequential(\n  (0): Conv2dSame(4, 8, kernel_size=(3, 3), stride=(1, 1))\n)")
    with pytest.raises(ConvcalcError) as caught:
        summary(text, (1, 3, 8, 8))
    assert "set in_channels=3" in str(caught.value) and "read as nn.Conv2d by its name" not in str(caught.value)


def test_a_layer_read_by_its_name_may_hold_parameters_of_its_own():
    """timm's ScaledStdConv2d holds a gain per output channel that its print does not show: the
    total (9,472 against torch's 9,536) was given with no note on counts."""
    result = summary("ScaledStdConv2d(3, 64, kernel_size=(7, 7), stride=(2, 2), padding=(3, 3))", (1, 3, 224, 224))
    assert any("without a recipe (ScaledStdConv2d)" in note for note in result.notes)
    assert any("not counted" in m and "read as nn.Conv2d" in m for m in messages(result))


def test_a_layer_pasted_on_its_own_names_what_torch_does_not_print():
    """print(model.layer2[0].downsample[0]) of timm's resnet18d is `AvgPool2d(kernel_size=2,
    stride=2, padding=0)`, whose ceil_mode=True does not print: pasted alone it was read as a
    call typed with torch's defaults, [1, 8, 27, 27] where torch gives [1, 8, 28, 28], with no
    word, even under --strict. A call not in torch's print form means what it says."""
    pasted = summary("AvgPool2d(kernel_size=3, stride=2, padding=0)", (1, 8, 56, 56))
    assert any("print does not show ceil_mode: assumed False, which gives [27, 27]" in m for m in messages(pasted))
    with pytest.raises(ParseError, match="--strict.*ceil_mode"):
        summary("AvgPool2d(kernel_size=3, stride=2, padding=0)", (1, 8, 56, 56), strict=True)
    assert not summary("AvgPool2d(3, 2)", (1, 8, 56, 56)).assumptions
