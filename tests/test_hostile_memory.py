"""Memory bounded by what the user allows (issue 13, item 1).

Each reproducer runs the CLI in a subprocess under an address-space limit (RLIMIT_AS, set in a
preexec_fn): a regression that allocates what it should refuse fails the test with MemoryError
or a crash instead of taking the machine down. Refusals exit 2 with one stderr line naming the
estimate and the limit. The last tests check, in-process with tracemalloc, that the estimate
behind --max-memory is an upper bound of what a run really allocates, for every layer.
"""

from __future__ import annotations

import json
import math
import os
import resource
import struct
import subprocess
import sys
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from convcalc.registry import layer_classes
from convcalc.single.run import run_layer
from convcalc.spec import parse_statement
from convcalc.spec.nodes import build_at
from convcalc.tensors.arrays import array_stats, tensors_json
from convcalc.tensors.memory import run_bytes

# An interpreter with NumPy, Rich and OpenBLAS's threads maps about 200 MB before it computes.
BASELINE = 512 * 2**20


def convcalc(*argv: str, address_space: int = BASELINE, env: dict | None = None, timeout: int = 120):
    """Run the CLI in a subprocess whose address space is capped at ``address_space`` bytes."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    proc = subprocess.run(
        [sys.executable, "-m", "convcalc", *argv], capture_output=True, text=True, timeout=timeout,
        preexec_fn=cap, env={**os.environ, "COLUMNS": "100", **(env or {})},
    )
    return proc.returncode, proc.stdout, proc.stderr


def refused(result, *words: str) -> str:
    code, out, err = result
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1, (code, out[:200], err[-2000:])
    assert lines[0].startswith("convcalc: error: ") and "Traceback" not in err
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def _npy_header(shape: tuple[int, ...], descr: str = "<f4") -> bytes:
    text = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"
    text += " " * (63 - (10 + len(text)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode()


def _zeros_npz(path: Path, count: int) -> Path:
    """An .npz of ``count`` float32 zeros, compressed to almost nothing, written a chunk at a time."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("x.npy", "w", force_zip64=True) as member:
            member.write(_npy_header((count,)))
            chunk = bytes(1 << 22)
            for start in range(0, 4 * count, len(chunk)):
                member.write(chunk[: min(len(chunk), 4 * count - start)])
    return path


