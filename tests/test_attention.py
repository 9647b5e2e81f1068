"""MultiheadAttention, run as self-attention (``attn(x, x, x, need_weights=False)[0]``):
accept/reject, shapes, state_dict names, values and counts against torch, and the command line.

The torch comparisons are marked ``oracle`` and skip when torch is absent (the ``torch`` fixture
asks for it); the counts and the command line run without it.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import convcalc
from convcalc import ConvcalcError
from forward_compare import assert_close
from strategies import examples

# -- torch as the oracle ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def torch():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    return torch


def _module(torch, args, kwargs, dtype="float32", seed=0):
    """torch's module in eval mode, its own init plus small random biases, in ``dtype``."""
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = torch.nn.MultiheadAttention(*args, **kwargs).eval().to(getattr(torch, dtype))
    with torch.no_grad():
        for name, param in module.named_parameters():
            if "bias" in name:  # torch starts the projection biases at 0
                param.normal_(0, 0.5)
    return module


def _self_attention(torch, module, x):
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return module(x, x, x, need_weights=False)[0]


def torch_outcome(torch, args, kwargs, shape):
    """("ok", output shape, [(state_dict key, shape)...] in order) or ("error", message)."""
    try:
        module = _module(torch, args, kwargs)
        out = _self_attention(torch, module, torch.zeros(shape))
    except Exception as exc:  # ValueError, AssertionError, RuntimeError, TypeError...
        return ("error", f"{type(exc).__name__}: {exc}".splitlines()[0])
    return ("ok", tuple(out.shape), [(k, tuple(v.shape)) for k, v in module.state_dict().items()])


def convcalc_outcome(args, kwargs, shape):
    try:
        layer = convcalc.MultiheadAttention(*args, **kwargs)
        out = layer.output_shape(shape)
    except ConvcalcError as exc:
        return ("error", str(exc))
    return ("ok", out, list(layer.param_shapes().items()))


def assert_agrees(torch, args, kwargs, shape):
    expected = torch_outcome(torch, args, kwargs, shape)
    got = convcalc_outcome(args, kwargs, shape)
    call = f"MultiheadAttention(*{args}, **{kwargs}) on {shape}"
    if expected[0] == "ok" and 0 in expected[1]:
        assert got[0] == "error", f"{call}: torch gives empty {expected[1]}, convcalc must reject"
    elif expected[0] == "error" or got[0] == "error":
        assert expected[0] == got[0], f"{call}: torch says {expected}, convcalc says {got}"
    else:
        assert got == expected, f"{call}: convcalc {got} != torch {expected}"
    return got


def assert_values_agree(torch, args, kwargs, shape, dtype="float32", seed=0):
    """The same weights (torch's state_dict) and input through both; 1e-5 relative in float32."""
    module = _module(torch, args, kwargs, dtype, seed)
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    expected = _self_attention(torch, module, torch.from_numpy(x)).numpy()
    params = {k: v.numpy() for k, v in module.state_dict().items()}
    got = convcalc.MultiheadAttention(*args, **kwargs).forward(x, params)
    tolerance = 1e-5 if dtype == "float32" else 1e-9
    # relative to the largest output, but not below 1e-2: with unit-scale inputs and weights a
    # smaller largest output is the projection's terms cancelling, and float32 rounding of the
    # terms is not relative to it (one feature, one head, seed 97: 3.3e-4, off by 7e-9)
    assert_close(got, expected, f"MultiheadAttention(*{args}, **{kwargs}) on {shape}", tolerance, scale_floor=1e-2)


