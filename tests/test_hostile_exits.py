"""Bad input and hostile environments that ended in exit 1 ("internal error") instead of 2
(issue 13, item 4). Each reproducer now exits 2 with one clean stderr line and no traceback,
or, for a stdout that cannot encode UTF-8, succeeds in ASCII.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
HUGE = "9" * 5000  # past Python's 4300-digit limit on int()


def _npz_with(path: Path, member: str, payload: bytes, method: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression=method) as archive:
        archive.writestr(member, payload)
    return path


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _patched(path: Path, local: int, central: int, value: int, flag: bool = False) -> Path:
    """Set a field of the (only) member's local header and central directory entry."""
    data = bytearray(path.read_bytes())
    directory = data.find(b"PK\x01\x02")
    for offset in (local, directory + central):
        old = struct.unpack("<H", data[offset : offset + 2])[0]
        data[offset : offset + 2] = struct.pack("<H", old | value if flag else value)
    path.write_bytes(bytes(data))
    return path


def test_npz_member_that_is_not_an_npy(tmp_path, cli):
    """Reproducer: an .npz member that is not an .npy gave AttributeError ('bytes' has no dtype)."""
    archive = _npz_with(tmp_path / "a.npz", "notes.txt", b"hello")
    cli("relu", "--input-file", str(archive)).assert_one_error_line(
        ["a.npz['notes.txt'] is not a NumPy array but a 5-byte file"])
    cli("linear", "--in", "3", "--out", "2", "-i", "1x3", "--weights", str(archive)).assert_one_error_line(
        ["is not a NumPy array"])


def test_encrypted_npz_member(tmp_path, cli):
    """Reproducer: RuntimeError 'File ... is encrypted, password required'."""
    archive = _npz_with(tmp_path / "e.npz", "x.npy", _npy_bytes(np.ones(3)))
    _patched(archive, 6, 8, 1, flag=True)  # general-purpose flag bit 0: encrypted
    cli("relu", "--input-file", str(archive)).assert_one_error_line(["e.npz['x'] cannot be read", "encrypted"])


def test_npz_member_with_an_unsupported_compression(tmp_path, cli):
    """Reproducer: NotImplementedError 'That compression method is not supported'."""
    archive = _npz_with(tmp_path / "c.npz", "x.npy", _npy_bytes(np.ones(3)))
    _patched(archive, 8, 10, 99)  # compression method 99 (AES), which zipfile lacks
    cli("relu", "--input-file", str(archive)).assert_one_error_line(
        ["c.npz['x'] cannot be read", "compression method is not supported", "np.savez"])


def test_npy_header_with_a_shape_of_2_to_the_64(tmp_path, cli):
    """Reproducer: OverflowError 'Python int too large to convert to C long'."""
    header = ("{'descr': '<f4', 'fortran_order': False, 'shape': (%d,), }" % 2**64).ljust(118) + "\n"
    path = tmp_path / "big.npy"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
    cli("relu", "--input-file", str(path)).assert_one_error_line(["big.npy", "header"])


@pytest.mark.parametrize("argv, words", [
    (("conv2d", "--in", "3", "--out", "8", "-k", HUGE), ["--kernel-size", "(5000 characters) is beyond PyTorch's 64-bit sizes"]),
    (("conv2d", "--in", "3", "--out", "8", "-k", "3", "-i", f"1x3x{HUGE}x3"), ["input shape", "beyond PyTorch's 64-bit sizes"]),
    (("relu", "-i", "1x3", "--seed", HUGE), ["--seed", "beyond PyTorch's 64-bit sizes"]),
    (("relu", "-i", "1x3", "--run", "--max-memory", HUGE), ["memory size", "is beyond any memory"]),
    (("relu", "-i", "1x3", "--fill", f"full:{HUGE}"), ["(5005 characters): arguments must be finite numbers"]),
    (("solve", "--in-size", HUGE, "--out-size", "1"), ["--in-size", "beyond PyTorch's 64-bit sizes"]),
    (("explain", "conv2d", "-k", HUGE, "-i", "1x1x4x4"), ["--kernel-size", "beyond PyTorch's 64-bit sizes"]),
    # The message builder: a shape of 300 dims multiplies to 5400 digits, which no message may print.
    (("relu", "-i", "x".join(["10" * 9] * 300)), ["holds more than 9223372036854775807 elements"]),
])
def test_integers_over_4300_digits_in_options(cli, argv, words):
    """Reproducer: ValueError 'Exceeds the limit (4300 digits) for integer string conversion'."""
    result = cli(*argv)
    result.assert_one_error_line(words)
    assert "4300" not in result.stderr and len(result.stderr) < 600  # quoted, not reprinted whole


