"""``--threads`` and ``CONVCALC_THREADS`` through the real entry point."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pytest

from convcalc.kernels import threads

CONV = ["conv2d", "--in", "16", "--out", "16", "-k", "3", "-p", "1", "-i", "4x16x96x96"]
NOT_A_COUNT = ["0", "-1", "x", "1.5", ""]


@pytest.fixture
def regions(monkeypatch):
    """The chunk counts of the parallel regions run during the test (which threads took the
    chunks depends on timing; tests/test_threads.py shows they really run side by side)."""
    seen: list[int] = []
    wait = threads._Region.wait

    def recorded(region) -> None:
        seen.append(len(region.chunks))
        wait(region)

    monkeypatch.setattr(threads._Region, "wait", recorded)
    return seen


def _saved(cli, tmp_path, name: str, *options: str) -> np.ndarray:
    path = tmp_path / f"{name}.npy"
    result = cli(*CONV, "--save", str(path), *options)
    assert result.code == 0 and result.stderr == "", result.stderr
    return np.load(path)


def test_threads_option_splits_the_run_and_keeps_the_output(cli, tmp_path, regions):
    one = _saved(cli, tmp_path, "one", "--threads", "1")
    assert regions == []  # one thread: the kernels' plain loop, no region
    two = _saved(cli, tmp_path, "two", "--threads", "2")
    assert regions and min(regions) >= 2
    np.testing.assert_allclose(two, one, rtol=1e-5, atol=1e-5 * float(np.abs(one).max()))


def test_environment_variable_sets_the_threads(cli, tmp_path, monkeypatch, regions):
    monkeypatch.setenv(threads.ENVIRONMENT_VARIABLE, "1")
    _saved(cli, tmp_path, "env1")
    assert regions == []
    monkeypatch.setenv(threads.ENVIRONMENT_VARIABLE, "3")
    _saved(cli, tmp_path, "env3")
    assert regions and min(regions) >= 3
    regions.clear()
    _saved(cli, tmp_path, "explicit", "--threads", "1")  # the option wins over the variable
    assert regions == []


@pytest.mark.parametrize("value", NOT_A_COUNT)
def test_bad_threads_option_is_one_clear_error(cli, value):
    cli(*CONV[:-2], "-i", "1x16x8x8", "--run", f"--threads={value}").assert_one_error_line(
        ["--threads must be a whole number of at least 1", repr(value)]
    )


@pytest.mark.parametrize("value", ["0", "-1", "x"])
@pytest.mark.parametrize("command", [
    [*CONV[:-2], "-i", "1x16x8x8"],
    ["relu", "-i", "1x2x4x4"],  # too small to split: refused all the same, not only where a kernel splits
    ["flatten", "-i", "1x2x4x4"],
])
def test_bad_environment_variable_is_one_clear_error(cli, monkeypatch, value, command):
    monkeypatch.setenv(threads.ENVIRONMENT_VARIABLE, value)
    cli(*command, "--run").assert_one_error_line(
        [f"{threads.ENVIRONMENT_VARIABLE} must be a whole number of at least 1", repr(value)]
    )


def test_threads_without_a_run_is_refused(cli):
    cli("conv2d", "--in", "3", "--out", "8", "-k", "3", "--threads", "2").assert_one_error_line(
        ["--threads", "none runs here", "drop --threads"]
    )


def test_net_run_and_explain_take_threads(cli, tmp_path):
    spec = tmp_path / "net.txt"
    spec.write_text("conv2d --in 3 --out 8 -k 3 -p 1\nrelu\nmaxpool2d -k 2\n")
    outputs = []
    for count in ("1", "2"):
        result = cli("net", str(spec), "-i", "1x3x64x64", "--run", "--threads", count, "--json")
        assert result.code == 0, result.stderr
        outputs.append(np.array(json.loads(result.stdout)["output"]["data"]))
    assert outputs[0].shape == (1, 8, 32, 32)
    np.testing.assert_allclose(outputs[1], outputs[0], rtol=1e-5, atol=1e-5 * float(np.abs(outputs[0]).max()))
    cli("net", str(spec), "-i", "1x3x8x8", "--run", "--threads", "0").assert_one_error_line(["--threads"])
    result = cli("explain", "conv2d", "--out", "2", "-k", "3", "-i", "1x2x6x6", "--threads", "2")
    assert result.code == 0, result.stderr
    cli("explain", "conv2d", "--out", "2", "-k", "3", "-i", "1x2x6x6", "--threads", "x").assert_one_error_line(
        ["--threads"]
    )


def test_readme_example_is_what_the_command_prints(cli):
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    block = readme.split("<!-- threads-error: checked by tests/test_cli_threads.py -->\n```console\n")[1]
    command, expected = block.split("```")[0].strip().splitlines()
    words = shlex.split(command.removeprefix("$ "))
    assert words[0] == "convcalc"
    result = cli(*words[1:])
    result.assert_one_error_line()
    assert result.stderr.strip() == expected
