"""The prepared plan of a network's forward pass (convcalc.network.plan): the same outputs as
the step-by-step path with and without its folds and on one or more threads; what it folds and
when it must not; what it keeps between calls."""

from __future__ import annotations

import numpy as np
import pytest

import convcalc
from convcalc.kernels.threads import use_threads
from convcalc.network.plan import prepare_plan
from forward_compare import assert_close

# Each way of running a network: (prepared, fold).
WAYS = [(True, True), (True, False), (False, False)]


def _bn_params(rng: np.random.Generator, prefix: str, channels: int) -> dict[str, np.ndarray]:
    return {
        f"{prefix}.weight": rng.uniform(0.5, 1.5, channels).astype(np.float32),
        f"{prefix}.bias": rng.normal(0, 0.1, channels).astype(np.float32),
        f"{prefix}.running_mean": rng.normal(0, 0.5, channels).astype(np.float32),
        f"{prefix}.running_var": rng.uniform(0.5, 2.0, channels).astype(np.float32),
        f"{prefix}.num_batches_tracked": np.array(0, np.int64),
    }


def _random_params(network: convcalc.Network, shape: tuple[int, ...], seed: int = 0) -> dict[str, np.ndarray]:
    """Every state_dict entry of the network for ``shape``, random, BatchNorm's statistics
    non-trivial (float32)."""
    from convcalc.network.execute import state_dict_shapes

    rng = np.random.default_rng(seed)
    shapes = state_dict_shapes(network.trace(shape))
    params = {key: rng.standard_normal(s).astype(np.float32) * 0.3 for key, s in shapes.items()}
    for key in [k for k in shapes if k.endswith("running_var")]:
        prefix = key.rsplit(".", 1)[0]
        params.update({k: v for k, v in _bn_params(rng, prefix, shapes[key][0]).items() if k in shapes})
    return params


def _network_case(spec: str, seed: int) -> tuple[convcalc.Network, dict[str, np.ndarray], np.ndarray]:
    """The network a spec describes, random params for its input shape and a float32 input."""
    network = convcalc.parse_network(spec)
    params = _random_params(network, network.input_shape)
    return network, params, np.random.default_rng(seed).standard_normal(network.input_shape).astype(np.float32)


SPECS = {
    "conv-bn-relu": ("input 2x3x12x12\nconv2d --out 8 -k 3 -p 1\nbatchnorm2d\nrelu\nconv2d --out 4 -k 3 -s 2 --no-bias"
                     "\nbatchnorm2d\nrelu6\nmaxpool2d -k 2"),
    "transposed-bn": "input 1x6x5x5\nconvtranspose2d --out 4 -k 4 -s 2 -p 1 -g 2\nbatchnorm2d\nrelu",
    "linear-bn": "input 4x10\nlinear --out 6 --no-bias\nbatchnorm1d\nrelu\nlinear --out 3",
    "conv1d-bn": "input 2x5x20\nconv1d --out 6 -k 3 -d 2\nbatchnorm1d\ntanh",
    "conv3d-bn": "input 1x2x4x6x6\nconv3d --out 3 -k 3 -p 1\nbatchnorm3d\nsigmoid",
    "maxpool-indices": "input 1x2x6x6\nconv2d --out 3 -k 3\nMaxPool2d(2, return_indices=True)\nrelu",
    "residual": ("input 1x4x8x8\nresidual {\n  conv2d --out 4 -k 3 -p 1\n  batchnorm2d\n  relu\n  conv2d --out 4 -k 3 -p 1\n"
                 "  batchnorm2d\n}\nrelu"),
}


@pytest.mark.parametrize("name", sorted(SPECS))
@pytest.mark.parametrize("threads", [1, 2])
def test_every_way_gives_the_same_output(name, threads):
    """Plan with folds, plan without, step by step: within float32 round-off of each other, at
    one thread and on the thread pool; the plan's second call (the one that reuses it) too."""
    network = convcalc.parse_network(SPECS[name])
    shape = network.input_shape
    params = _random_params(network, shape)
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    with use_threads(1):
        want = network.forward(x, params, prepared=False)
    with use_threads(threads, least_chunk_bytes=0 if threads > 1 else None):  # tiny inputs split too
        for prepared, fold in WAYS:
            first = network.forward(x, params, prepared=prepared, fold=fold)
            again = network.forward(x, params, prepared=prepared, fold=fold)
            assert_close(first, want, f"{name} prepared={prepared} fold={fold}", scale_floor=0)
            np.testing.assert_array_equal(again, first)


