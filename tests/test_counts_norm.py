"""Hand-derived parameter, buffer and FLOP counts of the normalisation family (no torch needed).

Per element: running statistics fold into x·a + b (2); computed statistics cost 5 (mean 1,
variance 2, normalise 2) plus 1 for the affine scale and 1 for its shift.
"""

from __future__ import annotations

import pytest

import convcalc
from convcalc.layers.base import ARG_PARSERS, Size
from convcalc.layers.norm import (
    LAYERS,
    BatchNorm1d,
    BatchNorm2d,
    GroupNorm,
    InstanceNorm2d,
    LayerNorm,
    LocalResponseNorm,
    RMSNorm,
)


def test_batchnorm_inference_is_two_per_element():
    layer = BatchNorm2d(64)
    elements = 64 * 56 * 56  # 200,704
    assert layer.macs((1, 64, 56, 56)) == 0
    assert layer.flops((1, 64, 56, 56)) == 2 * elements == 401_408
    # the same fold applies without affine parameters
    assert BatchNorm2d(64, affine=False).flops((1, 64, 56, 56)) == 401_408


def test_batchnorm_parameters_and_buffers_are_separate():
    layer = BatchNorm2d(64)
    assert layer.num_params() == 128
    assert layer.buffer_shapes() == {
        "running_mean": (64,), "running_var": (64,), "num_batches_tracked": (),
    }
    assert layer.num_buffers() == 129
    assert BatchNorm2d(64, affine=False).num_params() == 0
    assert BatchNorm2d(64, bias=False).param_shapes() == {"weight": (64,)}
    assert BatchNorm2d(64, track_running_stats=False).buffer_shapes() == {}


def test_batchnorm_with_batch_statistics():
    shape = (2, 64, 8, 8)  # 8,192 elements
    assert BatchNorm2d(64, track_running_stats=False).flops(shape) == 7 * 8_192 == 57_344
    assert BatchNorm2d(64, track_running_stats=False, bias=False).flops(shape) == 6 * 8_192
    assert BatchNorm2d(64, affine=False, track_running_stats=False).flops(shape) == 40_960


def test_instancenorm_counts():
    shape = (1, 3, 4, 4)  # 48 elements
    assert InstanceNorm2d(3).flops(shape) == 240
    assert InstanceNorm2d(3, affine=True).flops(shape) == 336
    assert InstanceNorm2d(3, affine=True, track_running_stats=True).flops(shape) == 96
    assert InstanceNorm2d(3, affine=True, track_running_stats=True).num_buffers() == 7


def test_groupnorm_counts():
    layer = GroupNorm(32, 256)
    elements = 8 * 256 * 14 * 14  # 401,408
    assert layer.flops((8, 256, 14, 14)) == 7 * elements == 2_809_856
    assert layer.num_params() == 512
    assert GroupNorm(32, 256, affine=False).flops((8, 256, 14, 14)) == 5 * elements


def test_layernorm_counts():
    shape = (8, 197, 768)  # 1,210,368 elements
    assert LayerNorm(768).flops(shape) == 8_472_576
    assert LayerNorm(768, bias=False).flops(shape) == 6 * 1_210_368
    assert LayerNorm(768, elementwise_affine=False).flops(shape) == 5 * 1_210_368
    assert LayerNorm((197, 768)).param_shapes() == {"weight": (197, 768), "bias": (197, 768)}


def test_lrn_counts():
    # AlexNet's first LRN: size 5 → 9 per element over 96·55·55 = 290,400 elements
    assert LocalResponseNorm(5).flops((1, 96, 55, 55)) == 2_613_600
    assert LocalResponseNorm(5).num_params() == 0


def test_messages_name_the_fix():
    with pytest.raises(convcalc.ShapeError, match="num_features=5"):
        BatchNorm2d(4).output_shape((1, 5, 8, 8))
    with pytest.raises(convcalc.ShapeError, match="batch dim of 1"):
        BatchNorm2d(4).output_shape((4, 8, 8))
    with pytest.raises(convcalc.ShapeError, match="track_running_stats=True"):
        BatchNorm1d(4, track_running_stats=False).output_shape((1, 4))
    with pytest.raises(convcalc.ConfigError, match=r"num_groups in \{1, 2, 4, 8\}"):
        GroupNorm(3, 8)
    with pytest.raises(convcalc.ShapeError, match="normalized_shape"):
        LayerNorm(4).output_shape((4, 3))
    with pytest.raises(convcalc.ConfigError, match="eps must be > 0"):
        BatchNorm2d(4, eps=0.0, track_running_stats=False)


def test_channel_counts_are_ignored_when_no_tensor_uses_them():
    # torch only sizes affine parameters and running statistics with them.
    assert InstanceNorm2d(4).output_shape((2, 7, 5, 5)) == (2, 7, 5, 5)
    assert GroupNorm(2, 4, affine=False).output_shape((1, 6, 3)) == (1, 6, 3)


def test_infer_args():
    assert BatchNorm2d.infer_args((1, 64, 8, 8)) == {"num_features": 64}
    assert BatchNorm1d.infer_args((8, 32)) == {"num_features": 32}
    assert InstanceNorm2d.infer_args((3, 8, 8)) == {"num_features": 3}
    assert GroupNorm.infer_args((2, 16, 4)) == {"num_channels": 16}
    assert LayerNorm.infer_args((2, 16)) == {}


def test_normalized_shape_parses_from_the_cli():
    spec = next(s for s in LayerNorm.arg_specs() if s.name == "normalized_shape")
    assert spec.annotation is Size
    assert LayerNorm(spec.parse("3x4")).normalized_shape == (3, 4)
    assert LayerNorm(spec.parse("768")).normalized_shape == (768,)


@pytest.mark.parametrize("cls", LAYERS)
def test_every_class_documents_its_flops_rule_and_parses_its_options(cls):
    assert cls.flops_rule and cls.summary() and cls.family == "norm"
    assert all(spec.choices or spec.annotation in ARG_PARSERS for spec in cls.arg_specs())


def test_rmsnorm_counts_three_per_element_and_one_for_its_scale():
    layer = RMSNorm(4096)
    assert layer.param_shapes() == {"weight": (4096,)} and layer.num_buffers() == 0
    assert layer.flops((2, 7, 4096)) == 4 * 2 * 7 * 4096
    assert RMSNorm(4096, elementwise_affine=False).flops((2, 7, 4096)) == 3 * 2 * 7 * 4096
    assert layer.macs((2, 7, 4096)) == 0
