"""A network or layer whose input is an embedding's row numbers: read from a file as int64
(no float round trip, no "converted" warning), drawn as valid indices, and counted as int64
in the input size."""

from __future__ import annotations

import json

import numpy as np
import pytest

from convcalc.errors import ConvcalcError
from convcalc.tensors.files import load_input

EMBEDDING_NET = "Sequential(\n  (0): Embedding(100, 16)\n  (1): Linear(in_features=16, out_features=3, bias=True)\n)\n"


@pytest.fixture
def files(tmp_path):
    spec = tmp_path / "net.txt"
    spec.write_text(EMBEDDING_NET)
    indices = tmp_path / "idx.npy"
    np.save(indices, np.arange(14, dtype=np.int64).reshape(2, 7) * 7)
    weights = tmp_path / "w.npz"
    rng = np.random.default_rng(3)
    state = {"0.weight": rng.standard_normal((100, 16)), "1.weight": rng.standard_normal((3, 16)),
             "1.bias": rng.standard_normal(3)}
    np.savez(weights, **{key: value.astype(np.float32) for key, value in state.items()})
    return spec, indices, weights, state


def test_a_network_starting_with_an_embedding_runs_on_an_index_file(cli, files, tmp_path):
    """Reproducer: the file's int64 indices were cast to float32 and refused as floats."""
    spec, indices, weights, state = files
    out = tmp_path / "y.npy"
    result = cli("net", str(spec), "--input-file", str(indices), "--weights", str(weights), "--save", str(out))
    assert result.code == 0, result.stderr
    assert "converted" not in result.stderr
    rows = state["0.weight"][np.load(indices)]
    np.testing.assert_allclose(np.load(out), rows @ state["1.weight"].T + state["1.bias"], rtol=1e-5, atol=1e-5)


def test_a_network_starting_with_an_embedding_draws_valid_indices(cli, files):
    spec = files[0]
    result = cli("net", str(spec), "-i", "2x7", "--run", "--json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["output_shape"] == [2, 7, 3]
    assert cli("net", str(spec), "-i", "2x7", "--fill", "randint:0,99", "--run").code == 0


def test_the_input_size_of_an_embedding_network_counts_int64_indices(cli, files):
    result = cli("net", str(files[0]), "-i", "2x7", "--json")
    totals = json.loads(result.stdout)["totals"]
    assert totals["input_bytes"] == 14 * 8 and totals["input_dtype"] == "int64"
    assert "input size (int64)" in cli("net", str(files[0]), "-i", "2x7").stdout


def test_a_float_network_keeps_its_input_dtype(cli, tmp_path):
    spec = tmp_path / "net.txt"
    spec.write_text("Sequential(\n  (0): Linear(in_features=4, out_features=2, bias=True)\n)\n")
    totals = json.loads(cli("net", str(spec), "-i", "3x4", "--json").stdout)["totals"]
    assert totals["input_bytes"] == 12 * 4 and totals["input_dtype"] is None


def test_the_embedding_layer_reads_int64_files_without_a_conversion_warning(cli, files):
    result = cli("embedding", "--num-embeddings", "100", "--embedding-dim", "4", "--input-file", str(files[1]), "--run")
    assert result.code == 0 and result.stderr == "", result.stderr


def test_indices_that_are_not_whole_numbers_are_refused(cli, files, tmp_path):
    bad = tmp_path / "bad.npy"
    np.save(bad, np.array([[0.5, 1.0]], np.float32))
    cli("net", str(files[0]), "--input-file", str(bad), "--run").assert_one_error_line(["bad.npy", "whole-number indices"])


def test_large_indices_survive_the_read_exactly(tmp_path):
    """float32 holds whole numbers exactly only up to 2**24: indices never pass through it."""
    path = tmp_path / "big.npy"
    np.save(path, np.array([2**24 + 1, 2**40 + 3], np.int64))
    loaded = load_input(path, indices=True)
    assert loaded.array.dtype == np.int64 and loaded.array.tolist() == [2**24 + 1, 2**40 + 3]
    text = tmp_path / "big.txt"
    text.write_text("16777217 3\n")
    assert load_input(text, indices=True).array.tolist() == [16777217, 3]


def test_an_index_file_from_a_pipe_is_read_once(files, tmp_path):
    """Reproducer: the input was read as floats, then again as indices, and a pipe was empty the second time."""
    import subprocess
    import sys

    spec, indices, weights, state = files
    out = tmp_path / "y.npy"
    proc = subprocess.run([sys.executable, "-m", "convcalc", "net", str(spec), "--input-file", "/dev/stdin",
                           "--weights", str(weights), "--save", str(out)],
                          input=indices.read_bytes(), capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    rows = state["0.weight"][np.load(indices)]
    np.testing.assert_allclose(np.load(out), rows @ state["1.weight"].T + state["1.bias"], rtol=1e-5, atol=1e-5)


def test_a_whole_number_fill_gives_those_indices_and_others_are_refused(cli, files, tmp_path):
    spec, _, weights, state = files
    out = tmp_path / "y.npy"
    assert cli("net", str(spec), "-i", "2x3", "--fill", "zeros", "--weights", str(weights), "--save", str(out)).code == 0
    expected = state["0.weight"][0] @ state["1.weight"].T + state["1.bias"]
    np.testing.assert_allclose(np.load(out), np.broadcast_to(expected, (2, 3, 3)), rtol=1e-5, atol=1e-5)
    cli("net", str(spec), "-i", "2x3", "--fill", "uniform", "--run").assert_one_error_line(["--fill uniform", "whole-number"])


@pytest.mark.parametrize("values", [np.array([2**63 + 5], np.uint64), np.array([1e30])])
def test_indices_past_int64_are_refused_not_wrapped(tmp_path, values):
    path = tmp_path / "big.npy"
    np.save(path, values)
    with pytest.raises(ConvcalcError, match="do not fit in int64"):
        load_input(path, indices=True)



@pytest.mark.parametrize("array", [np.array([[True, False, True]]), np.array([[1, 2, 3]], np.float16)])
def test_bool_and_half_index_files_are_read_as_row_numbers(cli, tmp_path, array):
    """Reproducer from a review: a bool file crashed the int64 range check (OverflowError)."""
    path = tmp_path / "x.npy"
    np.save(path, array)
    spec = tmp_path / "net.txt"
    spec.write_text("Sequential(\n  (0): Embedding(10, 4)\n)\n")
    result = cli("net", str(spec), "--input-file", str(path), "--run", "--json")
    assert result.code == 0 and "Warning" not in result.stderr, result.stderr


def test_the_default_fill_for_indices_is_read_as_any_fill_is(cli, files):
    assert cli("net", str(files[0]), "-i", "2x3", "--fill", "Normal", "--run").code == 0
