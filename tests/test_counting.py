"""``--count torchinfo|fvcore`` against the numbers the real tools gave.

fvcore: tests/data/torchvision/reference.json holds fvcore's counts by operator for every
torchvision model (made by scripts/torchvision_fixtures.py, with a handle for
scaled_dot_product_attention that fvcore's defaults lack); fvcore alone counts everything
there but that entry. tests/data/counting.json (scripts/counting_fixtures.py) holds torchinfo's
``total_mult_adds`` and fvcore's default ``total()`` for eight torchvision models and five small
networks that reach the cases where the conventions part.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import convcalc
from convcalc.network.counting import COUNTS

DATA = Path(__file__).parent / "data"
REFERENCE = json.loads((DATA / "torchvision" / "reference.json").read_text())
COUNTED = json.loads((DATA / "counting.json").read_text())
# Counted but not run by convcalc (window attention, detection, optical flow): see test_torchvision.
NOT_RUN = ("swin", "maxvit", "mvit")
FVCORE_MODELS = sorted(name for name, entry in REFERENCE.items()
                       if "input" in entry and not name.startswith(NOT_RUN))


def _text(case: str) -> str:
    entry = COUNTED[case]
    if "text" in entry:
        return entry["text"]
    return (DATA / "torchvision" / f"{case.split('.', 1)[1]}.txt").read_text()


@pytest.mark.parametrize("name", FVCORE_MODELS)
def test_fvcore_count_of_every_torchvision_model(name):
    entry = REFERENCE[name]
    expected = sum(v for op, v in entry["macs_by_operator"].items() if op != "scaled_dot_product_attention")
    summary = convcalc.parse_network((DATA / "torchvision" / f"{name}.txt").read_text()).summary(
        tuple(entry["input"]), count="fvcore")
    assert summary.totals.macs == expected
    assert summary.count == "fvcore"


@pytest.mark.parametrize("case", sorted(COUNTED))
@pytest.mark.parametrize("count", ["torchinfo", "fvcore"])
def test_count_equals_the_real_tool(case, count):
    network = convcalc.parse_network(_text(case))
    assert network.summary(tuple(COUNTED[case]["input"]), count=count).totals.macs == COUNTED[case][count]


def test_the_fixture_reaches_the_differences():
    assert len([case for case in COUNTED if case.startswith("torchvision.")]) >= 8
    convnext = COUNTED["torchvision.convnext_tiny"]  # Linear on (N, H, W, C): torchinfo counts N rows
    assert convnext["torchinfo"] * 10 < convnext["fvcore"]
    convs = COUNTED["layers.convs"]  # padding='same' runs as _convolution_mode: fvcore leaves it out
    assert convs["fvcore"] < convs["torchinfo"]


def test_convcalc_count_is_the_default_and_flops_do_not_change():
    network = convcalc.parse_network(_text("torchvision.resnet18"))
    shape = (1, 3, 224, 224)
    summaries = {count: network.summary(shape, count=count) for count in COUNTS}
    assert summaries["convcalc"].totals.macs == network.summary(shape).totals.macs == 1_814_073_344
    assert summaries["torchinfo"].totals.macs == 1_814_083_944  # + each BatchNorm affine once, the fc bias
    assert len({s.totals.flops for s in summaries.values()}) == 1


def test_an_unknown_count_is_refused():
    with pytest.raises(convcalc.ConvcalcError, match="--count 'thop' is not one of: convcalc, torchinfo, fvcore"):
        convcalc.parse_network("Linear(4, 2)").summary((1, 4), count="thop")


@pytest.mark.parametrize("text, per_element", [
    ("BatchNorm2d(4)", 2), ("BatchNorm2d(4, affine=False)", 1), ("BatchNorm2d(4, track_running_stats=False)", 5),
    ("InstanceNorm2d(4)", 4), ("InstanceNorm2d(4, affine=True)", 5), ("GroupNorm(2, 4)", 5),
    ("GroupNorm(2, 4, affine=False)", 4), ("LayerNorm(8, elementwise_affine=False)", 4),
])
def test_fvcore_counts_a_norm_as_its_class_declares(text, per_element, monkeypatch):
    network = convcalc.parse_network(text)
    macs = network.summary((2, 4, 8, 8), count="fvcore").totals.macs
    assert macs == per_element * 2 * 4 * 8 * 8
    layer_class = type(network.trace((2, 4, 8, 8)).steps[0].layer)
    monkeypatch.setattr(layer_class, "fvcore_per_element", lambda self: 7)  # the declaration is what counts
    assert network.summary((2, 4, 8, 8), count="fvcore").totals.macs == 7 * 2 * 4 * 8 * 8