def _black_png(path: Path, width: int, height: int) -> Path:
    """A grey PNG of zeros, its rows compressed as they are made (a few hundred KB on disk)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    squeeze = zlib.compressobj(9)
    row = bytes(width + 1)
    idat = b"".join(squeeze.compress(row) for _ in range(height)) + squeeze.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


# -- files: headers first, refused before their data is read ----------------------------------------


def test_compressed_npz_of_zeros_is_refused_from_its_header(tmp_path):
    """Reproducer: a 3.5 MB .npz of zeros took 1 GB under --max-memory 10MiB."""
    archive = _zeros_npz(tmp_path / "zeros.npz", 64 * 2**20)  # 256 MB of zeros, 250 KB on disk
    assert archive.stat().st_size < 2**20
    line = refused(convcalc("relu", "--input-file", str(archive), "--max-memory", "10MiB", "--run"),
                   "reading", "zeros.npz", "needs about", "more than --max-memory 10.0 MiB")
    assert "320.0 MiB" in line  # the data, and the mask of its NaN count
    refused(convcalc("linear", "--in", "4", "--out", "2", "-i", "1x4", "--weights", str(archive),
                     "--max-memory", "10MiB"), "reading", "more than --max-memory 10.0 MiB")


def test_large_png_is_refused_from_its_size(tmp_path):
    """Reproducer: a 78 KB 9000×9000 PNG took 2.5 GB (Pillow reads the size without decoding)."""
    pytest.importorskip("PIL")
    image = _black_png(tmp_path / "big.png", 9000, 9000)
    refused(convcalc("relu", "--input-file", str(image), "--max-memory", "10MiB", "--run"),
            "reading", "big.png", "needs about", "more than --max-memory 10.0 MiB")
    # under the default 4 GiB it is refused too: decoding it to three float planes takes 5 GiB
    refused(convcalc("relu", "--input-file", str(image), "--run", address_space=BASELINE),
            "more than --max-memory 4.0 GiB")


def test_npy_header_claiming_more_than_the_file_holds(tmp_path):
    """Reproducer: an .npy header claiming (10**12,) raised MemoryError."""
    path = tmp_path / "huge.npy"
    path.write_bytes(_npy_header((10**12,)) + bytes(16))
    refused(convcalc("relu", "--input-file", str(path), "--run"),
            "huge.npy is truncated", "4,000,000,000,000 bytes of data")


def test_npy_whose_data_is_there_but_over_the_limit(tmp_path):
    path = tmp_path / "sparse.npy"
    with open(path, "wb") as handle:  # a sparse file: 4 GB long, nothing on disk
        handle.write(_npy_header((10**9,)))
        handle.truncate(len(_npy_header((10**9,))) + 4 * 10**9)
    refused(convcalc("relu", "--input-file", str(path), "--run", "--max-memory", "100MiB"),
            "reading", "needs about 4.7 GiB", "more than --max-memory 100.0 MiB")


def test_reads_from_devices_stop_at_the_limit():
    """Reproducer: --input-file /dev/zero read until 3.7 GB."""
    line = refused(convcalc("relu", "--input-file", "/dev/zero", "--input", "1x4", "--run", "--max-memory", "64MiB"),
                   "/dev/zero is not a regular file", "gives more than 32.0 MiB", "--max-memory")
    assert "save it to a regular file" in line
    # the default limit: read up to 1 GiB, held twice, inside a 3 GiB address space
    refused(convcalc("relu", "--input-file", "/dev/zero", "-i", "1x4", "--run", address_space=BASELINE + 5 * 2**29),
            "/dev/zero is not a regular file")


def test_pipes_within_the_limit_still_work(tmp_path):
    np.save(tmp_path / "x.npy", np.arange(8, dtype=np.float32).reshape(1, 8))
    proc = subprocess.run(
        f"cat {tmp_path / 'x.npy'} | {sys.executable} -m convcalc relu --input-file /dev/stdin --run --json",
        shell=True, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["tensors"]["output"]["data"] == [[0, 1, 2, 3, 4, 5, 6, 7]]


# -- runs: the estimate is checked before anything is allocated ----------------------------------------


def test_run_over_the_default_limit_is_refused_before_allocating():
    """Reproducer: relu -i 1x1x20000x20000 --run, estimated at 3.0 GiB, died with MemoryError."""
    line = refused(convcalc("relu", "-i", "1x1x20000x20000", "--run", address_space=2**30),
                   "this run needs about", "more than --max-memory 4.0 GiB")
    assert "use a smaller input" in line


def test_huge_stride_with_run_is_refused_or_runs_small():
    """Reproducer: conv2d ... -s 1000000 --run tried to allocate 14.6 TiB."""
    code, out, err = convcalc("conv2d", "--in", "1", "--out", "1", "-k", "3", "-s", "1000000",
                              "-i", "1x1x20x20", "--run", "--json", address_space=BASELINE)
    assert code == 0, err
    assert json.loads(out)["output_shape"] == [1, 1, 1, 1]


def test_json_of_a_large_output_is_summarised_within_the_limit():
    """--json of a tensor took about 32 times its size; past 2**20 numbers it is summarised."""
    code, out, err = convcalc("relu", "-i", "1x1x3000x3000", "--run", "--json", "--max-memory", "512MiB",
                              address_space=BASELINE + 512 * 2**20)
    assert code == 0, err
    output = json.loads(out)["tensors"]["output"]
    assert output["data"] is None and output["shape"] == [1, 1, 3000, 3000]
    assert output["stats"]["size"] == 9_000_000 and output["stats"]["min"] == 0.0
    assert err.count("\n") == 1 and "--json leaves out the numbers of input" in err


def test_solve_with_huge_fixed_values_stays_small():
    """Reproducer: solve --in-size 1000 --out-size 1 -d 1000000000 grew to 24 GB."""
    for fixed in (("-d", "1000000000"), ("-k", "1000000"), ("-s", "1000000000", "--transposed")):
        code, out, err = convcalc("solve", "--in-size", "1000", "--out-size", "1", *fixed, "--json",
                                  address_space=BASELINE, timeout=60)
        assert code in (0, 2) and "Traceback" not in err, err
        if code == 0:
            assert json.loads(out)["solutions"]


# -- the estimate is an upper bound of the real peak, for every layer ----------------------------------

# A command line per layer, and an input of some 30-300 KB.
CONFIGS = {
    "conv": " --out 8 -k 3", "convtranspose": " --out 8 -k 3", "maxpool": " -k 2", "avgpool": " -k 2",
    "maxunpool": " -k 2", "lppool": " --norm-type 2 -k 2", "adaptive": " --output-size 5",
    "linear": " --in 64 --out 32", "bilinear": " --in1-features 64 --in2-features 16 --out 16",
    "embedding": " --num-embeddings 100 --embedding-dim 32", "groupnorm": " --num-groups 2 --num-channels 8",
    "layernorm": " --normalized-shape 48", "rmsnorm": " --normalized-shape 48", "localresponsenorm": " --size 3",
    "channelshuffle": " --groups 2",
    "threshold": " --threshold 0.1 --value 0", "unflatten": " --dim 1 --unflattened-size 2x4",
    "pixelshuffle": " --upscale-factor 2", "pixelunshuffle": " --downscale-factor 2",
    "constantpad": " --padding 2 --value 1", "pad": " --padding 2", "fold": " --output-size 18x18 --kernel-size 3",
    "unfold": " --kernel-size 3", "upsampl": " --scale-factor 2",
    "multiheadattention": " --embed-dim 64 --num-heads 4",
}
SHAPES = {0: (1, 8, 48, 48), 1: (1, 8, 2048), 2: (1, 8, 48, 48), 3: (1, 8, 10, 10, 10)}
SPECIAL_SHAPES = {"embedding": (4, 1024), "fold": (1, 72, 256), "multiheadattention": (2, 128, 64),
                  "linear": (1, 8, 48, 64), "bilinear": (64, 64)}


def _layer(name: str, scale: int = 1):
    options = next((text for prefix, text in sorted(CONFIGS.items(), key=lambda kv: -len(kv[0]))
                    if name.startswith(prefix) or (prefix == "pad" and name.endswith(("pad1d", "pad2d", "pad3d")))), "")
    cls = layer_classes()[name]
    shape = SPECIAL_SHAPES.get(name, SHAPES[getattr(cls, "nd", 0) or 0])
    shape = (shape[0] * scale, *shape[1:])
    node = parse_statement(name + options)
    return node.layer or build_at(node.cls, node.kwargs, node.source, shape), shape


def _peak(layer, shape, dtype: str, show: str) -> tuple[int, int]:
    """(what the run and showing its tensors allocate at their peak, the estimate). A first run,
    unmeasured, imports the modules the run needs: the interpreter's own memory is not counted."""
    states = {**layer.param_shapes(), **layer.buffer_shapes()}.values()
    estimate = run_bytes(layer, shape, layer.output_shape(shape), states, dtype, show)
    run_layer(layer, shape, dtype=dtype)
    tracemalloc.start()
    try:
        result = run_layer(layer, shape, dtype=dtype, show=show)
        if show == "json":
            json.dumps(tensors_json(result.named_tensors())[0])
        else:
            for _, array in result.named_tensors():
                array_stats(array)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, estimate