def test_batchnorm_folds_into_the_conv_before_it():
    network = convcalc.parse_network(SPECS["conv-bn-relu"])
    params = _random_params(network, network.input_shape)
    x = np.ones(network.input_shape, np.float32)
    plan, first = prepare_plan(network.trace(), x, params)
    assert plan.folded == ["1", "4"]
    assert len(plan.ops) == 5  # 7 layers, 2 BatchNorms folded away
    unfolded, _ = prepare_plan(network.trace(), x, params, fold=False)
    assert unfolded.folded == [] and len(unfolded.ops) == 7
    assert_close(first.output, unfolded.run(x).output, "folded against not", scale_floor=0)


def test_nothing_is_folded_when_the_activations_are_recorded():
    """What a caller asks to see is each layer's own output: the conv's before its BatchNorm."""
    network, params, x = _network_case(SPECS["conv-bn-relu"], 2)
    plan, run = prepare_plan(network.trace(), x, params, record=True)
    assert plan.folded == []
    _, want = network.forward(x, params, record=True, prepared=False)
    output, got = network.forward(x, params, record=True)
    assert list(got) == list(want) == ["0", "1", "2", "3", "4", "5", "6"]
    for key in want:
        assert_close(got[key], want[key], key, scale_floor=0)
    assert_close(output, run.output, "output", scale_floor=0)


@pytest.mark.parametrize("spec, why", [
    ("input 1x3x6x6\nNet(\n  (conv): Conv2d(3, 4, 3)\n  (bn): BatchNorm2d(4)\n)\nclass Net:\n  def forward(self, x):\n"
     "    y = self.conv(x)\n    return self.bn(y) + y", "the conv's output is read twice"),
    ("input 1x3x6x6\nconv2d --out 4 -k 3\nBatchNorm2d(4, track_running_stats=False)", "no running statistics"),
    ("input 1x3x6x6\nconv2d --out 4 -k 3\nInstanceNorm2d(4, track_running_stats=True)", "not a BatchNorm"),
    ("input 3x6\nConv1d(3, 4, 3)\nBatchNorm1d(4)", "the conv is unbatched: its channels are at dim 0"),
    ("input 1x3x6x6\nconv2d --out 4 -k 3\nrelu\nbatchnorm2d", "the BatchNorm does not follow the conv"),
])
def test_what_is_not_folded(spec, why):
    network, params, x = _network_case(spec, 3)
    plan, run = prepare_plan(network.trace(), x, params)
    assert plan.folded == [], why
    assert_close(run.output, network.forward(x, params, prepared=False), why, scale_floor=0)


def test_no_fold_across_dtypes():
    """A float64 input through float32 weights computes in float64: folding the statistics into
    the float32 weight would round them to float32, so the plan leaves them apart."""
    network = convcalc.parse_network(SPECS["conv-bn-relu"])
    params = _random_params(network, network.input_shape)
    x = np.random.default_rng(4).standard_normal(network.input_shape)
    plan, run = prepare_plan(network.trace(), x, params)
    assert plan.folded == [] and run.output.dtype == np.float64
    assert_close(run.output, network.forward(x, params, prepared=False), "float64", scale_floor=0)


def test_the_plan_is_kept_for_the_same_params_and_made_again_for_new_ones():
    network = convcalc.parse_network("input 1x4\nlinear --out 2 --no-bias")
    x = np.ones((1, 4), np.float32)
    params = {"0.weight": np.ones((2, 4), np.float32)}
    assert network.forward(x, params).tolist() == [[4.0, 4.0]]
    plans = list(network._plans.values())
    assert network.forward(x, params).tolist() == [[4.0, 4.0]]
    assert list(network._plans.values()) == plans  # reused, not prepared again
    params["0.weight"] = np.full((2, 4), 2.0, np.float32)  # a new array under the same key
    assert network.forward(x, params).tolist() == [[8.0, 8.0]]
    assert network.forward(x, {"0.weight": np.zeros((2, 4), np.float32)}).tolist() == [[0.0, 0.0]]
    assert network.forward(np.ones((3, 4), np.float32), params).shape == (3, 2)  # another shape
    assert network.forward(x, params, prepared=False).tolist() == [[8.0, 8.0]]