RULES = [
    # (args, kwargs, input shape)
    ((8, 2), {}, (5, 3, 8)),
    ((8, 2), {}, (5, 8)),  # unbatched
    ((8, 2), {"batch_first": True}, (3, 5, 8)),
    ((8, 2), {"batch_first": True}, (5, 8)),  # unbatched is (L, E) either way
    ((8, 1), {}, (1, 1, 8)),
    ((1, 1), {}, (4, 2, 1)),
    ((8, 8), {}, (2, 2, 8)),  # head_dim 1
    ((12, 3), {"batch_first": True}, (2, 7, 12)),  # odd head count: torch's slow path
    ((8, 2), {"bias": False}, (5, 3, 8)),
    ((8, 2), {"add_bias_kv": True}, (5, 3, 8)),
    ((8, 2), {"add_zero_attn": True}, (5, 3, 8)),
    ((8, 2), {"add_bias_kv": True, "add_zero_attn": True, "bias": False}, (5, 8)),
    ((8, 2), {"dropout": 0.5}, (5, 3, 8)),
    ((8, 2), {"dropout": 2.0}, (5, 3, 8)),  # torch does not check dropout; eval ignores it
    ((8, 2), {"kdim": 8, "vdim": 8}, (5, 3, 8)),  # equal to embed_dim: the packed weight
    ((8, 2), {"kdim": 4}, (5, 3, 8)),  # separate weights: not self-attention
    ((8, 2), {"vdim": 6}, (5, 3, 8)),
    ((8, 2), {"kdim": 4, "vdim": 6}, (5, 3, 8)),
    ((8, 2), {"kdim": 0}, (5, 3, 8)),
    ((8, 2), {"kdim": -1}, (5, 3, 8)),
    ((8, 3), {}, (5, 3, 8)),  # not divisible
    ((2, 4), {}, (5, 3, 2)),  # more heads than features
    ((0, 1), {}, (5, 3, 0)),
    ((8, 0), {}, (5, 3, 8)),
    ((-8, 2), {}, (5, 3, 8)),
    ((8, -2), {}, (5, 3, 8)),
    ((8, 2), {}, (5, 3, 7)),  # last dim is not embed_dim
    ((8, 2), {"batch_first": True}, (3, 5, 6)),  # torch's fast path
    ((8, 2), {}, (8, 3, 5)),  # features first
    ((8, 2), {}, (8,)),  # 1-D
    ((8, 2), {}, ()),
    ((8, 2), {}, (2, 5, 3, 8)),  # 4-D
]


@pytest.mark.oracle
@pytest.mark.parametrize("args,kwargs,shape", RULES)
def test_rule_table(torch, args, kwargs, shape):
    assert_agrees(torch, args, kwargs, shape)


VALUES = [
    ((8, 2), {}, (5, 3, 8)),
    ((8, 2), {"batch_first": True}, (3, 5, 8)),  # torch's fast path (even heads, batch_first)
    ((12, 3), {"batch_first": True}, (2, 7, 12)),
    ((8, 2), {}, (5, 8)),  # unbatched
    ((8, 2), {"batch_first": True}, (5, 8)),
    ((8, 4), {"add_bias_kv": True}, (6, 2, 8)),
    ((8, 4), {"add_zero_attn": True}, (6, 2, 8)),
    ((8, 2), {"add_bias_kv": True, "add_zero_attn": True, "batch_first": True}, (2, 4, 8)),
    ((8, 2), {"add_bias_kv": True, "add_zero_attn": True}, (4, 8)),
    ((6, 1), {"bias": False}, (3, 2, 6)),
    ((16, 16), {}, (1, 1, 16)),
    ((32, 4), {"batch_first": True}, (2, 40, 32)),
]


@pytest.mark.oracle
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("args,kwargs,shape", VALUES)
def test_values_match_torch(torch, args, kwargs, shape, dtype):
    assert_values_agree(torch, args, kwargs, shape, dtype)


@pytest.mark.oracle
def test_chunked_scores_give_the_same_values(torch):
    """Query rows taken a few at a time (a tiny scratch budget) change nothing."""
    from convcalc.kernels.attention import self_attention

    module = _module(torch, (8, 2), {"add_bias_kv": True, "add_zero_attn": True}, "float64")
    x = np.random.default_rng(1).standard_normal((9, 2, 8))
    p = {k: v.numpy() for k, v in module.state_dict().items()}
    args = (x, 2, p["in_proj_weight"], p["in_proj_bias"], p["out_proj.weight"], p["out_proj.bias"])
    whole = self_attention(*args, bias_k=p["bias_k"], bias_v=p["bias_v"], add_zero_attn=True)
    chunked = self_attention(*args, bias_k=p["bias_k"], bias_v=p["bias_v"], add_zero_attn=True, max_buffer_bytes=1)
    np.testing.assert_allclose(chunked, whole, rtol=0, atol=1e-15)
    expected = _self_attention(torch, module, torch.from_numpy(x)).numpy()
    assert_close(chunked, expected, "chunked", 1e-9, scale_floor=1e-30)