@pytest.mark.parametrize("name", sorted(layer_classes()))
def test_estimate_bounds_the_real_peak(name):
    """Reproducer: 160 MiB estimated, 846 MB used; the estimate now covers the kernels' scratch,
    the fill, the output checks and what --json or the rendering take."""
    layer, shape = _layer(name)
    for dtype, show in (("float32", "render"), ("float64", "json")):
        peak, estimate = _peak(layer, shape, dtype, show)
        assert peak <= estimate, f"{name} {dtype} {show}: {peak / 2**20:.2f} MiB > {estimate / 2**20:.2f} MiB"


@pytest.mark.parametrize("name", ["conv2d", "conv3d", "convtranspose2d", "convtranspose3d", "maxunpool1d",
                                  "localresponsenorm", "bilinear", "softmin", "upsamplingbilinear2d", "fold"])
def test_estimate_bounds_the_peak_as_tensors_grow(name):
    """The layers whose scratch grows fastest with their tensors, at eight times the size."""
    layer, shape = _layer(name, scale=8)
    peak, estimate = _peak(layer, shape, "float32", "render")
    assert peak <= estimate, f"{name}: {peak / 2**20:.2f} MiB > {estimate / 2**20:.2f} MiB"
    assert estimate < 12 * max(peak, 2**20), "an estimate so loose refuses runs that fit"


def test_estimate_is_checked_against_the_limit(cli):
    line = cli("conv2d", "--out", "8", "-k", "3", "-i", "1x3x512x512", "--run", "--max-memory", "20MiB")
    line.assert_one_error_line(["this run needs about", "more than --max-memory 20.0 MiB"])
    layer, shape = _layer("conv2d")
    assert math.isclose(run_bytes(layer, shape, layer.output_shape(shape), [], "float64"),
                        2 * run_bytes(layer, shape, layer.output_shape(shape), [], "float32"), rel_tol=0.5)
