"""convcalc.render.tensor: plain-text snapshots at 100 columns, colours, layout, torch's number format.

Regenerate the snapshots after an intended change with:
CONVCALC_UPDATE_SNAPSHOTS=1 python -m pytest tests/test_render_tensor.py
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from rich.panel import Panel

from convcalc.errors import ParseError
from convcalc.render.tensor import (
    HALF_BLOCK,
    NAN_RGB,
    NEGATIVE_RGB,
    PIXEL_ZERO_RGB,
    POSITIVE_RGB,
    RAMP,
    NumberFormat,
    render_tensor,
    render_tensors,
    tensor_to_json,
)

SNAPSHOTS = Path(__file__).parent / "snapshots"
WIDTH = 100


def plain(renderable, width: int = WIDTH) -> str:
    console = Console(width=width, color_system=None, record=True, file=io.StringIO())
    console.print(renderable)
    return console.file.getvalue()


def segments(renderable, width: int = WIDTH, **console_options):
    options = {"color_system": "truecolor", "force_terminal": True, **console_options}
    console = Console(width=width, file=io.StringIO(), **options)
    return [segment for line in console.render_lines(renderable, pad=False) for segment in line]


def rgb(color):
    return tuple(color.get_truecolor()) if color is not None else None


# Deterministic data (no RNG) so the snapshots hold on any NumPy.
def wavy(*shape: int) -> np.ndarray:
    n = int(np.prod(shape))
    return (np.sin(np.arange(n) * 1.7) * 1.3 + np.cos(np.arange(n) * 0.3) * 0.4).reshape(shape).astype(np.float32)


def tutorial_ints(*shape: int) -> np.ndarray:
    n = int(np.prod(shape))
    return ((np.arange(n) * 7 + np.arange(n) // 5) % 3 - 1).reshape(shape).astype(np.float32)


def picture(*shape: int) -> np.ndarray:
    *lead, h, w = shape
    y, x = np.mgrid[0:h, 0:w]
    base = np.sin(y / h * np.pi) * np.cos(x / w * 2 * np.pi)
    planes = [base * (1 - 2 * (i % 2)) * (1 + i) / 2 for i in range(int(np.prod(lead)) if lead else 1)]
    return np.stack(planes).reshape(shape).astype(np.float32)


CASES = {
    "tensor_2d": lambda: render_tensor("x", wavy(3, 5)),
    "tensor_4d_grid": lambda: render_tensor("input", tutorial_ints(1, 2, 4, 4)),
    "tensor_weight": lambda: render_tensor(
        "weight", tutorial_ints(4, 2, 2, 2), dim_names=("out", "in/groups", "kH", "kW")
    ),
    "tensor_large": lambda: render_tensor("output", wavy(1, 8, 16, 16)),
    "tensor_sci": lambda: render_tensor("big", np.arange(2000.0).reshape(2, 10, 100)),
    "tensor_vector": lambda: render_tensor("bias", wavy(40)),
    "tensor_nan": lambda: render_tensor("odd", np.array([[1.5, np.nan], [np.inf, -2.0]], dtype=np.float32)),
    "tensor_heatmap": lambda: render_tensor("feature maps", picture(1, 3, 10, 16), mode="heatmap"),
    "tensor_heatmap_large": lambda: render_tensor("activations", picture(1, 8, 12, 150), mode="heatmap"),
    "tensor_group": lambda: render_tensors(
        [("input", np.ones((1, 1, 3, 3))), ("weight", tutorial_ints(1, 1, 2, 2)), ("bias", np.array([0.5]))],
        stats=False,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_snapshot(name):
    text = plain(CASES[name]())
    path = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("CONVCALC_UPDATE_SNAPSHOTS"):
        path.write_text(text)
    assert path.exists(), f"no snapshot {path.name}: run with CONVCALC_UPDATE_SNAPSHOTS=1"
    assert text == path.read_text()
    assert max(len(line) for line in text.splitlines()) <= WIDTH


def test_summary_marks_and_title():
    text = plain(render_tensor("output", wavy(1, 8, 16, 16)))
    title, stats, *_ = text.splitlines()
    assert title == "output  [1, 8, 16, 16]  float32"
    assert stats.startswith("min ") and " max " in stats and " mean " in stats and " std " in stats
    for mark in ("…", "⋮", "[0, 0]", "[0, 2]", "[0, 5]", "[0, 7]"):
        assert mark in text
    assert "[0, 3]" not in text and "[0, 4]" not in text


# -- torch's number format and summary --------------------------------------------------

NUMBER = re.compile(r"-?(?:nan|inf|\d+\.?\d*(?:e[+-]\d+)?)")


def torch_numbers(tensor) -> list[str]:
    body = repr(tensor)
    body = body[body.index("(") + 1 :]
    body = re.sub(r",\s*dtype=\w+(\.\w+)?\)$", ")", body)
    return NUMBER.findall(body)


def our_numbers(array, **options) -> list[str]:
    lines = plain(render_tensor("t", array, stats=False, **options), width=1000).splitlines()[1:]
    return NUMBER.findall("\n".join(line for line in lines if not line.startswith("[")))


ORACLE_ARRAYS = {
    "whole": np.array([1.0, 2.0, -3.0]),
    "fixed": np.array([0.5, -1.25, 3.14159]),
    "small": np.array([1e-5, 2.0, -3.0]),
    "spread": np.array([1.5, 2000.0, -3.0]),
    "huge whole": np.array([1e9, 1.0]),
    "zeros": np.zeros(4),
    "nonfinite": np.array([1.5, np.nan, np.inf, -np.inf]),
    "only nan": np.array([np.nan, np.nan]),
    "ints": np.array([3, -12, 7]),
    "bools": np.array([True, False]),
    "negative zero": np.array([-0.0, 1.0]),
    "2d": np.arange(12.0).reshape(3, 4) / 7,
}


@pytest.mark.oracle
@pytest.mark.parametrize("name", sorted(ORACLE_ARRAYS))
def test_number_format_matches_torch(name):
    torch = pytest.importorskip("torch")
    array = ORACLE_ARRAYS[name]
    assert our_numbers(array) == torch_numbers(torch.from_numpy(array))


@pytest.mark.oracle
@pytest.mark.parametrize("precision", [0, 2, 6])
def test_precision_matches_torch(precision):
    torch = pytest.importorskip("torch")
    array = np.array([0.123456789, -2.5, 10.0])
    torch.set_printoptions(precision=precision)
    try:
        expected = torch_numbers(torch.from_numpy(array))
    finally:
        torch.set_printoptions(profile="default")
    assert our_numbers(array, precision=precision) == expected


@pytest.mark.oracle
@pytest.mark.parametrize("shape", [(1001,), (40, 30), (2, 10, 10, 10), (3, 4, 5, 6, 7)])
def test_summary_shows_what_torch_shows(shape):
    torch = pytest.importorskip("torch")
    array = np.arange(float(np.prod(shape))).reshape(shape) % 97
    # Grids sit side by side, so compare the numbers shown, not their order.
    assert sorted(our_numbers(array)) == sorted(torch_numbers(torch.from_numpy(array)))


def test_number_format_modes():
    assert NumberFormat(np.array([1.0, -2.0]), 4)(-2.0) == "-2."
    assert NumberFormat(np.array([0.25, 2.0]), 2)(0.25) == "0.25"
    assert NumberFormat(np.array([1e-5, 1.0]), 4)(1.0) == "1.0000e+00"
    assert NumberFormat(np.array([1e-5, 1.0]), 4, sci_mode=False)(1e-5) == "0.0000"
    assert NumberFormat(np.array([0.5, 1.0]), 3, sci_mode=True)(0.5) == "5.000e-01"
    assert NumberFormat(np.array([5, -3]), 4)(5) == "5"
    assert NumberFormat(np.array([True]), 4)(True) == "True"
    assert NumberFormat(np.array([1.0, 2.0]), 4).width == 2


# -- layout -----------------------------------------------------------------------------


@pytest.mark.parametrize("width", [40, 60, 80, 100, 140])
@pytest.mark.parametrize(
    "array",
    [wavy(30, 30), wavy(1, 4, 9, 9), wavy(64), np.arange(2000.0).reshape(2, 10, 100), picture(1, 2, 6, 300)],
    ids=["2d-wide", "4d", "vector", "sci", "long-map"],
)
@pytest.mark.parametrize("mode", ["grid", "heatmap"])
def test_lines_fit_the_width(width, array, mode):
    text = plain(render_tensor("t", array, mode=mode), width=width)
    assert max(len(line) for line in text.splitlines()) <= width


def test_too_wide_grid_elides_middle_columns():
    text = plain(render_tensor("t", wavy(30, 30), stats=False), width=60)
    rows = text.splitlines()[1:]
    assert len(rows) == 30  # 900 elements: under torch's threshold, so every row is shown
    assert all("…" in row for row in rows)


def test_vector_wraps_rather_than_eliding():
    rows = plain(render_tensor("t", np.arange(64.0) / 3, stats=False), width=60).splitlines()[1:]
    assert "…" not in "".join(rows)
    assert len(NUMBER.findall(" ".join(rows))) == 64


def test_elided_slices_become_their_own_line_when_blocks_are_wide():
    lines = plain(render_tensor("t", np.arange(2000.0).reshape(20, 100) + 0.5, stats=False)).splitlines()
    assert "⋮" in "".join(lines)
    wide = plain(render_tensor("t", np.arange(8 * 2 * 70, dtype=float).reshape(8, 2, 70) / 7, stats=False))
    assert "\n⋮\n" in wide and "[2]" in wide and "[5]" in wide and "[3]" not in wide


def test_renders_in_a_panel():
    text = plain(Panel(render_tensor("bias", np.array([0.5, -1.0]), stats=False), expand=False))
    lines = text.splitlines()
    assert lines[0].startswith("╭") and len(lines[0]) < 30
    assert "-1.0000" in text


@pytest.mark.parametrize("mode", ["grid", "heatmap"])
@pytest.mark.parametrize("color", [True, False])
@pytest.mark.parametrize(
    "array",
    [
        np.float32(2.5),
        np.zeros((0,)),
        np.zeros((2, 0)),
        np.array([1, 2, 3]),
        np.array([[True, False]]),
        np.full((2, 3), np.nan),
        np.full((2, 3), np.inf),
        np.zeros((3, 3)),
        np.ones((2, 3, 4), dtype=np.float16),
        wavy(1, 2, 2, 3, 4),
        wavy(3, 4, 5, 6, 7),
    ],
    ids=lambda a: f"{getattr(a, 'dtype', type(a).__name__)}{list(np.shape(a))}",
)
def test_any_array_renders(array, color, mode):
    view = render_tensor("t", array, mode=mode, color=color)
    segments(view)
    plain(view, width=30)


def test_bad_mode():
    with pytest.raises(ParseError, match="display mode 'pictures' is not one of: grid, heatmap"):
        render_tensor("t", np.ones(2), mode="pictures")


def test_tensor_to_json_is_reexported():
    assert tensor_to_json(np.array([np.nan, 0.5], dtype=np.float32)) == ["NaN", 0.5]


# -- colour -----------------------------------------------------------------------------


def styled_cells(view):
    return {seg.text.strip(): seg.style for seg in segments(view) if seg.text.strip() and seg.style and seg.style.color}


def test_grid_colours_are_diverging():
    cells = styled_cells(render_tensor("t", np.array([[-2.0, -0.5, 0.0, 2.0, np.nan]]), stats=False))
    negative, faint, zero, positive, nan = (rgb(cells[k].color) for k in ("-2.0000", "-0.5000", "0.0000", "2.0000", "nan"))
    assert negative == NEGATIVE_RGB  # |v| = max|v|: full colour
    assert positive == POSITIVE_RGB
    assert negative[2] > negative[0] and positive[0] > positive[2]
    assert faint[2] > faint[0] and faint != negative  # a quarter of the way to blue
    assert zero[0] == zero[1] == zero[2]  # grey
    assert nan == NAN_RGB


def test_colour_scale_spans_the_whole_tensor():
    cells = styled_cells(render_tensor("t", np.array([[[1.0]], [[4.0]]]), stats=False))
    assert rgb(cells["4."].color) == POSITIVE_RGB
    assert rgb(cells["1."].color) != POSITIVE_RGB


def test_colour_follows_the_console():
    view = render_tensor("t", np.array([-1.0, 1.0]))
    assert styled_cells(view)  # colour console: coloured
    assert not [s for s in segments(view, color_system=None) if s.style and s.style.color]
    forced_off = render_tensor("t", np.array([-1.0, 1.0]), color=False)
    assert not [s for s in segments(forced_off) if s.style and s.style.color]


def test_no_color_environment(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    text = "".join(s.text for s in segments(render_tensor("t", picture(1, 1, 4, 8), mode="heatmap")))
    assert HALF_BLOCK not in text and "@" in text


def test_heatmap_half_blocks():
    plane = np.array([[1.0, -1.0], [0.0, 0.5], [-0.5, 0.0]])  # odd height: the last row has no partner
    cells = [s for s in segments(render_tensor("t", plane, mode="heatmap", stats=False)) if s.text == HALF_BLOCK]
    first, second, third, fourth = cells[:4]
    assert rgb(first.style.color) == POSITIVE_RGB and rgb(first.style.bgcolor) == PIXEL_ZERO_RGB
    assert rgb(second.style.color) == NEGATIVE_RGB
    lower = rgb(second.style.bgcolor)
    assert lower[0] > lower[2] and lower != POSITIVE_RGB  # half-way to red
    assert rgb(third.style.color)[2] > rgb(third.style.color)[0] and third.style.bgcolor is None
    assert rgb(fourth.style.color) == PIXEL_ZERO_RGB and fourth.style.bgcolor is None
    assert len(cells) == 4  # two terminal rows of two columns
    scale = [s for s in segments(render_tensor("t", plane, mode="heatmap", stats=False)) if s.text == "█"]
    assert len(scale) == 21
    assert rgb(scale[0].style.color) == NEGATIVE_RGB and rgb(scale[10].style.color) == PIXEL_ZERO_RGB
    assert rgb(scale[-1].style.color) == POSITIVE_RGB


def test_heatmap_plain_ramp():
    plane = np.linspace(-1, 1, 10)[None, :].repeat(2, axis=0)
    lines = plain(render_tensor("t", plane, mode="heatmap", stats=False)).splitlines()
    assert lines[1] == lines[2] == RAMP
    assert lines[-1] == f"scale {RAMP!r} from -1 to 1"


def test_heatmap_shrinks_to_fit():
    text = plain(render_tensor("t", picture(1, 1, 8, 400), mode="heatmap", stats=False))
    assert "shown at 1/4 size (mean of 4×4 blocks)" in text
    body = text.splitlines()[2:4]
    assert all(len(line) == 100 for line in body)
    assert len(text.splitlines()) == 1 + 1 + 2 + 2  # title, label, 8/4 rows, note and scale