@pytest.mark.parametrize("spec, words", [
    (f"conv2d --out 8 -k {HUGE}\n", ["line 1", "--kernel-size", "beyond PyTorch's 64-bit sizes"]),
    (f"input 1x3x{HUGE}\nrelu\n", ["line 1", "input shape", "beyond PyTorch's 64-bit sizes"]),
    (f'[{{"type": "conv2d", "out_channels": 8, "kernel_size": {HUGE}}}]', ["has 5000 digits", "64 bits"]),
    (f'{{"input": [1, 3, {HUGE}], "layers": ["relu"]}}', ["has 5000 digits"]),
])
def test_integers_over_4300_digits_in_specs(tmp_path, cli, spec, words):
    path = tmp_path / "net.txt"
    path.write_text(spec)
    cli("net", str(path), "-i", "1x3x8x8").assert_one_error_line(words)


def test_randint_bounds_beyond_int64(cli):
    """Reproducer: --fill randint:0,1e300 gave ValueError 'high is out of bounds for int64'."""
    cli("relu", "-i", "1x3", "--fill", "randint:0,1e300").assert_one_error_line(
        ["randint:0,1e300", "64-bit integers"])
    cli("relu", "-i", "1x3", "--fill-weights", "randint:-1e300,0").assert_one_error_line(["64-bit integers"])


def test_more_than_64_dims_with_run(tmp_path, cli):
    """Reproducer: ValueError 'maximum supported dimension for an ndarray is currently 64'."""
    shape = "x".join(["1"] * 65)
    words = ["the input has 65 dims; NumPy arrays have at most 64"]
    cli("relu", "-i", shape, "--run").assert_one_error_line(words)
    np.save(tmp_path / "x.npy", np.ones(3))
    cli("relu", "-i", shape, "--input-file", str(tmp_path / "x.npy")).assert_one_error_line(words)
    cli("unflatten", "--dim", "0", "--unflattened-size", ",".join(["1"] * 64), "-i", "1x3", "--run").assert_one_error_line(
        ["the output has 65 dims"])
    assert cli("relu", "-i", shape).code == 0  # shapes and counts need no array


@pytest.mark.parametrize("argv", [
    ("conv1d", "--in", "1", "--out", "1", "-k", "1", "-s", str(2**62), "-i", "1x1x4"),
    ("conv2d", "--in", "1", "--out", "1", "-k", "2", "-s", str(2**63 - 1), "-i", "1x1x4x4"),
    ("conv1d", "--in", "1", "--out", "1", "-k", "1", "-d", str(2**62), "-i", "1x1x4"),
    ("localresponsenorm", "--size", str(10**12), "-i", "1x2x4"),
    ("localresponsenorm", "--size", str(2**62), "-i", "1x2x4"),
])
def test_huge_strides_and_lrn_sizes_run(cli, argv):
    """Reproducer: OverflowError in the conv kernel's strided view; LRN allocated 14.6 TiB of padding."""
    result = cli(*argv, "--run", "--json")
    assert result.code == 0, result.stderr


def test_huge_lrn_size_matches_the_window_it_covers():
    import convcalc

    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    small, huge = convcalc.LocalResponseNorm(7, alpha=0.5), convcalc.LocalResponseNorm(10**12, alpha=0.5)
    # Every window of size 7 or more covers all 3 channels; only the divisor (size) differs.
    squares = (x.astype(np.float64) ** 2).sum(axis=1, keepdims=True)
    for layer, size in ((small, 7), (huge, 10**12)):
        expected = x / (squares / size * 0.5 + 1.0) ** 0.75
        np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-5)


