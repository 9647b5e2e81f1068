"""Rich output at a fixed width (100 columns, no colour), compared with files in snapshots/.

Regenerate after an intended change with: CONVCALC_UPDATE_SNAPSHOTS=1 python -m pytest tests/test_snapshots.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SNAPSHOTS = Path(__file__).parent / "snapshots"

CASES = {
    "conv2d_formula": ["conv2d", "--in", "3", "--out", "8", "-k", "5"],
    "conv2d_input": ["conv2d", "--in", "3", "--out", "8", "-k", "5", "--input", "1x3x32x32"],
    "conv2d_groups": ["conv2d", "--in", "4", "--out", "8", "-k", "5", "--groups", "2", "-i", "1x4x32x32"],
    "conv2d_depthwise_same": ["conv2d", "--in", "144", "--out", "144", "-k", "3", "-g", "144", "-p", "same",
                              "-i", "1x144x56x56", "--no-bias"],
    "conv1d_strided": ["conv1d", "--in", "300", "--out", "128", "-k", "5", "-s", "2", "-d", "2", "-i", "8x300x120"],
    "convtranspose2d": ["convtranspose2d", "--in", "16", "--out", "8", "-k", "4", "-s", "2", "-p", "1",
                        "-i", "1x16x16x16"],
    "maxpool2d_ceil": ["maxpool2d", "-k", "3", "-s", "2", "-p", "1", "--ceil-mode", "-i", "1x64x112x112"],
    "avgpool2d_formula": ["avgpool2d", "-k", "2"],
    "batchnorm2d": ["batchnorm2d", "-i", "8x64x56x56"],
    "linear": ["linear", "--out", "1000", "-i", "16x512"],
    "upsample_bilinear": ["upsample", "--scale-factor", "2", "--mode", "bilinear", "-i", "1x64x56x56"],
    "adaptiveavgpool2d": ["adaptiveavgpool2d", "--output-size", "1", "-i", "1x512x7x7"],
    "layers": ["layers"],
    "conv3d_formula": ["conv3d", "--in", "32", "--out", "64", "-k", "1x3x3", "-s", "1x2x2", "-p", "0x1x1"],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_snapshot(cli, name):
    result = cli(*CASES[name])
    assert result.code == 0, result.stderr
    path = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("CONVCALC_UPDATE_SNAPSHOTS"):
        path.write_text(result.stdout)
    assert path.exists(), f"no snapshot {path.name}: run with CONVCALC_UPDATE_SNAPSHOTS=1"
    assert result.stdout == path.read_text()
