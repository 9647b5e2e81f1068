"""Bad input that was accepted silently (issue 13, item 6): JSON duplicate keys, a truncated PNG
read with zero rows, run-only options ignored without a run, ``--save acts.NPZ`` saving one
array, and ``--input-file <(cat x.npy)`` failing because the file was opened twice.
"""

from __future__ import annotations

import io
import os
import struct
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest


def test_json_duplicate_keys_are_refused(tmp_path, cli):
    """Reproducer: {"type": "relu", "type": "conv2d"} kept the last key."""
    spec = tmp_path / "net.json"
    spec.write_text('[\n  {"type": "relu", "type": "conv2d"}\n]')
    cli("net", str(spec), "-i", "1x3x8x8").assert_one_error_line(
        ["line 2, column 3", "the key 'type' appears twice in one object; keep one"])
    spec.write_text('{"input": [1, 3], "layers": ["relu"], "input": [1, 4]}')
    cli("net", str(spec)).assert_one_error_line(["the key 'input' appears twice"])
    spec.write_text('{"input": [1, 3], "layers": ["relu"]}')
    assert cli("net", str(spec)).code == 0


def _png(width: int, height: int, rows: bytes) -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def test_a_truncated_png_is_refused_not_read_with_zero_rows(tmp_path, cli):
    """Reproducer: a PNG whose compressed data held 8 of its 16 rows was read with zeros for the rest."""
    pytest.importorskip("PIL")
    rows = b"".join(b"\x00" + bytes([200] * 16 * 3) for _ in range(16))
    (tmp_path / "half.png").write_bytes(_png(16, 16, rows[: len(rows) // 2]))
    cli("relu", "--input-file", str(tmp_path / "half.png")).assert_one_error_line(
        ["half.png is a truncated PNG: its image data ends after 392 of 784 bytes (about 8 of its 16 rows)"])
    (tmp_path / "full.png").write_bytes(_png(16, 16, rows))
    result = cli("relu", "--input-file", str(tmp_path / "full.png"), "--json")
    assert result.code == 0, result.stderr


def test_an_interlaced_png_is_complete(tmp_path, cli):
    PIL = pytest.importorskip("PIL.Image")
    image = PIL.fromarray(np.arange(13 * 11 * 3, dtype=np.uint8).reshape(13, 11, 3))
    image.save(tmp_path / "i.png", interlace=1)
    result = cli("relu", "--input-file", str(tmp_path / "i.png"), "--json")
    assert result.code == 0, result.stderr


@pytest.mark.parametrize("argv, words", [
    (("relu", "-i", "1x3", "--max-memory", "1MiB"), ["--max-memory bounds a forward pass, and none runs here", "--run"]),
    (("relu", "-i", "1x3", "--force"), ["--force lets --save overwrite a file, but no --save was given"]),
    (("relu", "-i", "1x3", "--key", "x"), ["--key picks an array of an .npz --input-file, but no --input-file was given"]),
    (("relu", "-i", "1x3", "--gray"), ["--gray reads an image --input-file as one channel, but no --input-file"]),
    (("relu", "-i", "1x3", "--run", "--force"), ["--force lets --save overwrite a file"]),
    (("explain", "conv2d", "-k", "2", "-i", "1x1x3x3", "--key", "x"), ["--key picks an array"]),
])
def test_run_only_options_without_what_they_need_are_refused(cli, argv, words):
    """Reproducer: --max-memory, --force, --key and --gray without --run were ignored (--key and
    --gray even started a run on random input)."""
    cli(*argv).assert_one_error_line(words)


def test_run_only_options_for_networks(tmp_path, cli):
    spec = tmp_path / "net.txt"
    spec.write_text("relu\n")
    cli("net", str(spec), "-i", "1x3", "--max-memory", "1GiB").assert_one_error_line(["--max-memory bounds a forward pass"])
    cli("net", str(spec), "-i", "1x3", "--force").assert_one_error_line(["--force lets --save overwrite a file"])
    assert cli("net", str(spec), "-i", "1x3", "--run", "--max-memory", "1GiB").code == 0
    assert cli("relu", "-i", "1x3", "--max-memory", "1GiB", "--fill", "ones").code == 0  # --fill implies the run


def test_upper_case_npz_suffix_saves_every_layer(tmp_path, cli):
    """Reproducer: net --save acts.NPZ saved only the output, as arr_0."""
    spec = tmp_path / "net.txt"
    spec.write_text("conv2d --out 2 -k 3\nrelu\n")
    result = cli("net", str(spec), "-i", "1x1x5x5", "--run", "--save", str(tmp_path / "acts.NPZ"))
    assert result.code == 0, result.stderr
    with np.load(tmp_path / "acts.NPZ") as saved:
        assert sorted(saved.files) == ["0", "1"] and saved["1"].shape == (1, 2, 3, 3)
    result = cli("relu", "-i", "1x3", "--run", "--save", str(tmp_path / "one.NPY"))
    assert result.code == 0 and np.load(tmp_path / "one.NPY").shape == (1, 3)


def _fifo(tmp_path: Path, name: str, payload: bytes) -> Path:
    """A named pipe that serves ``payload`` once, as <(cat file) does."""
    path = tmp_path / name
    os.mkfifo(path)

    def serve() -> None:
        with open(path, "wb") as pipe:
            pipe.write(payload)

    threading.Thread(target=serve, daemon=True).start()
    return path


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
@pytest.mark.parametrize("kind", ["npy", "npz", "csv", "png"])
def test_input_file_from_a_pipe_is_read_once(tmp_path, cli, kind):
    """Reproducer: --input-file <(cat x.npy) failed: the pipe was opened twice, the second time empty."""
    x = np.arange(12, dtype=np.float32).reshape(1, 3, 2, 2)
    buffer = io.BytesIO()
    if kind == "npy":
        np.save(buffer, x)
    elif kind == "npz":
        np.savez(buffer, x=x)
    elif kind == "csv":
        buffer.write(b"0,1,2,3\n4,5,6,7\n8,9,10,11\n")
    else:
        Image = pytest.importorskip("PIL.Image")
        Image.fromarray(np.full((2, 2, 3), 255, np.uint8)).save(buffer, "PNG")
    pipe = _fifo(tmp_path, f"in.{kind}", buffer.getvalue())
    result = cli("relu", "--input-file", str(pipe), "--json", *(["-i", "1x3x2x2"] if kind == "csv" else []))
    assert result.code == 0, result.stderr
    assert '"input_shape":[1,3,2,2]' in result.stdout


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_weights_from_a_pipe_are_read_once(tmp_path, cli):
    buffer = io.BytesIO()
    np.savez(buffer, weight=np.ones((2, 3)), bias=np.zeros(2))
    pipe = _fifo(tmp_path, "w.npz", buffer.getvalue())
    result = cli("linear", "--in", "3", "--out", "2", "-i", "1x3", "--fill", "ones", "--weights", str(pipe), "--json")
    assert result.code == 0, result.stderr
    assert '"output":{"shape":[1,2],"data":[[3.0,3.0]]}' in result.stdout