def _closed(descriptor: int, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    streams = {0: "stdin", 1: "stdout", 2: "stderr"}
    pipes = {name: subprocess.PIPE for fd, name in streams.items() if fd != descriptor and fd != 0}
    return subprocess.run(
        [sys.executable, "-c", "from convcalc.cli.app import run; run()", *argv],
        preexec_fn=lambda: os.close(descriptor), env={**os.environ, "PYTHONPATH": str(ROOT)},
        text=True, timeout=60, stdin=None if descriptor == 0 else subprocess.DEVNULL, **pipes, **kwargs,
    )


def test_closed_stdin(tmp_path):
    """Reproducer: `convcalc net - <&-` gave AttributeError ('NoneType' has no attribute 'buffer')."""
    result = _closed(0, ["net", "-"])
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "convcalc: error: standard input is closed, so there is no network spec to read; give a FILE\n"


def test_closed_stdout():
    """Reproducer: `convcalc relu -i 1x3 >&-` gave AttributeError ('NoneType' has no attribute 'isatty')."""
    result = _closed(1, ["relu", "-i", "1x3"])
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "convcalc: error: standard output is closed, so the answer would be lost; send it to a file or to /dev/null"]


def test_closed_stderr():
    """Reproducer: bad input with `2>&-` exited 1 (the error message itself failed)."""
    bad = _closed(2, ["relu", "--bogus"])
    good = _closed(2, ["relu", "-i", "1x3"])
    assert (bad.returncode, bad.stdout) == (2, "")
    assert good.returncode == 0 and "ReLU" in good.stdout


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_stderr_and_stdout_on_a_full_disk():
    """Reproducer: bad input with 2>/dev/full exited 1; output to /dev/full too."""
    argv = [sys.executable, "-c", "from convcalc.cli.app import run; run()"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open("/dev/full", "w") as full:
        bad = subprocess.run([*argv, "relu", "--bogus"], stderr=full, stdout=subprocess.PIPE, env=env, timeout=60)
        assert (bad.returncode, bad.stdout) == (2, b"")
        for extra in ((), ("--json",), ("--run", "--json")):
            out = subprocess.run([*argv, "relu", "-i", "1x3", *extra], stdout=full, stderr=subprocess.PIPE,
                                 env=env, timeout=60, text=True)
            assert out.returncode == 2
            assert out.stderr == "convcalc: error: cannot write the output: No space left on device\n"


@pytest.mark.parametrize("argv, expected", [
    (["conv2d", "--in", "3", "--out", "8", "-k", "5", "--input", "1x3x32x32"],
     ["H_out   floor((32 + 2*0 - 1*(5-1) - 1)/1) + 1 = 28 |", "out x in/groups x kH x kW"]),
    (["conv2d", "--in", "3", "--out", "8", "-k", "5"], ["floor((H + 2*0 - 1*(5-1) - 1)/1) + 1 = H - 4"]),
])
def test_a_stdout_that_is_not_utf8_gets_ascii(argv, expected):
    """Reproducer: PYTHONIOENCODING=ascii convcalc conv2d ... | cat failed with UnicodeEncodeError on '⌊'."""
    result = subprocess.run(
        [sys.executable, "-c", "from convcalc.cli.app import run; run()", *argv], capture_output=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONIOENCODING": "ascii", "COLUMNS": "100"}, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode("ascii")  # every byte ASCII
    for words in expected:
        assert words in text, text
    widths = {len(line) for line in text.splitlines() if line.startswith(("|", "+"))}
    assert len(widths) == 1, text  # the panel's borders still line up


def test_an_ascii_stderr_gets_ascii_messages(tmp_path):
    (tmp_path / "t.csv").write_text("1,2\n3,4\n")
    result = subprocess.run(
        [sys.executable, "-c", "from convcalc.cli.app import run; run()", "conv2d", "--in", "3", "--out", "1",
         "-k", "1", "--input-file", str(tmp_path / "t.csv")],
        capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONIOENCODING": "ascii"}, timeout=60,
    )
    assert result.returncode == 2
    assert b"was read as a table of shape 2x2" in result.stderr and result.stderr.isascii()
