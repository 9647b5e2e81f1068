"""convcalc show: frames as data, plain-text snapshots at 80 columns, cropping, colours, bad input.

Regenerate the snapshots after an intended change with:
CONVCALC_UPDATE_SNAPSHOTS=1 python -m pytest tests/test_show.py
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from convcalc import Conv1d, Conv2d, ConvTranspose2d, MaxPool2d
from convcalc.cli.app import PASS_THROUGH
from convcalc.errors import ConfigError, ConvcalcError, ShapeError
from convcalc.render.show import CELLS, render_drawing
from convcalc.teach.show import MAX_CELLS, draw, layer_axes
from convcalc.cli.teach import build_shown_layer, show_command

SNAPSHOTS = Path(__file__).parent / "snapshots"
WIDTH = 80


def plain(renderable) -> str:
    console = Console(width=WIDTH, color_system=None, record=True, file=io.StringIO())
    console.print(renderable)
    return console.file.getvalue()


def check_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / f"show_{name}.txt"
    if os.environ.get("CONVCALC_UPDATE_SNAPSHOTS") or not path.exists():
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")
    assert max(len(line.rstrip()) for line in text.splitlines()) <= WIDTH


CASES = {
    "conv_padding_stride": ("conv2d", ["-k", "3", "-s", "2", "-p", "1"], "5x5"),
    "conv_dilated": ("conv2d", ["-k", "3", "-d", "2"], "7x7"),
    "conv_transposed": ("convtranspose2d", ["-k", "3", "-s", "2", "-p", "1"], "3x3"),
    "maxpool_ceil": ("maxpool2d", ["-k", "3", "-s", "2", "--ceil-mode"], "6x6"),
    "conv1d": ("conv1d", ["-k", "3", "-s", "2", "-p", "1"], "8"),
    "large_cropped": ("conv2d", ["-k", "3", "-p", "1"], "40x40"),
}


@pytest.mark.parametrize("name", CASES)
def test_snapshot(name):
    layer_name, words, shape = CASES[name]
    layer, input_shape = build_shown_layer(layer_name, words, shape)
    check_snapshot(name, plain(render_drawing(draw(layer, input_shape))))


def test_taps_and_holes_follow_the_dilation():
    frame = draw(Conv1d(1, 1, 3, dilation=2), (1, 7)).frames[0]
    assert frame.grid == (("tap", "hole", "tap", "hole", "tap", "input", "input"),)


def test_padding_cells_and_output_progress():
    frames = draw(Conv2d(1, 1, 3, stride=2, padding=1), (1, 5, 5)).frames
    assert frames[0].grid[0] == ("tap_pad", "tap_pad", "tap_pad", "pad", "pad", "pad", "pad")
    assert frames[0].grid[1][:4] == ("tap_pad", "tap", "tap", "input")
    assert [f.position for f in frames] == [(0, 0), (0, 1), (0, 2)]
    assert frames[2].output[0] == ("done", "done", "current")


def test_transposed_grid_is_zero_inserted():
    # 3 inputs, stride 2: i z i z i; edge padding dilation·(k−1)−p = 1, output_padding 1 more on the right
    axes = layer_axes(ConvTranspose2d(1, 1, 3, stride=2, padding=1, output_padding=1), (1, 3, 3))
    assert axes[0].cells == ("pad", "input", "zero", "input", "zero", "input", "pad", "pad")
    assert len(axes[0].cells) - axes[0].reach + 1 == axes[0].out_size == 6


def test_transposed_padding_beyond_reach_crops():
    axes = layer_axes(ConvTranspose2d(1, 1, 2, stride=2, padding=2), (1, 4, 4))
    assert axes[0].out_size == 4 and len(axes[0].cells) == 5


def test_ceil_mode_window_overhangs_into_ignored_cells():
    drawing = draw(MaxPool2d(2, 2, ceil_mode=True), (1, 5, 5), at=(2, 2), frames=1)
    assert drawing.output_size == (3, 3)
    assert drawing.frames[0].grid[-1][-1] == "tap_pad"
    assert drawing.frames[0].grid[0][-1] == "beyond"


def test_large_inputs_are_cropped_with_a_note():
    drawing = draw(Conv2d(1, 1, 3), (1, 40, 40), at=(20, 30))
    assert all(len(row) == MAX_CELLS for row in drawing.frames[0].grid)
    assert any("cropped" in note for note in drawing.notes)
    # the window being drawn stays in view
    assert any("tap" in row for row in drawing.frames[0].grid)
    assert any("current" in row for row in drawing.frames[0].output)


def test_frames_stop_at_the_last_output():
    drawing = draw(Conv2d(1, 1, 3), (1, 4, 4), at=(1, 1), frames=5)
    assert [f.position for f in drawing.frames] == [(1, 1)]


def test_colours_mark_kinds():
    console = Console(width=WIDTH, file=io.StringIO(), color_system="truecolor", force_terminal=True)
    drawing = draw(Conv2d(1, 1, 3, padding=1, dilation=2), (1, 5, 5))
    styles = {str(seg.style) for line in console.render_lines(render_drawing(drawing)) for seg in line
              if seg.text.strip() in ("x", "X", "+", "p")}
    assert {CELLS[kind][1] for kind in ("tap", "tap_pad", "hole", "pad")} <= styles
    assert len({char for char, _, _ in CELLS.values()}) == len(CELLS) - 1  # only todo shares input's dot


@pytest.mark.parametrize(
    "layer, shape, at, message",
    [
        (Conv2d(1, 1, 3), (1, 5, 5), (3, 0), "outside the output 3×3"),
        (Conv2d(1, 1, 3), (1, 5, 5), (0, -1), "outside"),
        (Conv2d(1, 1, 3), (1, 5, 5), (1,), "needs 2 values"),
        (Conv2d(1, 1, 3), (1, 2, 2), None, "larger"),
        (Conv2d(1, 1, 3), (3, 5, 5), None, "channels"),
    ],
)
def test_bad_positions_and_shapes(layer, shape, at, message):
    with pytest.raises(ConvcalcError, match=message):
        draw(layer, shape, at)


def test_only_sliding_layers_are_drawn():
    with pytest.raises(ConfigError, match="Linear is not one"):
        build_shown_layer("linear", ["--out", "3"], "5")
    with pytest.raises(ConfigError, match="Conv3d"):
        build_shown_layer("conv3d", ["-k", "3"], "5x5x5")
    # size rules but no sliding window: padding, adaptive pools, unpooling
    for name, words in [("zeropad2d", ["--padding", "1"]), ("adaptiveavgpool2d", ["--output-size", "2"]),
                        ("maxunpool2d", ["-k", "2"])]:
        with pytest.raises(ConfigError, match="is not one"):
            build_shown_layer(name, words, "5x5")


def test_layer_options_read_like_a_spec_line():
    layer, shape = build_shown_layer("conv2d", ["--in", "2", "--out", "4", "-k", "3", "--padding", "same"], "2x6x6")
    assert (layer.in_channels, layer.out_channels, layer.padding, shape) == (2, 4, "same", (2, 6, 6))
    with pytest.raises(ConvcalcError, match="no option"):
        build_shown_layer("conv2d", ["-k", "3", "--bogus", "1"], "5x5")


# -- the command, on a throwaway app (cli/app.py registers it on the real one) --

app = typer.Typer()
app.command("show", context_settings=PASS_THROUGH)(show_command)


@app.command("other")
def _other() -> None:
    pass


def invoke(*args: str):
    result = CliRunner().invoke(app, ["show", *args], env={"NO_COLOR": "1", "COLUMNS": "80"})
    if isinstance(result.exception, ConvcalcError):
        return 2, str(result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_cli_draws():
    code, out = invoke("conv2d", "-k", "3", "-s", "2", "-p", "1", "--input", "5x5", "--frames", "1")
    assert code == 0 and "output[0, 0]" in out and "p padding" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (("conv2d", "-k", "3", "--input", "5x5", "--at", "9x9"), "outside the output"),
        (("conv2d", "-k", "3"), "needs --input"),
        (("conv2d", "-k", "3", "--input", "0x5"), "0"),
        (("conv2d", "-k", "3", "--input", "5x5", "--frames", "0"), "--frames"),
        (("nosuchlayer", "--input", "5x5"), "nosuchlayer"),
        (("maxunpool2d", "-k", "2", "--input", "3x3"), "MaxUnpool2d is not one"),
    ],
)
def test_cli_errors(args, message):
    code, text = invoke(*args)
    assert code == 2 and message in text