@st.composite
def attention_configs(draw):
    heads = draw(st.integers(1, 4))
    embed = heads * draw(st.integers(1, 4)) if draw(st.integers(0, 9)) else draw(st.integers(1, 12))
    kwargs = {
        "batch_first": draw(st.booleans()),
        "bias": draw(st.booleans()),
        "add_bias_kv": draw(st.booleans()),
        "add_zero_attn": draw(st.booleans()),
    }
    length, batch = draw(st.integers(1, 6)), draw(st.integers(1, 3))
    last = embed if draw(st.integers(0, 9)) else draw(st.integers(1, 12))
    if draw(st.integers(0, 4)) == 0:
        shape = (length, last)
    else:
        shape = (batch, length, last) if kwargs["batch_first"] else (length, batch, last)
    return (embed, heads), kwargs, shape


@pytest.mark.oracle
@examples(150)
@given(attention_configs(), st.sampled_from(["float32", "float64"]), st.integers(0, 2**16))
def test_attention_hypothesis(torch, config, dtype, seed):
    got = assert_agrees(torch, *config)
    if got[0] == "ok":
        assert_values_agree(torch, *config, dtype=dtype, seed=seed)


@pytest.mark.oracle
def test_a_network_runs_on_torch_state_dict_weights(torch, tmp_path):
    """Keys as torch's state_dict writes them (``1.in_proj_weight``, ``1.out_proj.weight``)."""

    class SelfAttention(torch.nn.Module):  # how ViT's encoder calls it
        def __init__(self):
            super().__init__()
            self.attn = _module(torch, (8, 2), {"batch_first": True}, "float64")

        def forward(self, x):
            return self.attn(x, x, x, need_weights=False)[0]

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), SelfAttention(), torch.nn.Linear(8, 3)).double().eval()
    state = {k.replace(".attn.", "."): v.numpy() for k, v in model.state_dict().items()}
    x = np.random.default_rng(0).standard_normal((2, 5, 4))
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    net = convcalc.parse_network("Linear(4, 8)\nmultiheadattention --num-heads 2 --batch-first\nLinear(8, 3)")
    assert_close(net.forward(x, state), expected, "network", 1e-9, scale_floor=1e-30)
    np.savez(tmp_path / "w.npz", **{k: v.astype(np.float32) for k, v in state.items()})
    np.save(tmp_path / "x.npy", x.astype(np.float32))
    spec = tmp_path / "net.txt"
    spec.write_text("Linear(4, 8)\nMultiheadAttention(8, 2, batch_first=True)\nLinear(8, 3)\n")
    from convcalc.cli.app import main

    assert main(["net", str(spec), "--input-file", str(tmp_path / "x.npy"), "--weights", str(tmp_path / "w.npz"),
                 "--json"]) == 0


