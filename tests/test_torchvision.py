"""Every torchvision model read from the text print(model) prints, against the figures torch
gave for the real model (``tests/data/torchvision``, made by ``scripts/torchvision_fixtures.py``).

For each classification, segmentation and video CNN: the output shape, the parameter total,
the MACs (fvcore's conv + linear count) and every module's output shape equal torch's; the
ViTs too. For
every model: the parameter total from the text alone is exact (all but MViT's, which holds
parameters whose sizes print(model) does not show), and a model convcalc cannot run is refused
with a reason, never answered wrongly.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import convcalc
from convcalc.errors import ConvcalcError

DATA = Path(__file__).parent / "data" / "torchvision"
REFERENCE = json.loads((DATA / "reference.json").read_text())

# MViT's PositionalEncoding holds a class token and position embeddings sized by the input.
PARAMS_NOT_FROM_TEXT = {"mvit_v1_b", "mvit_v2_s"}
# Models convcalc counts but does not run: window and pooling attention, detection, optical flow.
REFUSED_FAMILIES = ("swin", "maxvit", "mvit")
# fvcore's conv and linear work (its attention products too, for the ViTs' MultiheadAttention).
CONV_AND_LINEAR = ("conv", "linear", "addmm", "matmul", "bmm", "mm", "einsum", "scaled_dot_product_attention")


def _text(name: str) -> str:
    return (DATA / f"{name}.txt").read_text()


def _runs(name: str) -> bool:
    entry = REFERENCE[name]
    return "input" in entry and not name.startswith(REFUSED_FAMILIES)


RUNNABLE = sorted(name for name in REFERENCE if _runs(name))
REFUSED = sorted(name for name in REFERENCE if not _runs(name))


@pytest.fixture(scope="module")
def traces() -> dict:
    return {}


def _trace(name: str, cache: dict):
    if name not in cache:
        entry = REFERENCE[name]
        cache[name] = convcalc.parse_network(_text(name)).trace(tuple(entry["input"]))
    return cache[name]


def test_the_fixtures_cover_torchvision():
    tasks = {}
    for entry in REFERENCE.values():
        tasks[entry["task"]] = tasks.get(entry["task"], 0) + 1
    assert sum(tasks.values()) == len(REFERENCE) >= 100
    assert len(RUNNABLE) >= 70, RUNNABLE


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_parameters_from_the_text_alone(name):
    summary = convcalc.parse_network(_text(name)).summary()
    if name in PARAMS_NOT_FROM_TEXT:  # the total leaves them out, and says so
        assert summary.totals.params < REFERENCE[name]["params"]
        assert any("pos_encoding (PositionalEncoding: a class token and position embeddings" in note
                   for note in summary.notes)
        return
    assert summary.totals.params == REFERENCE[name]["params"]


@pytest.mark.parametrize("name", RUNNABLE)
def test_output_params_macs_and_every_module(name, traces):
    entry = REFERENCE[name]
    trace = _trace(name, traces)
    assert list(trace.output.shape) == entry["output"]
    summary = convcalc.parse_network(_text(name)).summary(tuple(entry["input"]))
    assert summary.totals.params == entry["params"]
    conv_linear = sum(
        step.macs for step in trace.steps
        if step.layer is not None and type(step.layer).__name__.lower().startswith(("conv", "linear", "multihead"))
    )
    expected = sum(v for k, v in entry["macs_by_operator"].items() if k in CONV_AND_LINEAR)
    assert conv_linear == expected
    outputs = trace.module_outputs()
    for module, shapes in {**entry["leaves"], **entry["containers"]}.items():
        assert [list(s) if s is not None else None for s in outputs.get(module, [])] == shapes, module
    for module in entry.get("not_run", []):
        assert module not in outputs, module


@pytest.mark.parametrize("name", RUNNABLE)
def test_no_assumption_is_needed(name, traces):
    assumptions = _trace(name, traces).assumptions
    if name in ("googlenet", "inception_v3"):  # transform_input, which print(model) does not show
        assert len(assumptions) == 1 and "transform_input=False" in assumptions[0].message
    elif name.startswith("vit_"):  # the image size and num_heads, which print(model) does not show
        assert [a.type_name for a in assumptions][:2] == ["VisionTransformer", "EncoderBlock"]
        assert "image_size=224" in assumptions[0].message and "num_heads" in assumptions[1].message
    else:
        assert assumptions == []


@pytest.mark.parametrize("name", REFUSED)
def test_what_convcalc_cannot_run_is_refused_with_the_reason(name):
    entry = REFERENCE[name]
    shape = tuple(entry.get("input") or ([1, 3, 16, 224, 224] if "3d" in name else [1, 3, 224, 224]))
    with pytest.raises(ConvcalcError) as error:
        convcalc.parse_network(_text(name)).summary(shape)
    message = str(error.value)
    assert "(built-in torchvision.recipe, line" in message, message  # a refusal the recipes hold, not a failure


DETECTORS_WITH_FPN = sorted(name for name, entry in REFERENCE.items()
                            if entry["task"] == "detection" and not name.startswith("ssd"))


@pytest.mark.parametrize("name", DETECTORS_WITH_FPN)
def test_a_detector_backbone_is_asked_for_with_module(name):
    entry = REFERENCE[name]["backbone"]
    trace = convcalc.parse_network(_text(name)).module("backbone").trace(tuple(entry["input"]))
    assert {key: list(tensor.shape) for key, tensor in trace.outputs.items()} == entry["output"]
    outputs = trace.module_outputs()
    for module, shapes in entry["leaves"].items():
        assert [list(s) for s in outputs[module]] == shapes, module
    assert trace.assumptions == []


def test_a_module_whose_forward_takes_its_parents_feature_maps_says_so():
    """Reproducer: --module backbone.fpn failed with "TypeError: object of type 'Tensor' has no len()"."""
    with pytest.raises(ConvcalcError) as error:
        convcalc.parse_network(_text("retinanet_resnet50_fpn")).module("backbone.fpn").trace((1, 2048, 8, 8))
    message = str(error.value)
    assert "FeaturePyramidNetwork" in message and "does not take the one tensor --input gives" in message
    assert "ask for the module that holds it" in message


def test_ssd_backbones_are_refused_with_the_reason():
    for name in ("ssd300_vgg16", "ssdlite320_mobilenet_v3_large"):
        with pytest.raises(ConvcalcError, match="ask for --module backbone.features"):
            convcalc.parse_network(_text(name)).module("backbone").trace((1, 3, 300, 300))