def test_a_submodule_has_plans_of_its_own():
    network = convcalc.parse_network("Net(\n  (a): Linear(2, 2, bias=False)\n  (b): ReLU()\n)")
    x = np.array([[1.0, -1.0]], np.float32)
    params = {"a.weight": -np.eye(2, dtype=np.float32)}
    assert network.forward(x, params).tolist() == [[0.0, 1.0]]
    assert network.module("b").forward(x).tolist() == [[1.0, 0.0]]


def test_progress_is_reported_for_every_step():
    network = convcalc.parse_network(SPECS["conv-bn-relu"])
    params = _random_params(network, network.input_shape)
    x = np.ones(network.input_shape, np.float32)
    seen: list[tuple[int, int]] = []
    plan, _ = prepare_plan(network.trace(), x, params, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(i, 7) for i in range(1, 8)]
    seen.clear()
    plan.run(x, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 7), (3, 7), (4, 7), (6, 7), (7, 7)]  # the folded BatchNorms run with their conv


def test_activations_run_in_place_on_a_fresh_output():
    """ReLU after a conv (its BatchNorm folded) and ReLU6 after one write over the conv's
    output; the result is the step-by-step one, and neither the input nor a weight changes."""
    network = convcalc.parse_network(SPECS["conv-bn-relu"])
    params = _random_params(network, network.input_shape)
    kept = {key: value.copy() for key, value in params.items()}
    x = np.random.default_rng(5).standard_normal(network.input_shape).astype(np.float32)
    x_before = x.copy()
    plan, run = prepare_plan(network.trace(), x, params)
    assert plan.in_place == ["2", "5"]
    again = plan.run(x)
    want = network.forward(x, params, prepared=False)
    assert_close(run.output, want, "first", scale_floor=0)
    assert_close(again.output, want, "again", scale_floor=0)
    np.testing.assert_array_equal(x, x_before)
    for key, value in kept.items():
        np.testing.assert_array_equal(params[key], value, key)


@pytest.mark.parametrize("spec, why", [
    ("input 1x3x4\nrelu", "the network's input is the caller's"),
    ("input 1x3x4\nIdentity()\nrelu", "Identity's output is its input"),
    ("input 1x3x4\nflatten\nrelu", "a flatten's output is a view of its input"),
    ("input 1x3x6x6\nNet(\n  (conv): Conv2d(3, 4, 3)\n  (act): ReLU()\n)\nclass Net:\n  def forward(self, x):\n"
     "    y = self.conv(x)\n    return self.act(y) + y", "the conv's output is read twice"),
    ("input 1x3x6x6\nconv2d --out 4 -k 3\nmaxpool2d -k 2\nrelu", "a max-pool is not declared fresh"),
    ("input 1x3x6x6\nconv2d --out 4 -k 3\nleakyrelu", "LeakyReLU's kernel does not write over its input"),
])
def test_what_does_not_run_in_place(spec, why):
    network, params, x = _network_case(spec, 6)
    x_before = x.copy()
    plan, run = prepare_plan(network.trace(), x, params)
    assert plan.in_place == [], why
    assert_close(plan.run(x).output, network.forward(x, params, prepared=False), why, scale_floor=0)
    np.testing.assert_array_equal(x, x_before)


def test_nothing_runs_in_place_when_the_activations_are_recorded():
    network, params, x = _network_case(SPECS["residual"], 7)
    plan, _ = prepare_plan(network.trace(), x, params)
    assert plan.in_place == ["0.2", "1"]  # the ReLU after the add too
    recorded, run = prepare_plan(network.trace(), x, params, record=True)
    assert recorded.in_place == [] and recorded.folded == []
    _, want = network.forward(x, params, record=True, prepared=False)
    for key, value in want.items():
        assert_close(run.activations[key], value, key, scale_floor=0)


