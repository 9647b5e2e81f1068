"""Other libraries' CNNs read from their print(model) text: timm's EfficientNet and ResNet
families (``tests/data/timm``) and the efficientnet_pytorch package's EfficientNet
(``tests/data/efficientnet_pytorch``), both made by ``scripts/library_fixtures.py``. Output,
totals and every leaf's output shape against what the real model gave; with the library
installed, the NumPy forward against the model's, with its weights."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import convcalc
from convcalc.errors import ConvcalcError

DATA = Path(__file__).parent / "data"
REFERENCE = {library: json.loads((DATA / library / "reference.json").read_text())
             for library in ("timm", "efficientnet_pytorch")}
# Refused: MixNet's MixedConv2d splits its channels over kernels of several sizes, which its
# print does not say how; ECA-ResNet's EcaModule runs a Conv1d over its channels.
REFUSED = {("timm", "mixnet_s"): "MixedConv2d, whose forward convcalc does not know",
           ("timm", "ecaresnet50d"): "EcaModule, whose forward convcalc does not know",
           # a ViT of img_size 256 without a class token: both are timm's defaults otherwise
           ("timm", "vit_medium_patch16_gap_256"): "257 against 197.*img_size=224, class_token=True, reg_tokens=0"}
MODELS = sorted((library, name) for library, models in REFERENCE.items() for name in models)
RUNNABLE = [model for model in MODELS if model not in REFUSED]
HIDDEN = "global_pool.pool"  # SelectAdaptivePool2d prints no pool child (what it gives on is checked)


def _text(name: str, library: str = "timm") -> str:
    return (DATA / library / f"{name}.txt").read_text()


@pytest.mark.parametrize("library, name", MODELS)
def test_parameters_from_the_text_alone(library, name):
    summary = convcalc.parse_network(_text(name, library)).summary()
    if name == "vit_medium_patch16_gap_256":  # its position embedding's size is assumed, and named
        assert summary.totals.params != REFERENCE[library][name]["params"]
        assert any("img_size=224, class_token=True, reg_tokens=0" in a.message for a in summary.assumptions)
        return
    assert summary.totals.params == REFERENCE[library][name]["params"]


@pytest.mark.parametrize("library, name", RUNNABLE)
def test_output_totals_and_every_leaf(library, name):
    entry = REFERENCE[library][name]
    network = convcalc.parse_network(_text(name, library))
    trace = network.trace(tuple(entry["input"]))
    assert list(trace.output.shape) == entry["output"]
    summary = network.summary(tuple(entry["input"]))
    assert (summary.totals.params, summary.totals.buffers) == (entry["params"], entry["buffers"])
    outputs = trace.module_outputs()
    for module, shapes in entry["leaves"].items():
        if module.endswith(HIDDEN):
            continue
        assert [list(s) for s in outputs.get(module, [])] == shapes, module
    assert any(note.startswith(f"the network: read as {library}'s") for note in summary.notes)


def test_what_the_text_leaves_out_is_named():
    """The pooling's output size and a block's noskip do not print: named, not guessed."""
    assumptions = {a.message for a in convcalc.parse_network(_text("lcnet_050")).trace((1, 3, 224, 224)).assumptions}
    assert any(m.startswith("output_size=1 and input_fmt='NCHW', timm's defaults") for m in assumptions)
    assert any(m.startswith("noskip=True, as timm builds a depthwise-separable block with an activation")
               for m in assumptions)
    assumptions = {a.message for a in convcalc.parse_network(_text("mobilenetv3_large_100")).trace((1, 3, 224, 224)).assumptions}
    assert any(m.startswith("noskip=False, timm's default") for m in assumptions)
    text = _text("efficientnet-b0", "efficientnet_pytorch")
    assumptions = {a.message for a in convcalc.parse_network(text).trace((1, 3, 224, 224)).assumptions}
    assert any(m.startswith("id_skip=True, the package's default") for m in assumptions)


@pytest.mark.parametrize("model, why", sorted(REFUSED.items()))
def test_what_convcalc_cannot_run_is_refused_with_the_reason(model, why):
    library, name = model
    with pytest.raises(ConvcalcError, match=why):
        convcalc.parse_network(_text(name, library)).summary(tuple(REFERENCE[library][name]["input"]))


def test_same_padding_pads_from_the_input_size_at_each_call():
    """TensorFlow's 'same' padding: timm's Conv2dSame prints padding 0 and pads at run time, more
    on the right where the total is odd. It was read as nn.Conv2d, a 3x3/2 stem 1 pixel short."""
    text = "Conv2dSame(3, 8, kernel_size=(3, 3), stride=(2, 2), bias=False)"
    for size, out in ((224, 112), (225, 113), (7, 4)):
        assert convcalc.parse_network(text).summary((1, 3, size, size)).output_shape == (1, 8, out, out)


def _library(library: str):
    """The library, or a skip. timm imports torchvision, whose wheel for torch 2.13 is a CUDA
    build: its detection operators' meta kernels (not needed here) fail to register beside the
    CPU torch, so that one module is replaced by an empty one first (as
    tests/test_torchvision_run does)."""
    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
    try:
        return __import__(library)
    except Exception as exc:  # absent, or a torchvision that does not load
        pytest.skip(f"{library} does not import: {exc}")


def _model(library: str, name: str):
    if library == "timm":
        return _library("timm").create_model(name, pretrained=False)
    efficientnet = _library("efficientnet_pytorch").EfficientNet
    return efficientnet.from_name(name.removesuffix("-notop"), include_top=not name.endswith("-notop"))


@pytest.mark.parametrize("library, name", RUNNABLE)
def test_forward_matches_the_library(library, name):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = _model(library, name).eval()
    generator = torch.Generator().manual_seed(1)
    # statistics a trained model would have; variances of at least 1, as an untrained deep net's
    # activations otherwise grow to 1e4 and float32's rounding makes its outputs differ (EfficientNetV2)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator) + 1.0)
    size = 224 if name.startswith(("vit_", "deit_")) else 96  # a ViT's position embedding is for 224x224
    x = torch.randn(1, 3, size, size, generator=generator)
    with torch.no_grad():
        want = model(x).numpy()
    params = {key: value.detach().numpy() for key, value in model.state_dict().items()}
    got = convcalc.parse_network(_text(name, library)).forward(x.numpy(), params)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * float(np.abs(want).max()))


def test_drop_path_and_drop_block_are_the_identity_at_inference():
    """Models made with drop_path_rate or drop_block_rate print DropPath(drop_prob=...) and
    DropBlock2d(), which were refused as unknown leaves."""
    text = ("Sequential(\n  (0): Conv2d(3, 8, kernel_size=(1, 1), stride=(1, 1))\n"
            "  (1): DropPath(drop_prob=0.100)\n  (2): DropBlock2d()\n)")
    x = np.random.default_rng(0).standard_normal((1, 3, 4, 4)).astype(np.float32)
    params = {"0.weight": np.ones((8, 3, 1, 1), np.float32), "0.bias": np.zeros(8, np.float32)}
    network = convcalc.parse_network(text)
    assert network.summary((1, 3, 4, 4)).output_shape == (1, 8, 4, 4)
    np.testing.assert_allclose(network.forward(x, params), np.broadcast_to(x.sum(1, keepdims=True), (1, 8, 4, 4)),
                               rtol=1e-6)


def test_a_pooling_printed_with_an_empty_pool_type_does_not_pool():
    """timm prints global_pool='' as `pool_type=` with nothing after it: the whole spec was
    refused as 'not a valid call'."""
    text = "Sequential(\n  (0): SelectAdaptivePool2d(pool_type=, flatten=Identity())\n)"
    assert convcalc.parse_network(text).summary((1, 8, 7, 7)).output_shape == (1, 8, 7, 7)
