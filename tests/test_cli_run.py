"""``--run`` through the real entry point: files in and out, fills, and every bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

CONV = ["conv2d", "--in", "2", "--out", "3", "-k", "3"]


def _tensors(result) -> dict:
    assert result.code == 0, result.stderr
    return {name: np.array(t["data"], dtype=np.float64) for name, t in json.loads(result.stdout)["tensors"].items()}


def test_run_shows_input_weights_and_output(cli):
    result = cli(*CONV, "-i", "1x2x5x5", "--run", "--fill", "randint:-1,1")
    assert result.code == 0, result.stderr
    for text in ("input  [1, 2, 5, 5]", "weight  [3, 2, 3, 3]", "bias  [3]", "output  [1, 3, 3, 3]"):
        assert text in result.stdout


def test_seed_makes_runs_reproducible(cli):
    a = _tensors(cli(*CONV, "-i", "1x2x5x5", "--seed", "7", "--json"))
    b = _tensors(cli(*CONV, "-i", "1x2x5x5", "--seed", "7", "--json"))
    c = _tensors(cli(*CONV, "-i", "1x2x5x5", "--seed", "8", "--json"))
    assert np.array_equal(a["output"], b["output"]) and not np.array_equal(a["output"], c["output"])


def test_ones_input_gives_kernel_sum_plus_bias(cli):
    t = _tensors(cli(*CONV, "-i", "1x2x5x5", "--fill", "ones", "--json"))
    np.testing.assert_allclose(t["output"][0, :, 0, 0], t["weight"].sum(axis=(1, 2, 3)) + t["bias"], rtol=1e-6)


def test_second_inputs_made_up_for_a_run_are_shown(cli):
    """Bilinear's input2 and MaxUnpool's indices are made up too, and shown with the input."""
    t = _tensors(cli("bilinear", "--in2-features", "4", "--out-features", "2", "-i", "2x3", "--run", "--json"))
    assert list(t) == ["input", "input2", "weight", "bias", "output"]
    np.testing.assert_allclose(
        t["output"], np.einsum("ni,oij,nj->no", t["input"], t["weight"], t["input2"]) + t["bias"], rtol=1e-5
    )
    t = _tensors(cli("maxunpool2d", "-k", "2", "-i", "1x2x3x3", "--seed", "3", "--run", "--json"))
    assert list(t) == ["input", "indices", "output"]
    planes = t["output"].reshape(2, 36)
    for channel in range(2):  # each value lands at its index, inside its 2×2 window
        indices = t["indices"][0, channel].astype(int)
        np.testing.assert_array_equal(planes[channel, indices.ravel()], t["input"][0, channel].ravel())
        rows, cols = np.divmod(indices, 6)
        assert (rows // 2 == np.arange(3)[:, None]).all() and (cols // 2 == np.arange(3)).all()


def test_input_file_formats_and_save(cli, tmp_path):
    x = np.arange(50, dtype=np.float32).reshape(1, 2, 5, 5)
    np.save(tmp_path / "x.npy", x)
    np.savetxt(tmp_path / "x.csv", x.ravel()[None], delimiter=",")
    weights = {"weight": np.ones((3, 2, 3, 3), np.float32), "bias": np.zeros(3, np.float32)}
    np.savez(tmp_path / "w.npz", **weights)
    expected = None
    for source in (["--input-file", str(tmp_path / "x.npy")], ["--input-file", str(tmp_path / "x.csv"), "-i", "1x2x5x5"]):
        out = _tensors(cli(*CONV, *source, "--weights", str(tmp_path / "w.npz"), "--json"))["output"]
        expected = out if expected is None else expected
        assert np.array_equal(out, expected) and out[0, 0, 0, 0] == x[0, :, :3, :3].sum()
    save = tmp_path / "y.npy"
    assert cli(*CONV, "--input-file", str(tmp_path / "x.npy"), "--weights", str(tmp_path / "w.npz"),
               "--save", str(save), "--json").code == 0
    np.testing.assert_array_equal(np.load(save), expected)
    again = cli(*CONV, "--input-file", str(tmp_path / "x.npy"), "--save", str(save))
    assert again.code == 2 and "--force" in again.stderr
    assert cli(*CONV, "--input-file", str(tmp_path / "x.npy"), "--save", str(save), "--force").code == 0
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".") or "tmp" in p.name] == []


def test_integer_input_is_converted_with_a_warning(cli, tmp_path):
    np.save(tmp_path / "x.npy", np.ones((1, 2, 5, 5), dtype=np.int64))
    result = cli(*CONV, "--input-file", str(tmp_path / "x.npy"), "--json")
    assert result.code == 0 and "warning" in result.stderr and "int64" in result.stderr


def test_nan_input_warns_and_carries_on(cli, tmp_path):
    x = np.ones((1, 2, 5, 5), np.float32)
    x[0, 0, 0, 0] = np.nan
    np.save(tmp_path / "x.npy", x)
    result = cli(*CONV, "--input-file", str(tmp_path / "x.npy"), "--json")
    assert result.code == 0 and "NaN" in result.stderr


def test_heatmap_mode(cli):
    result = cli(*CONV, "-i", "1x2x6x6", "--heatmap")
    assert result.code == 0 and "output" in result.stdout


BAD = [
    # (extra argv, files to write, words of the one-line message)
    (["-i", "1x2x5x5", "--weights", "{w_missing}"], "w_missing", ["missing", "bias"]),
    (["-i", "1x2x5x5", "--weights", "{w_extra}"], "w_extra", ["gamma"]),
    (["-i", "1x2x5x5", "--weights", "{w_shape}"], "w_shape", ["weight expected [3, 2, 3, 3]", "got [3, 2, 2, 2]"]),
    (["--input-file", "{x_text}", "-i", "1x2x5x5"], "x_text", ["number"]),
    (["--input-file", "{x_count}", "-i", "1x2x5x5"], "x_count", ["50"]),
    (["--input-file", "{x_trunc}"], "x_trunc", ["x_trunc"]),
    (["--input-file", "/nonexistent/x.npy"], None, ["/nonexistent/x.npy"]),
    (["-i", "64x2x512x512", "--run", "--max-memory", "1MiB"], None, ["--max-memory"]),
    (["-i", "1x2x5x5", "--fill", "gaussian"], None, ["gaussian"]),
    (["-i", "1x2x5x5", "--fill", "randint:3,1"], None, ["LOW"]),
    (["--run"], None, ["--input"]),
    (["-i", "1x2x5x5", "--seed", "x"], None, ["--seed"]),
]


def _write(kind: str, tmp_path) -> str:
    path = tmp_path / (kind + (".npz" if kind.startswith("w_") else ".npy" if kind == "x_trunc" else ".csv"))
    if kind == "w_missing":
        np.savez(path, weight=np.ones((3, 2, 3, 3)))
    elif kind == "w_extra":
        np.savez(path, weight=np.ones((3, 2, 3, 3)), bias=np.ones(3), gamma=np.ones(3))
    elif kind == "w_shape":
        np.savez(path, weight=np.ones((3, 2, 2, 2)), bias=np.ones(3))
    elif kind == "x_text":
        path.write_text("1,2,three\n")
    elif kind == "x_count":
        path.write_text(",".join(["1"] * 49) + "\n")
    elif kind == "x_trunc":
        np.save(path, np.ones((1, 2, 5, 5)))
        path.write_bytes(path.read_bytes()[:100])
    return str(path)


@pytest.mark.parametrize("argv,kind,words", BAD)
def test_bad_run_input_is_one_line_and_exit_2(cli, tmp_path, argv, kind, words):
    argv = [a.replace("{" + kind + "}", _write(kind, tmp_path)) if kind else a for a in argv]
    cli(*CONV, *argv).assert_one_error_line(words)


def test_net_run_with_state_dict_weights_and_saved_activations(cli, tmp_path):
    spec = tmp_path / "net.txt"
    spec.write_text("input 1x1x8x8\nConv2d(1, 2, kernel_size=2, stride=2, bias=False)\nConv2d(2, 4, 2, stride=2, bias=False)\n")
    np.savez(tmp_path / "w.npz", **{"0.weight": np.ones((2, 1, 2, 2)), "1.weight": np.ones((4, 2, 2, 2))})
    acts = tmp_path / "acts.npz"
    result = cli("net", str(spec), "--fill", "ones", "--weights", str(tmp_path / "w.npz"), "--save", str(acts), "--json")
    data = json.loads(result.stdout)
    assert data["layers"][1]["stats"]["max"] == 32.0 and data["output"]["shape"] == [1, 4, 2, 2]
    with np.load(acts) as saved:
        assert sorted(saved.files) == ["0", "1"] and saved["1"].max() == 32.0
    plain = cli("net", str(spec), "--fill", "ones", "--weights", str(tmp_path / "w.npz"))
    assert "mean" in plain.stdout.splitlines()[0]
    missing = cli("net", str(spec), "--weights", str(tmp_path / "w.npz"), "--input", "1x2x8x8")
    assert missing.code == 2


def test_input_file_gives_the_channel_count(cli, tmp_path):
    np.save(tmp_path / "x.npy", np.ones((1, 3, 6, 6), np.float32))
    result = cli("conv2d", "--out", "2", "-k", "3", "--input-file", str(tmp_path / "x.npy"), "--json")
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["param_shapes"]["weight"] == [2, 3, 3, 3] and data["output_shape"] == [1, 2, 4, 4]


def test_a_table_file_without_input_says_how_it_was_read(cli, tmp_path):
    np.savetxt(tmp_path / "x.csv", np.ones((4, 4)), delimiter=",")
    result = cli("maxpool2d", "-k", "2", "--input-file", str(tmp_path / "x.csv"))
    assert result.code == 2 and result.stdout == ""
    assert "x.csv was read as a table of shape 4×4: give --input SHAPE to reshape it" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_weights_file_that_does_not_fit_is_named(cli, tmp_path):
    np.savez(tmp_path / "w.npz", weight=np.ones((2, 3, 3, 3), np.float32))
    result = cli("conv2d", "--out", "2", "-k", "3", "-i", "1x3x6x6", "--weights", str(tmp_path / "w.npz"))
    assert result.code == 2 and result.stdout == ""
    assert f"{tmp_path / 'w.npz'}: missing 1 key: bias [2]" in result.stderr


def test_the_empty_state_dict_of_a_network_without_parameters_is_accepted_and_checked(cli, tmp_path):
    """Reproducer: np.savez of a ReLU's state_dict (none) was refused as "holds no arrays"."""
    empty = tmp_path / "empty.npz"
    np.savez(empty)
    relu = tmp_path / "relu.txt"
    relu.write_text("Sequential(\n  (0): ReLU()\n)\n")
    assert cli("net", str(relu), "-i", "1x3", "--weights", str(empty), "--run").code == 0
    linear = tmp_path / "linear.txt"
    linear.write_text("Sequential(\n  (0): Linear(in_features=3, out_features=2, bias=True)\n)\n")
    cli("net", str(linear), "-i", "1x3", "--weights", str(empty), "--run").assert_one_error_line(["0.weight"])