@pytest.mark.oracle
def test_macs_match_fvcore_on_torchs_decomposed_path(torch):
    """fvcore counts linear and bmm on the need_weights=True path (its need_weights=False path
    calls scaled_dot_product_attention, and its batch_first fast path one fused op, which
    fvcore does not count at all)."""
    fvcore = pytest.importorskip("fvcore.nn")
    for args, kwargs, shape in [((8, 2), {}, (5, 3, 8)), ((12, 3), {"add_bias_kv": True, "add_zero_attn": True}, (4, 2, 12))]:
        attn = _module(torch, args, kwargs)

        class Weights(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.attn = attn

            def forward(self, x):
                return self.attn(x, x, x)[0]

        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            analysis = fvcore.FlopCountAnalysis(Weights(), torch.zeros(shape))
            analysis.unsupported_ops_warnings(False)
            counted = analysis.total()
        assert convcalc.MultiheadAttention(*args, **kwargs).macs(shape) == counted


# -- counts, parameters, names (no torch) -------------------------------------------------------


def test_vit_b_16_encoder_attention_counts():
    attn = convcalc.MultiheadAttention(768, 12, batch_first=True)
    length, e = 197, 768
    assert attn.output_shape((1, length, e)) == (1, length, e)
    assert attn.num_params() == 4 * e * e + 4 * e
    macs = 3 * length * e * e + 2 * length * length * e + length * e * e
    assert attn.macs((1, length, e)) == macs
    assert attn.macs((4, length, e)) == 4 * macs
    flops = 2 * macs + 4 * length * e + length * e + 3 * 12 * length * length
    assert attn.flops((1, length, e)) == flops


@pytest.mark.parametrize(
    "kwargs,keys",
    [({}, 5), ({"add_bias_kv": True}, 6), ({"add_zero_attn": True}, 6), ({"add_bias_kv": True, "add_zero_attn": True}, 7)],
)
def test_extra_keys_are_counted(kwargs, keys):
    attn = convcalc.MultiheadAttention(8, 2, bias=False, **kwargs)
    assert attn.macs((5, 3, 8)) == 3 * (4 * 5 * 64 + 2 * 5 * keys * 8)
    assert attn.flops((5, 8)) == 2 * attn.macs((5, 8)) + 5 * 8 + 3 * 2 * 5 * keys


def test_param_names_are_state_dict_keys_in_torchs_order():
    assert list(convcalc.MultiheadAttention(8, 2, add_bias_kv=True).param_shapes().items()) == [
        ("in_proj_weight", (24, 8)), ("in_proj_bias", (24,)), ("bias_k", (1, 1, 8)), ("bias_v", (1, 1, 8)),
        ("out_proj.weight", (8, 8)), ("out_proj.bias", (8,)),
    ]
    layer = convcalc.MultiheadAttention(8, 2, kdim=4, vdim=6)
    assert list(layer.param_shapes()) == [
        "q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias",
    ]
    with pytest.raises(ConvcalcError, match="kdim=4 and vdim=6 .* self-attention"):
        layer.output_shape((5, 3, 8))


def test_random_weights_are_torch_like():
    """Biases start at 0, the weights (and bias_k, bias_v) uniform on ±1/√fan_in, fan_in = E
    (torch: out_proj.weight the same, the others xavier, ±1.22/√E and std 1/√E)."""
    from convcalc.network.execute import state_dict_shapes, state_roles
    from convcalc.tensors.fill import make_params, make_rng

    trace = convcalc.parse_network("multiheadattention --num-heads 2 --add-bias-kv").trace((5, 1, 64))
    params = make_params(state_dict_shapes(trace), "uniform", make_rng(0), roles=state_roles(trace))
    assert not params["0.in_proj_bias"].any() and not params["0.out_proj.bias"].any()
    for key in ("0.in_proj_weight", "0.out_proj.weight", "0.bias_k", "0.bias_v"):
        assert 0.9 / 8 < np.abs(params[key]).max() <= 1 / 8, key
    separate = convcalc.MultiheadAttention(8, 2, kdim=4, vdim=16)
    params = make_params(separate.param_shapes(), "uniform", make_rng(0), roles=separate.state_roles())
    assert np.abs(params["k_proj_weight"]).max() <= 1 / 2 and np.abs(params["v_proj_weight"]).max() <= 1 / 4


def test_repr_reads_back_as_the_same_layer():
    layer = convcalc.MultiheadAttention(16, 4, dropout=0.1, bias=False, add_zero_attn=True, batch_first=True)
    assert repr(layer) == (
        "MultiheadAttention(embed_dim=16, num_heads=4, dropout=0.1, bias=False, add_zero_attn=True, batch_first=True)"
    )
    rebuilt = convcalc.parse_network(repr(layer)).trace((2, 3, 16)).steps[0].layer
    assert repr(rebuilt) == repr(layer)


def test_forward_rejects_missing_and_misshapen_weights():
    layer = convcalc.MultiheadAttention(8, 2)
    with pytest.raises(ConvcalcError, match="in_proj_weight"):
        layer.forward(np.zeros((5, 8)), {"out_proj.weight": np.zeros((8, 8))})
    with pytest.raises(ConvcalcError):
        layer.forward(np.zeros((5, 8)), {**{k: np.zeros(s) for k, s in layer.param_shapes().items()},
                                         "in_proj_weight": np.zeros((8, 24))})


def test_float16_and_integer_inputs_come_back_as_torch_would():
    layer = convcalc.MultiheadAttention(4, 2, bias=False)
    params = {"in_proj_weight": np.eye(4, dtype=np.float16).repeat(3, 0)[:12], "out_proj.weight": np.eye(4, dtype=np.float16)}
    assert layer.forward(np.ones((3, 4), np.float16), params).dtype == np.float16
    assert layer.forward(np.ones((3, 4), np.int64), params).dtype == np.float32


# -- the command line ----------------------------------------------------------------------------


def test_command_shows_weights_and_counts(cli):
    result = cli("multiheadattention", "--embed-dim", "8", "--num-heads", "2", "-i", "5x1x8")
    assert result.code == 0, result.stderr
    for text in ("MultiheadAttention(embed_dim=8, num_heads=2)", "in_proj_weight", "[24, 8]", "out_proj.bias",
                 "288", "1,680", "3,710"):
        assert text in result.stdout, text
    assert result.stderr == ""


def test_command_json_infers_embed_dim(cli):
    result = cli("multiheadattention", "--num-heads", "2", "--batch-first", "-i", "1x5x8", "--json")
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert {k: data[k] for k in ("type", "layer", "input_shape", "output_shape", "param_shapes", "params")} == {
        "type": "MultiheadAttention", "layer": "MultiheadAttention(embed_dim=8, num_heads=2, batch_first=True)",
        "input_shape": [1, 5, 8], "output_shape": [1, 5, 8],
        "param_shapes": {"in_proj_weight": [24, 8], "in_proj_bias": [24], "out_proj.weight": [8, 8], "out_proj.bias": [8]},
        "params": 288,
    }
    assert data["macs"] == 1680 and data["flops"] == 3710


def test_command_runs_on_random_weights(cli):
    result = cli("multiheadattention", "--num-heads", "2", "--add-bias-kv", "--add-zero-attn", "-i", "5x8", "--run", "--json")
    assert result.code == 0, result.stderr
    tensors = json.loads(result.stdout)["tensors"]
    assert list(tensors) == ["input", "in_proj_weight", "in_proj_bias", "bias_k", "bias_v", "out_proj.weight",
                             "out_proj.bias", "output"]
    assert tensors["output"]["shape"] == [5, 8]


def test_command_help_lists_the_options(cli):
    result = cli("multiheadattention", "--help")
    assert result.code == 0
    for option in ("--embed-dim", "--num-heads", "--batch-first", "--add-bias-kv", "--kdim"):
        assert option in result.stdout


@pytest.mark.parametrize(
    "argv,words",
    [
        (["--embed-dim", "8", "--num-heads", "3", "-i", "5x1x8"], ["num_heads=3", "divisible", "{1, 2, 4, 8}"]),
        (["--num-heads", "0", "-i", "5x1x8"], ["num_heads", ">= 1"]),
        (["--embed-dim", "8", "--num-heads", "2", "-i", "5x1x6"], ["embed_dim=8", "has 6"]),
        (["--embed-dim", "8", "--num-heads", "2", "-i", "2x5x1x8"], ["2-D", "3-D"]),
        (["--embed-dim", "8", "--num-heads", "2", "--kdim", "4", "-i", "5x1x8"], ["kdim=4", "self-attention"]),
    ],
)
def test_bad_configurations_are_one_line_and_exit_2(cli, argv, words):
    cli("multiheadattention", *argv).assert_one_error_line(words)


def test_spec_line_form_in_a_network(cli, tmp_path):
    spec = tmp_path / "net.txt"
    spec.write_text("input 1x5x8\nlinear --out 16\nmultiheadattention --num-heads 4 --batch-first\nlinear --out 3\n")
    result = cli("net", str(spec), "--json")
    assert result.code == 0, result.stderr
    row = json.loads(result.stdout)["layers"][1]
    assert row["name"] == "1" and row["type"] == "MultiheadAttention" and row["output_shape"] == [1, 5, 16]
    assert row["params"] == 4 * 16 * 16 + 4 * 16
    assert cli("net", str(spec), "--run").code == 0
    spec.write_text("input 1x5x8\nmultiheadattention --num-heads 3\n")
    cli("net", str(spec)).assert_one_error_line(["line 2", "num_heads=3"])
