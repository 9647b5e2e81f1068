"""Hand-derived parameter, MAC and FLOP counts of the linear family (no torch needed)."""

from __future__ import annotations

import pytest

import convcalc
from convcalc.layers.base import ARG_PARSERS
from convcalc.layers.linear import LAYERS, Bilinear, Embedding, Identity, Linear


def test_linear_4096_at_batch_16():
    layer = Linear(4096, 4096)
    # 16 rows · 4096 inputs · 4096 outputs
    assert layer.macs((16, 4096)) == 268_435_456
    # 2 per MAC + one bias add per output element (16 · 4096)
    assert layer.flops((16, 4096)) == 536_870_912 + 65_536
    assert layer.num_params() == 4096 * 4096 + 4096 == 16_781_312


def test_linear_leading_dims_multiply():
    layer = Linear(5, 3)
    assert layer.macs((2, 7, 5)) == 2 * 7 * 5 * 3 == 210
    assert layer.flops((2, 7, 5)) == 2 * 210 + 2 * 7 * 3 == 462
    assert layer.macs((5,)) == 15  # a 1-D input is one row
    assert layer.flops((5,)) == 33


def test_linear_without_bias():
    layer = Linear(400, 120, bias=False)
    assert layer.macs((1, 400)) == 48_000
    assert layer.flops((1, 400)) == 96_000
    assert layer.param_shapes() == {"weight": (120, 400)}


def test_bilinear_counts():
    layer = Bilinear(20, 30, 40)
    # 128 rows · 40 outputs · 20 · 30 feature pairs
    assert layer.macs((128, 20)) == 3_072_000
    assert layer.flops((128, 20), input2_shape=(128, 30)) == 6_144_000 + 128 * 40
    assert layer.num_params() == 40 * 20 * 30 + 40 == 24_040
    assert Bilinear(20, 30, 40, bias=False).flops((128, 20)) == 6_144_000


def test_embedding_and_identity_count_nothing():
    table = Embedding(10_000, 300, padding_idx=0)
    assert table.num_params() == 3_000_000
    assert (table.macs((32, 128)), table.flops((32, 128))) == (0, 0)
    assert (Identity().macs((4, 5)), Identity().flops((4, 5))) == (0, 0)


def test_linear_mismatch_message_names_the_fix():
    with pytest.raises(convcalc.ShapeError) as info:
        Linear(400, 120).output_shape((1, 16, 5, 5))
    message = str(info.value)
    assert "400" in message and "[1, 16, 5, 5]" in message
    assert "flatten" in message.lower() and "in_features=5" in message


def test_bilinear_second_input_is_checked():
    layer = Bilinear(2, 3, 4)
    assert layer.output_shape((5, 2)) == (5, 4)
    with pytest.raises(convcalc.ShapeError, match="in2_features=3"):
        layer.output_shape((5, 2), input2_shape=(5, 4))
    with pytest.raises(convcalc.ShapeError, match="no broadcasting"):
        layer.output_shape((5, 2), input2_shape=(1, 3))


def test_embedding_padding_idx_message_gives_the_range():
    with pytest.raises(convcalc.ConfigError, match="from -10 to 9"):
        Embedding(10, 3, padding_idx=10)


def test_embedding_hides_private_arguments_from_the_cli():
    names = [spec.name for spec in Embedding.arg_specs()]
    assert names == [
        "num_embeddings", "embedding_dim", "padding_idx", "max_norm", "norm_type",
        "scale_grad_by_freq", "sparse",
    ]
    assert Embedding(4, 2, _freeze=True).frozen


def test_identity_has_no_options():
    assert Identity.arg_specs() == ()
    assert Identity(1, 2, x=3).output_shape(()) == ()


def test_infer_args():
    assert Linear.infer_args((8, 512)) == {"in_features": 512}
    assert Bilinear.infer_args((8, 20)) == {"in1_features": 20}
    assert Linear.infer_args(()) == {}


@pytest.mark.parametrize("cls", LAYERS)
def test_every_class_documents_its_flops_rule_and_parses_its_options(cls):
    assert cls.flops_rule and cls.summary() and cls.family == "linear"
    assert all(spec.choices or spec.annotation in ARG_PARSERS for spec in cls.arg_specs())