@pytest.mark.parametrize("name", ["ReLU", "ReLU6", "Hardtanh", "Sigmoid", "Tanh"])
@pytest.mark.parametrize("threads", [1, 2])
def test_an_activation_written_over_its_input(name, threads):
    """In place (on the pool's pieces too) it gives what it gives into a new array."""
    layer = getattr(convcalc, name)()
    x = np.random.default_rng(8).standard_normal((3, 4, 50)).astype(np.float32) * 4
    x[0, 0, :3] = [np.nan, np.inf, -np.inf]
    with use_threads(threads, least_chunk_bytes=0 if threads > 1 else None):
        want = layer.forward(x)
        over = x.copy()
        assert layer.prepare(over, in_place=True)(over) is over
        # an input of that shape that is not contiguous: the kernel as it comes
        strided = np.random.default_rng(8).standard_normal((3, 50, 4)).astype(np.float32).transpose(0, 2, 1) * 4
        want_strided = layer.forward(strided)
        assert layer.prepare(over, in_place=True)(strided) is strided
    np.testing.assert_array_equal(over, want)
    np.testing.assert_array_equal(strided, want_strided)


def test_only_a_declared_layer_writes_over_its_input():
    with pytest.raises(convcalc.ConvcalcError, match="LeakyReLU: cannot write its result over"):
        convcalc.LeakyReLU().prepare(np.zeros(3), in_place=True)
    with pytest.raises(convcalc.ConvcalcError, match="ReLU: cannot write its result over a float32 input of 0 dims"):
        convcalc.ReLU().prepare(np.float32(1.0), in_place=True)


@pytest.mark.parametrize("spec, dtype", [
    ("input 3x8x8\nconv2d --out 4 -k 3 -p 1\nrelu", np.float32),  # unbatched
    ("input 2x3x8\nconv1d --out 4 -k 3 --padding-mode reflect -p 1\nrelu", np.int64),  # integers become float32
    ("input 2x3x8x8\nconv2d --out 4 -k 3 -g 1\nbatchnorm2d", np.float16),  # float16 comes back float16
    ("input 2x3x8x8\nconv2d --out 4 -k 3\nlinear --out 2", "float16 params"),  # so do float16 weights
])
def test_the_prepared_conv_takes_what_conv_nd_takes(spec, dtype):
    network = convcalc.parse_network(spec)
    params = _random_params(network, network.input_shape)
    if dtype == "float16 params":
        params = {name: value.astype(np.float16) for name, value in params.items()}
        dtype = np.float16
    x = (np.random.default_rng(9).standard_normal(network.input_shape) * 3).astype(dtype)
    want = network.forward(x, params, prepared=False)
    for call in range(2):
        got = network.forward(x, params)
        assert got.dtype == want.dtype
        assert_close(got, want, f"call {call}", tolerance=1e-3 if dtype == np.float16 else None, scale_floor=0)


def test_the_readme_example():
    from readme_blocks import README

    block = README.read_text().split("<!-- plan-example: run by tests/test_plan.py -->\n```python\n")[1].split("```")[0]
    names = {"convcalc": convcalc, "np": np}
    exec(block, names)
    y, unfused = names["y"], names["unfused"]
    plan, _ = prepare_plan(names["net"].trace(), names["x"], names["state"])
    assert plan.folded == ["1"] and plan.in_place == ["2"]
    assert_close(y, unfused, "folded against unfolded", scale_floor=0)
    assert_close(names["net"].forward(names["x"], names["state"], prepared=False), unfused, "step by step", scale_floor=0)


@pytest.mark.parametrize("layer, shape", [
    (convcalc.MaxPool2d(2), (1, 6, 28, 28)),
    (convcalc.MaxPool2d(3, stride=2, padding=1), (2, 3, 9, 9)),  # padded: blocks of planes
    (convcalc.MaxPool2d(3, stride=2, dilation=2, ceil_mode=True), (3, 11, 10)),  # unbatched
    (convcalc.MaxPool1d(4, stride=1), (2, 3, 40)),
    (convcalc.MaxPool3d(2), (1, 2, 4, 6, 6)),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int64])
