"""``convcalc explain``: the worked examples' hand decompositions, and every total equals the forward pass."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import typer
from hypothesis import assume, given
from hypothesis import strategies as st
from typer.testing import CliRunner

import convcalc
from convcalc.cli.app import PASS_THROUGH
from convcalc.errors import ConvcalcError
from convcalc.teach.explain import explain, parse_at
from convcalc.cli.explain import explain_command
from convcalc.render.explain import render_explain
from strategies import examples, int_tuple, seeds
from test_seeds import INPUT0, OUTPUT0, OUTPUT1, WEIGHT0, WEIGHT1

SNAPSHOTS = Path(__file__).parent / "snapshots"


# -- the worked examples ------------------------------------------------------------------------------


def test_seed_000_layer1_on_output0_reads_as_the_hand_decomposition():
    layer1 = convcalc.Conv2d(2, 4, kernel_size=2, stride=2, padding=0, bias=False)
    e = explain(layer1, OUTPUT0, {"weight": WEIGHT1}, (0, 0, 0, 0))
    assert [t.channel for t in e.terms] == [0, 1]
    # "kernel for layer1, in_channel 0, out_channel 0 multiplied by output0, channel 0, top left corner"
    assert e.terms[0].values == [1.0, 1.0, 3.0, 1.0] and e.terms[0].weights == [-1.0, -1.0, -1.0, -1.0]
    assert e.terms[1].values == [0.0, 2.0, 1.0, 0.0] and e.terms[1].weights == [0.0, -1.0, 0.0, -1.0]
    assert [t.sum for t in e.terms] == [-6.0, -2.0]
    assert e.bias is None and e.total == -8.0 == e.forward == OUTPUT1[0, 0, 0, 0] and e.agrees
    assert [a.positions for a in e.axes] == [[0, 1], [0, 1]]


def test_seed_000_layer0_every_output_agrees():
    layer0 = convcalc.Conv2d(1, 2, kernel_size=2, stride=2, bias=False)
    for index in np.ndindex(OUTPUT0.shape):
        e = explain(layer0, INPUT0, {"weight": WEIGHT0}, index)
        assert e.total == OUTPUT0[index] and e.agrees


def test_seed_001_matmul_view_is_weight_slice_times_pixel():
    # Seed 001: a [3, 5, 5] image through Conv2d(3, 8, 5) gives [8, 1, 1]; the sum over pixels (r, c)
    # of weight[..., r, c] ([8, 3]) @ img[..., r, c] ([3]) is the whole output vector.
    rng = np.random.default_rng(1)
    img = rng.random((1, 3, 5, 5)).astype(np.float32)
    weight = rng.uniform(-0.1, 0.1, (8, 3, 5, 5)).astype(np.float32)
    layer = convcalc.Conv2d(3, 8, 5, bias=False)
    e = explain(layer, img, {"weight": weight}, (0, 5, 0, 0), view="matmul")
    assert len(e.matmul) == 25 and e.matmul_channels == list(range(8))
    for term in e.matmul:
        r, c = term.tap
        assert np.array(term.weight).shape == (8, 3)
        np.testing.assert_array_equal(np.array(term.weight, np.float32), weight[..., r, c])
        np.testing.assert_array_equal(np.array(term.pixel, np.float32), img[0, :, r, c])
        np.testing.assert_allclose(term.product, weight[..., r, c].astype(np.float64) @ img[0, :, r, c], rtol=1e-12)
    forward = layer.forward(img, {"weight": weight}).reshape(-1)
    np.testing.assert_allclose(e.matmul_total, forward, rtol=1e-5, atol=1e-6)
    assert e.matmul_forward == forward.tolist() and e.agrees


def test_seed_001_grouped_matmul_view_uses_the_groups_slice():
    # Seed 001's second half: groups=2, [8, 4/2, 5, 5]; channel 5 is in group 1, reading inputs 2–3.
    rng = np.random.default_rng(2)
    img = rng.random((1, 4, 5, 5))
    weight = rng.uniform(-0.1, 0.1, (8, 2, 5, 5))
    e = explain(convcalc.Conv2d(4, 8, 5, groups=2, bias=False), img, {"weight": weight}, (0, 5, 0, 0),
                view="matmul")
    assert (e.group.group, e.group.in_channels, e.group.out_channels) == (1, [2, 3], [4, 5, 6, 7])
    assert np.array(e.matmul[0].weight).shape == (4, 2) and e.agrees


# -- agreement with the forward pass on random configurations ---------------------------------------

SETTINGS = examples(150)


def _at(draw, shape):
    return int_tuple(draw, len(shape), 0, [n - 1 for n in shape])


def _check(layer, x, params, at, **kwargs):
    e = explain(layer, x, params, at, **kwargs)
    assert e.agrees, (layer, at, e.total, e.forward)
    np.testing.assert_allclose(e.total, e.forward, rtol=1e-5, atol=1e-5)
    return e


@st.composite
def conv_cases(draw):
    nd = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 3))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel = int_tuple(draw, nd, 1, 3)
    stride = int_tuple(draw, nd, 1, 3)
    dilation = int_tuple(draw, nd, 1, 2)
    mode = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    padding = draw(st.one_of(st.just("same"), st.just("valid"), st.tuples(*[st.integers(0, 2)] * nd)))
    if padding == "same":
        stride = (1,) * nd
    bias = draw(st.booleans())
    spatial = int_tuple(draw, nd, 1, 6 if nd < 3 else 4)
    shape = ((draw(st.integers(1, 2)),) if draw(st.booleans()) else ()) + (cin, *spatial)
    try:
        layer = getattr(convcalc, f"Conv{nd}d")(cin, cout, kernel, stride, padding, dilation, groups, bias, mode)
        out = layer.output_shape(shape)
    except ConvcalcError:
        assume(False)
    return layer, shape, _at(draw, out), draw(st.sampled_from(["sum", "matmul"]))


def _random_params(layer, rng):
    return {name: rng.standard_normal(shape).astype(np.float32) for name, shape in layer.param_shapes().items()}


@SETTINGS
@given(conv_cases(), seeds)
def test_conv_explanation_equals_the_forward_pass(case, seed):
    layer, shape, at, view = case
    rng = np.random.default_rng(seed)
    e = _check(layer, rng.standard_normal(shape).astype(np.float32), _random_params(layer, rng), at, view=view)
    assert len(e.terms) == layer.in_channels // layer.groups
    if view == "matmul":
        np.testing.assert_allclose(e.matmul_total, e.matmul_forward, rtol=1e-5, atol=1e-5)


@st.composite
def transposed_cases(draw):
    nd = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 2))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel = int_tuple(draw, nd, 1, 3)
    stride = int_tuple(draw, nd, 1, 3)
    dilation = int_tuple(draw, nd, 1, 2)
    padding = int_tuple(draw, nd, 0, 2)
    output_padding = int_tuple(draw, nd, 0, 2)
    spatial = int_tuple(draw, nd, 1, 4)
    shape = ((draw(st.integers(1, 2)),) if draw(st.booleans()) else ()) + (cin, *spatial)
    try:
        layer = getattr(convcalc, f"ConvTranspose{nd}d")(cin, cout, kernel, stride, padding, output_padding,
                                                         groups, draw(st.booleans()), dilation)
        out = layer.output_shape(shape)
    except ConvcalcError:
        assume(False)
    return layer, shape, _at(draw, out)


@SETTINGS
@given(transposed_cases(), seeds)
def test_transposed_explanation_equals_the_forward_pass(case, seed):
    layer, shape, at = case
    rng = np.random.default_rng(seed)
    e = _check(layer, rng.standard_normal(shape).astype(np.float32), _random_params(layer, rng), at)
    for s in e.scatter:  # every pair really lands on the chosen output position
        landed = [i * st_ + t * d - p for i, t, st_, d, p in zip(s.position, s.tap, layer.stride, layer.dilation,
                                                                  layer.padding)]
        assert landed == list(e.spatial)


@st.composite
def pool_cases(draw):
    nd = draw(st.integers(1, 3))
    kind = draw(st.sampled_from(["Max", "Avg"]))
    kernel = int_tuple(draw, nd, 1, 3)
    stride = int_tuple(draw, nd, 1, 3)
    padding = int_tuple(draw, nd, 0, [k // 2 for k in kernel])
    ceil_mode = draw(st.booleans())
    spatial = int_tuple(draw, nd, 1, 6 if nd < 3 else 4)
    shape = ((draw(st.integers(1, 2)),) if draw(st.booleans()) else ()) + (draw(st.integers(1, 2)), *spatial)
    cls = getattr(convcalc, f"{kind}Pool{nd}d")
    try:
        if kind == "Max":
            dilation = int_tuple(draw, nd, 1, 2)
            layer = cls(kernel, stride, padding, dilation, draw(st.booleans()), ceil_mode)
        elif nd == 1:
            layer = cls(kernel, stride, padding, ceil_mode, draw(st.booleans()))
        else:
            override = draw(st.one_of(st.none(), st.integers(1, 5), st.integers(-3, -1)))
            layer = cls(kernel, stride, padding, ceil_mode, draw(st.booleans()), override)
        out = layer.output_shape(shape)
    except ConvcalcError:
        assume(False)
    return layer, shape, _at(draw, out)


@SETTINGS
@given(pool_cases(), seeds, st.booleans())
def test_pool_explanation_equals_the_forward_pass(case, seed, ties):
    layer, shape, at = case
    rng = np.random.default_rng(seed)
    # Small whole numbers make ties: the first maximum in window order must be the one torch picks.
    x = rng.integers(-2, 3, shape).astype(np.float32) if ties else rng.standard_normal(shape).astype(np.float32)
    e = _check(layer, x, {}, at)
    if e.kind == "max":
        assert e.pool.chosen is None or e.pool.flat_index == e.pool.forward_index
    else:
        assert e.pool.divisor == layer.divisor(e.spatial, shape[-layer.nd:])


# -- details ----------------------------------------------------------------------------------------


def test_padding_and_dilation_are_marked():
    layer = convcalc.Conv2d(1, 1, 3, padding=1, dilation=2, bias=False)
    e = explain(layer, np.ones((1, 5, 5)), {"weight": np.ones((1, 1, 3, 3))}, (0, 0, 0))
    assert e.axes[0].positions == [-1, 1, 3] and e.axes[0].kinds == ["padding", "input", "input"]
    assert e.axes[0].holes == [0, 2] and e.total == 4.0 == e.forward


def test_reflect_padding_names_the_cell_it_reads():
    layer = convcalc.Conv1d(1, 1, 3, padding=1, padding_mode="reflect", bias=False)
    x = np.array([[1.0, 2.0, 3.0]])
    e = explain(layer, x, {"weight": np.array([[[1.0, 10.0, 100.0]]])}, (0, 0))
    assert e.axes[0].source == [1, None, None] and e.terms[0].values == [2.0, 1.0, 2.0] and e.total == 212.0


def test_avg_pool_divisor_reasons_name_the_rule():
    pool = convcalc.AvgPool1d(3, stride=3, padding=1, ceil_mode=True, count_include_pad=True)
    e = explain(pool, np.arange(6.0)[None], {}, (0, 2))
    assert e.pool.divisor == 2 and e.total == 5.0 / 2
    assert "ceil_mode overhang" in e.pool.divisor_reason[0] and "1 padding counted" in e.pool.divisor_reason[0]
    override = convcalc.AvgPool2d(2, divisor_override=3)
    e = explain(override, np.ones((1, 2, 2)), {}, (0, 0, 0))
    assert e.pool.divisor == 3 and "divisor_override=3" in e.pool.divisor_reason[0]


def test_unsupported_layers_and_views_are_named():
    with pytest.raises(ConvcalcError, match="explains Conv1d"):
        explain(convcalc.LPPool1d(2, 2), np.ones((1, 4)), {}, (0, 0))
    with pytest.raises(ConvcalcError, match="--view matmul is for convolutions"):
        explain(convcalc.MaxPool1d(2), np.ones((1, 4)), {}, (0, 0), view="matmul")


@pytest.mark.parametrize("text, message", [
    ("0,0,0", "has 3 indices but the output \\[1, 4, 2, 2\\] has 4 dims"),
    ("0,4,0,0", "index 4 is out of range for dim 1 .* use 0 to 3"),
    ("0,0,-1,0", "index -1 is out of range for dim 2"),
    ("a,b", "not a whole number"),
])
def test_bad_at(text, message):
    with pytest.raises(ConvcalcError, match=message):
        parse_at(text, (1, 4, 2, 2))


# -- the command ------------------------------------------------------------------------------------


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("explain", context_settings=PASS_THROUGH)(explain_command)

    @app.command("other")
    def other() -> None:  # a second command keeps "explain" a subcommand, as in convcalc's app
        pass

    return app


def run(*argv: str, monkeypatch=None):
    """Call the command the way convcalc.cli.app.main does: a ConvcalcError is exit 2, one line on stderr."""
    from convcalc.cli.output import one_line as _one_line

    runner = CliRunner()
    result = runner.invoke(_app(), ["explain", *argv], env={"COLUMNS": "100", "NO_COLOR": "1"})
    if isinstance(result.exception, ConvcalcError):
        return 2, result.stdout, f"convcalc: error: {_one_line(str(result.exception))}\n"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, ""


def _seed_000_files(tmp_path):
    np.save(tmp_path / "output0.npy", OUTPUT0)
    np.savez(tmp_path / "layer1.npz", weight=WEIGHT1)
    return ["--input-file", str(tmp_path / "output0.npy"), "--weights", str(tmp_path / "layer1.npz")]


def test_cli_seed_000_json(tmp_path):
    code, out, _ = run("conv2d", "--out", "4", "-k", "2", "-s", "2", "--no-bias", *_seed_000_files(tmp_path),
                       "--at", "0,0,0,0", "--json")
    assert code == 0
    data = json.loads(out)
    assert [t["sum"] for t in data["terms"]] == [-6.0, -2.0] and data["total"] == -8.0 and data["agrees"]


def test_cli_seed_000_snapshot(tmp_path):
    code, out, _ = run("conv2d", "--out", "4", "-k", "2", "-s", "2", "--no-bias", *_seed_000_files(tmp_path))
    assert code == 0
    assert "total = -6 + -2 = -8" in out and "✓ the forward pass gives -8" in out
    path = SNAPSHOTS / "explain_seed000.txt"
    if os.environ.get("CONVCALC_UPDATE_SNAPSHOTS"):
        path.write_text(out)
    assert out == path.read_text()


def test_cli_random_tensors_follow_fill_and_seed():
    args = ("conv2d", "--out", "2", "-k", "2", "-i", "1x2x3x3", "--fill", "randint:-1,1",
            "--fill-weights", "randint:-1,1", "--seed", "7", "--json", "--at", "0,1,1,0")
    first, second = run(*args), run(*args)
    assert first[0] == 0 and first[1] == second[1]
    data = json.loads(first[1])
    assert set(data["terms"][0]["values"]) <= {-1.0, 0.0, 1.0} and data["agrees"]
    result = convcalc.single.run.run_layer(convcalc.Conv2d(2, 2, 2), (1, 2, 3, 3), fill="randint:-1,1",
                                    fill_weights="randint:-1,1", seed=7)
    assert data["forward"] == float(result.output[0, 1, 1, 0])


@pytest.mark.parametrize("argv", [
    ("convtranspose2d", "--out", "2", "-k", "3", "-s", "2", "-i", "1x2x3x3", "--at", "0,1,2,3"),
    ("convtranspose1d", "--out", "1", "-k", "3", "-s", "2", "--output-size", "8", "-i", "1x1x3", "--at", "0,0,7"),
    ("maxpool2d", "-k", "3", "-s", "2", "-p", "1", "--ceil-mode", "-i", "1x1x4x4", "--at", "0,0,2,2"),
    ("avgpool3d", "-k", "2", "-p", "1", "--no-count-include-pad", "-i", "1x2x3x3x3", "--at", "0,1,1,1,1"),
    ("conv2d", "--out", "4", "-k", "3", "-g", "2", "-d", "2", "-p", "same", "-i", "1x2x5x5", "--view", "matmul"),
])
def test_cli_layer_families(argv):
    code, out, err = run(*argv)
    assert code == 0, err
    assert "✓ the forward pass gives" in out


@pytest.mark.parametrize("argv, message", [
    (("--at", "0,0,9,0"), "index 9 is out of range for dim 2"),
    (("--at", "0,0"), "has 2 indices but the output"),
    (("--view", "rows"), "--view 'rows' is not one of"),
])
def test_cli_bad_input_exit_2_one_line(argv, message):
    code, out, err = run("conv2d", "--out", "4", "-k", "2", "-i", "1x2x4x4", *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err


def test_cli_needs_an_input():
    code, _, err = run("conv2d", "--out", "4", "-k", "2")
    assert code == 2 and "--input" in err


def test_render_without_colour_marks_padding_and_the_maximum():
    from rich.console import Console

    e = explain(convcalc.MaxPool1d(3, stride=1, padding=1), np.array([[5.0, 1.0]]), {}, (0, 0))
    console = Console(width=100, force_terminal=False, no_color=True, record=True)
    console.print(render_explain(e))
    text = console.export_text()
    assert "(-inf)  [5]  1" in text and "flat index 0" in text


def test_cli_unsupported_layer_is_refused_before_running():
    code, out, err = run("linear", "--out", "3", "-i", "2x4")
    assert code == 2 and out == "" and "explain cannot take Linear apart; it explains Conv1d" in err


# -- bounded whatever the layer ---------------------------------------------------------------------


def test_many_input_channels_list_the_first_and_sum_the_rest():
    """1x3000x3x3 drew 3000 tables (13.5 s): 16 channels are listed, the others summed."""
    from convcalc.teach.explain import TERMS_LISTED

    rng = np.random.default_rng(0)
    layer = convcalc.Conv2d(3000, 1, 3)
    x, params = rng.standard_normal((1, 3000, 3, 3)), _random_params(layer, rng)
    e = _check(layer, x, params, (0, 0, 0, 0))
    assert [t.channel for t in e.terms] == list(range(TERMS_LISTED))
    other = e.other_channels
    assert (other.first, other.last, other.count) == (TERMS_LISTED, 2999, 3000 - TERMS_LISTED)
    every = (x[0] * params["weight"][0]).reshape(3000, -1).sum(axis=1)
    np.testing.assert_allclose(other.sum, every[TERMS_LISTED:].sum(), rtol=1e-9)
    assert json.loads(json.dumps(e.to_json()))["other_channels"]["count"] == 3000 - TERMS_LISTED


def test_transposed_many_channels_count_the_pairs_they_add():
    rng = np.random.default_rng(1)
    layer = convcalc.ConvTranspose2d(40, 1, 3)
    e = _check(layer, rng.standard_normal((1, 40, 3, 3)), _random_params(layer, rng), (0, 0, 2, 2))
    assert len(e.scatter) == 16 * 9 and e.other_channels.scatter == 24 * 9


def test_windows_too_large_to_take_apart_are_refused():
    with pytest.raises(ConvcalcError, match="at most 1,024 taps, and kernel_size=\\(300, 300\\) has 90,000"):
        explain(convcalc.Conv2d(1, 1, 300), np.zeros((1, 1, 300, 300)), {"weight": np.zeros((1, 1, 300, 300))})
    with pytest.raises(ConvcalcError, match="--view matmul shows .* this layer's are 40×3 over 9"):
        explain(convcalc.Conv2d(3, 40, 3), np.zeros((1, 3, 3, 3)), {"weight": np.zeros((40, 3, 3, 3))}, view="matmul")


def test_dilation_holes_are_listed_up_to_a_bound():
    from convcalc.teach.explain import HOLES_LISTED

    e = explain(convcalc.MaxPool1d(2, dilation=10**6), np.zeros((1, 1, 10**6 + 1)), {}, (0, 0, 0))
    axis = e.axes[0]
    assert axis.holes == list(range(1, HOLES_LISTED + 1)) and axis.holes_total == 10**6 - 1


def test_large_grids_are_drawn_cut_to_their_edges():
    from rich.console import Console

    e = explain(convcalc.MaxPool2d(30), np.arange(900.0).reshape(1, 1, 30, 30), {}, (0, 0, 0, 0))
    console = Console(width=200, force_terminal=False, no_color=True, record=True)
    console.print(render_explain(e))
    text = console.export_text()
    assert "rows 0, 1, 2, 3, 4, …, 25, 26, 27, 28, 29 of 0..29" in text
    assert "0    1    2    3    4  …   25   26   27   28     29" in text
    assert "⋮" in text and "898  [899]" in text
