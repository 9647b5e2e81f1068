"""Hangs on small input (issue 13, item 5): every shape, count, explain and solve answer comes
from closed forms or bounded work, whatever the numbers, and what is too large to show is
summarised or refused.

Each reproducer runs the CLI in a subprocess with a timeout, so a regression fails the test
instead of blocking CI (the timeouts are generous: they catch hangs, they time nothing).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HANG = 60  # seconds: these answers take well under one; a hang (minutes, or forever) fails


def convcalc(*argv: str, env: dict | None = None, stdin=subprocess.DEVNULL, timeout: int = HANG):
    proc = subprocess.run(
        [sys.executable, "-m", "convcalc", *argv], capture_output=True, text=True, timeout=timeout,
        stdin=stdin, env={**os.environ, "COLUMNS": "100", **(env or {})},
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, proc.stdout, proc.stderr


def refused(result, *words: str) -> str:
    code, out, err = result
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1, (code, out[:300], err[-2000:])
    assert lines[0].startswith("convcalc: error: ")
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def answered(result) -> str:
    code, out, err = result
    assert code == 0 and err == "", (code, err[-2000:])
    return out


# -- explain ---------------------------------------------------------------------------------------------


def test_explain_of_a_300x300_kernel_is_refused():
    """Reproducer: 49 s drawing 265,000 cells."""
    refused(convcalc("explain", "conv2d", "--out", "1", "-k", "300", "-i", "1x1x300x300"),
            "at most 1,024 taps", "kernel_size=(300, 300) has 90,000")


def test_explain_over_3000_channels_lists_16():
    """Reproducer: 13.5 s drawing 3000 tables."""
    out = answered(convcalc("explain", "conv2d", "--out", "1", "-k", "3", "-i", "1x3000x3x3"))
    assert out.count("input channel ") == 16 and "input channels 16–2999 (2,984 more, not listed)" in out
    assert "✓ the forward pass gives" in out


def test_explain_json_over_many_channels_is_bounded():
    data = json.loads(answered(convcalc("explain", "convtranspose2d", "--out", "1", "-k", "3",
                                        "-i", "1x2000x3x3", "--json")))
    assert len(data["terms"]) == 16 and data["other_channels"]["count"] == 1984 and data["agrees"]


def test_explain_with_a_huge_dilation_lists_few_holes():
    out = answered(convcalc("explain", "maxpool1d", "-k", "2", "-d", "1000000", "-i", "1x1x1000001"))
    assert "dilation skips 1, 2, 3" in out and "999,999 in all" in out


# -- shapes and counts -------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [10**9, 10**12])
def test_pooling_counts_of_huge_windows(n):
    """Reproducer: maxpool1d -k 1e9 -p 5e8 -s 1 -i 1x1x1e9 took 10 s, and over 60 s at 10**12."""
    data = json.loads(answered(convcalc("maxpool1d", "-k", str(n), "-p", str(n // 2), "-s", "1",
                                        "-i", f"1x1x{n}", "--json")))
    assert data["output_shape"] == [1, 1, n + 1]
    assert data["flops"] == 3 * n * n // 4 + n // 2 - (n + 1)  # covered elements less one per window


def test_avg_and_lp_pool_counts_of_huge_windows():
    n = 10**12
    for layer in (["avgpool1d"], ["lppool1d", "--norm-type", "2"]):
        data = json.loads(answered(convcalc(*layer, "-k", str(n // 3), "-s", "7", "-i", f"1x1x{n}", "--json")))
        assert data["flops"] > 0


def test_help_at_a_million_columns():
    """Reproducer: COLUMNS=1000000 convcalc --help took 18 s (a megabyte of spaces per line)."""
    out = answered(convcalc("--help", env={"COLUMNS": "1000000"}))
    assert "conv2d" in out and max(len(line) for line in out.splitlines()) <= 4000
    out = answered(convcalc("conv2d", "--help", env={"TERMINAL_WIDTH": "1000000", "COLUMNS": "0"}))
    assert "--kernel-size" in out


# -- specs --------------------------------------------------------------------------------------------------


def test_nine_megabyte_spec_of_relu_lines(tmp_path):
    """Reproducer: 11 s and 1.5 GB before it was refused."""
    spec = tmp_path / "relu.txt"
    spec.write_text("relu\n" * 1_800_000)
    refused(convcalc("net", str(spec), "-i", "1x4"), "1,800,000 lines", "limited to 20,000 lines")


def test_repeats_that_expand_past_the_layer_limit(tmp_path):
    spec = tmp_path / "repeat.txt"
    spec.write_text("input 1x4\nrepeat 10000 {\n" + "relu\n" * 20 + "}\n")
    refused(convcalc("net", str(spec)), "200000 layers once repeats are expanded", "the limit is 20000")


# -- FIFOs and pipes that never deliver -------------------------------------------------------------------

FIFO_WAIT = {"CONVCALC_READ_TIMEOUT": "1"}


@pytest.fixture
def fifo(tmp_path) -> Path:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("argv", [
    ("net", "{fifo}", "-i", "1x4"),
    ("relu", "--input-file", "{fifo}", "--run"),
    ("conv2d", "--out", "1", "-k", "1", "-i", "1x1x2x2", "--weights", "{fifo}"),
    ("explain", "conv1d", "--out", "1", "-k", "1", "--input-file", "{fifo}"),
])
def test_fifo_without_a_writer(fifo, argv):
    """Reproducer: a FIFO with no writer as spec or input file blocked forever."""
    argv = tuple(word.format(fifo=fifo) for word in argv)
    refused(convcalc(*argv, env=FIFO_WAIT), str(fifo), "gave no bytes for 1 s", "nobody writes")


def test_stdin_pipe_whose_writer_never_writes():
    writer = subprocess.Popen(["sleep", "30"], stdout=subprocess.PIPE)
    try:
        refused(convcalc("net", "-i", "1x4", stdin=writer.stdout, env=FIFO_WAIT),
                "standard input gave no bytes for 1 s")
    finally:
        writer.kill()
        writer.wait()


def test_fifo_whose_writer_comes_later(fifo, tmp_path):
    """The wait is for a writer that is slow, not absent: one that opens the FIFO and writes works."""
    writer = subprocess.Popen(f"sleep 0.5; printf 'input 1x3x8x8\\nconv2d --out 4 -k 3\\n' > {fifo}", shell=True)
    try:
        out = answered(convcalc("net", str(fifo), "--json", env={"CONVCALC_READ_TIMEOUT": "20"}))
    finally:
        writer.wait(timeout=HANG)
    assert json.loads(out)["output_shape"] == [1, 4, 6, 6]


# -- solve --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fixed", [("-d", "1000000000"), ("-k", "1000000"), ("-s", "1000000000", "--transposed"),
                                   ("-d", "1000000000", "--transposed"), ("-k", "999999999", "--pool")])
def test_solve_with_huge_fixed_values(fixed):
    """Reproducer: -d 1000000000 grew to 24 GB; -k 1000000 ran past 120 s."""
    code, out, err = convcalc("solve", "--in-size", "1000", "--out-size", "1", *fixed, "--json")
    if code == 2:
        refused((code, out, err), "within the bounds")
    else:
        assert code == 0 and json.loads(out)["solutions"], err


def test_solve_over_three_dims_lists_a_bounded_number_of_combinations():
    data = json.loads(answered(convcalc("solve", "--in-size", "10x11x12", "--out-size", "3x4x5", "--json")))
    assert len(data["solutions"]) == 1000 < data["combinations"]


# -- output too large to show -------------------------------------------------------------------------------


def test_run_json_of_a_100_megabyte_output_is_summarised():
    """Reproducer: --run --json of a 100-600 MB output took over 30 s (and 32 times its size)."""
    code, out, err = convcalc("relu", "-i", "1x1x5000x5000", "--run", "--json", timeout=120)
    assert code == 0 and err.count("\n") == 1 and "--json leaves out the numbers of input" in err
    tensors = json.loads(out)["tensors"]
    assert tensors["output"]["data"] is None and tensors["output"]["stats"]["size"] == 25_000_000


def test_heatmap_of_a_tall_plane_is_shrunk():
    """A 100000-row plane printed 100000 lines of pixels, per tensor; now 256 at most."""
    out = answered(convcalc("relu", "-i", "1x1x100000x40", "--run", "--heatmap", timeout=120))
    assert len(out.splitlines()) < 2 * 256 + 40 and "mean of 391×1 blocks" in out


# -- show ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [
    ("conv2d", "-k", "3", "-i", "1000000000x1000000000"),
    ("conv2d", "-k", "1000000", "-d", "1000", "-i", "1000000000x1000000000"),
    ("maxpool2d", "-k", "1000000000", "-p", "500000000", "-i", "1000000000x5"),
    ("convtranspose1d", "-k", "3", "-s", "1000000000000", "-i", "1000000000000"),
])
def test_show_of_huge_grids_draws_the_cropped_part(argv):
    """The grid was built whole: show conv2d -k 3 -i 1000000000x1000000000 took 15 GB and minutes."""
    out = answered(convcalc("show", *argv))
    assert "cropped" in out and len(out) < 20_000


def test_show_frames_are_bounded():
    refused(convcalc("show", "conv2d", "-k", "3", "-i", "1000x1000", "--frames", "1000000"), "--frames must be 1 to 32")