@pytest.mark.parametrize("threads", [1, 2])
def test_a_prepared_max_pool_gives_what_forward_gives(layer, shape, dtype, threads):
    """Its windows worked out once, then every call (on the pool's spans too) exactly as
    ``forward``: NaN and ±inf where torch puts them, the dtype kept, integers in float32."""
    x = (np.random.default_rng(10).standard_normal(shape) * 5).astype(dtype)
    if dtype != np.int64:
        x.reshape(-1)[:3] = [np.nan, np.inf, -np.inf]
    with use_threads(threads, least_chunk_bytes=0 if threads > 1 else None):
        want = layer.forward(x)
        pool = layer.prepare(x)
        for call in range(2):
            got = pool(x)
            assert got.dtype == want.dtype and got.shape == want.shape, call
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("x_shape, w_shape", [
    ((3, 10), (4, 10)),
    ((10,), (4, 10)),  # one vector
    ((2, 5, 10), (6, 10)),  # leading dims
    ((16, 1024), (512, 1024)),  # few rows, big weight: W·xᵀ
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int64])
def test_a_prepared_linear_gives_what_linear_gives(x_shape, w_shape, dtype):
    from convcalc.kernels.linear import linear, prepared_linear

    rng = np.random.default_rng(11)
    x = (rng.standard_normal(x_shape) * 3).astype(dtype)
    weight, bias = rng.standard_normal(w_shape).astype(np.float32), rng.standard_normal(w_shape[0]).astype(np.float32)
    for b in (bias, None):
        want = linear(x, weight, b)
        # linear runs the prepared code too: check the shared result against plain arithmetic
        exact = x.astype(np.float64) @ weight.T.astype(np.float64) + (0 if b is None else b)
        tolerance = 2e-2 if dtype == np.float16 else 1e-4
        np.testing.assert_allclose(want.astype(np.float64), exact, rtol=tolerance, atol=tolerance * np.abs(exact).max())
        fc = prepared_linear(x.shape, x.dtype, weight, b)
        for call in range(2):
            got = fc(x)
            assert got.dtype == want.dtype and got.shape == want.shape, call
            np.testing.assert_array_equal(got, want)


def test_a_prepared_conv_cuts_its_chunks_once_per_thread_count(monkeypatch):
    """The chunk lists are worked out on the first call at a thread count and reused after it;
    another thread count gets its own, and every call gives conv_nd's result."""
    from convcalc.kernels.conv import conv_nd, dispatch

    cuts = []
    original = dispatch.chunk_lists
    monkeypatch.setattr(dispatch, "chunk_lists", lambda *args: cuts.append(args[-1]) or original(*args))
    rng = np.random.default_rng(12)
    x, weight = rng.standard_normal((4, 3, 9, 9)).astype(np.float32), rng.standard_normal((6, 3, 3, 3)).astype(np.float32)
    want = conv_nd(x, weight, pads=1)
    cuts.clear()
    conv = dispatch.prepared_conv(x.shape, x.dtype, weight, None, 1, 1, 1, 1)
    for threads in (1, 1, 2, 2, 1):
        with use_threads(threads, least_chunk_bytes=0 if threads > 1 else None):
            np.testing.assert_array_equal(conv(x), want)
    assert cuts == [1, 2]


def test_a_new_input_shape_gets_a_plan_of_its_own():
    network = convcalc.parse_network("input 1x1x12x12\nconv2d --out 3 -k 3\nrelu\nmaxpool2d -k 2\nflatten")
    params = _random_params(network, network.input_shape)
    rng = np.random.default_rng(13)
    for shape in [(1, 1, 12, 12), (2, 1, 10, 10), (1, 1, 12, 12)]:
        x = rng.standard_normal(shape).astype(np.float32)
        want = network.forward(x, params, prepared=False)
        for call in range(2):
            np.testing.assert_array_equal(network.forward(x, params), want)
    assert sorted(key[0] for key in network._plans) == [(1, 1, 12, 12), (2, 1, 10, 10)]


@pytest.mark.parametrize("prepared, fold", WAYS)
def test_an_output_that_a_later_step_also_reads_is_kept(prepared, fold):
    # LeNet's `return logits, F.softmax(logits, dim=1)`: the step after the output once freed it
    spec = ("input 1x4\nclass Net:\n    def forward(self, x):\n        y = self.fc(x)\n"
            "        z = F.relu(y)\n        return y\n\nNet(\n  (fc): Linear(in_features=4, out_features=3, bias=True)\n)\n")
    network = convcalc.parse_network(spec)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 4)).astype(np.float32) - 1
    params = {"fc.weight": rng.standard_normal((3, 4)).astype(np.float32), "fc.bias": rng.standard_normal(3).astype(np.float32)}
    want = x @ params["fc.weight"].T + params["fc.bias"]
    assert (want < 0).any()  # the relu's values would differ
    assert_close(network.forward(x, params, prepared=prepared, fold=fold), want, "output", scale_floor=0)
