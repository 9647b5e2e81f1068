"""Hand-worked conv and pooling examples (small integer tensors with the outputs their authors
printed), reproduced exactly (no torch needed)."""

from __future__ import annotations

import json

import numpy as np

import convcalc

# Example 000: torch.randint(-1, 1) input and weights, as the worked example printed them.
INPUT0 = np.array([[
    [-1, 0, 0, -1, 0, 0, 0, 0],
    [0, 0, 0, -1, -1, 0, -1, -1],
    [-1, -1, -1, 0, -1, 0, 0, -1],
    [-1, 0, 0, 0, 0, -1, 0, -1],
    [0, -1, 0, 0, -1, 0, 0, -1],
    [-1, 0, -1, 0, 0, 0, 0, 0],
    [-1, 0, -1, 0, 0, 0, 0, -1],
    [0, -1, -1, 0, 0, -1, 0, -1],
]], dtype=np.float32)[None]
WEIGHT0 = np.array([[[[-1, -1], [-1, 0]]], [[[0, -1], [0, -1]]]], dtype=np.float32)
OUTPUT0 = np.array([[
    [[1, 1, 1, 1], [3, 1, 1, 1], [2, 1, 1, 1], [1, 2, 0, 1]],
    [[0, 2, 0, 1], [1, 0, 1, 2], [1, 0, 0, 1], [1, 0, 1, 2]],
]], dtype=np.float32)
WEIGHT1 = np.array([
    [[[-1, -1], [-1, -1]], [[0, -1], [0, -1]]],
    [[[0, 0], [0, 0]], [[0, -1], [0, 0]]],
    [[[0, 0], [-1, 0]], [[0, -1], [-1, 0]]],
    [[[-1, -1], [-1, -1]], [[0, 0], [-1, -1]]],
], dtype=np.float32)
OUTPUT1 = np.array([[
    [[-8, -7], [-6, -6]], [[-2, -1], [0, -1]], [[-6, -3], [-2, -2]], [[-7, -7], [-7, -6]],
]], dtype=np.float32)


def test_seed_000_two_layers():
    layer0 = convcalc.Conv2d(1, 2, kernel_size=2, stride=2, padding=0, bias=False)
    layer1 = convcalc.Conv2d(2, 4, kernel_size=2, stride=2, padding=0, bias=False)
    output0 = layer0.forward(INPUT0, {"weight": WEIGHT0})
    np.testing.assert_array_equal(output0, OUTPUT0)
    np.testing.assert_array_equal(layer1.forward(output0, {"weight": WEIGHT1}), OUTPUT1)


def test_seed_000_hand_decomposition():
    # "kernel for layer1, in_channel 0 and 1, out_channel 0, times output0's top-left corner": -6 + -2 = -8
    per_channel = (WEIGHT1[0] * OUTPUT0[0, :, :2, :2]).sum(axis=(1, 2))
    assert per_channel.tolist() == [-6.0, -2.0] and per_channel.sum() == OUTPUT1[0, 0, 0, 0]


def test_seed_000_as_a_network_with_weights(tmp_path):
    net = convcalc.parse_network(
        "Conv2d(1, 2, kernel_size=2, stride=2, bias=False)\nConv2d(2, 4, kernel_size=2, stride=2, bias=False)"
    )
    output, activations = net.forward(INPUT0, {"0.weight": WEIGHT0, "1.weight": WEIGHT1}, record=True)
    np.testing.assert_array_equal(activations["0"], OUTPUT0)
    np.testing.assert_array_equal(output, OUTPUT1)


# Example 003: a ones input makes every output the kernel's sum plus the bias.
WEIGHT3 = np.array([
    [[[-0.0789, -0.1932, -0.0990], [0.1571, -0.1784, -0.2334], [0.0311, -0.2595, 0.2222]]],
    [[[-0.0703, -0.3159, -0.3295], [0.0723, 0.3019, 0.2649], [-0.2217, 0.0680, -0.0699]]],
    [[[-0.0736, -0.1608, 0.1905], [0.2738, 0.2758, -0.2776], [-0.0246, -0.1781, -0.0279]]],
], dtype=np.float32)
BIAS3 = np.array([0.3255, -0.0044, 0.0733], dtype=np.float32)
PRINTED3 = [-0.3065, -0.3046, 0.0710]


def test_seed_003_ones_input_gives_kernel_sum_plus_bias():
    out = convcalc.Conv2d(1, 3, kernel_size=3).forward(np.ones((1, 1, 5, 5), np.float32),
                                                       {"weight": WEIGHT3, "bias": BIAS3})
    assert out.shape == (1, 3, 3, 3)
    for channel, printed in enumerate(PRINTED3):
        expected = WEIGHT3[channel].sum() + BIAS3[channel]
        np.testing.assert_allclose(out[0, channel], expected, rtol=1e-6)
        assert abs(expected - printed) < 5e-4  # the example printed 4 decimals of the same numbers


def test_seed_003_through_the_cli(cli, tmp_path):
    weights = tmp_path / "w.npz"
    np.savez(weights, weight=WEIGHT3, bias=BIAS3)
    data = json.loads(cli("conv2d", "--in", "1", "--out", "3", "-k", "3", "-i", "1x1x5x5", "--fill", "ones",
                          "--weights", str(weights), "--json").stdout)
    output = np.array(data["tensors"]["output"]["data"], dtype=np.float32)
    np.testing.assert_allclose(output[0, :, 1, 1], WEIGHT3.sum(axis=(1, 2, 3)) + BIAS3, rtol=1e-6)
