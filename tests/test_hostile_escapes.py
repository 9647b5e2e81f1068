"""Terminal escapes in data (issue 13, item 3): a layer name, an .npz member name, a path or an
option holding ESC ] ... BEL or other C0/C1 controls never reaches the terminal raw. Specs refuse
them (the JSON form's escapes included); everything echoed (error lines, warnings, tables, CSV,
JSON) shows them escaped.
"""

from __future__ import annotations

import json
import re
import zipfile
import io

import numpy as np
import pytest

from convcalc.errors import ConvcalcError, FileError, printable

TITLE = "\x1b]0;owned\x07"  # sets the terminal's title
RAW = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # what must never be written


def _assert_clean(result) -> None:
    assert not RAW.search(result.stdout), repr(result.stdout)
    assert not RAW.search(result.stderr), repr(result.stderr)


@pytest.mark.parametrize("layer", [
    {"type": "relu", "name": "a" + TITLE},
    {"type": "relu" + TITLE},
    {"type": "Block" + TITLE, "layers": ["relu"]},
    {"type": "conv2d", "out_channels": 2, "kernel_size": 1, "padding_mode": "zeros\x9b31m"},
    {"type": "relu", "na\x9bme": "x"},
])
def test_json_specs_refuse_control_characters_their_escapes_hide(tmp_path, cli, layer):
    """Reproducer: a JSON layer name "a\\u001b]0;owned\\u0007" passed the spec's control-character
    check (which reads the raw text) and reached the table raw."""
    spec = tmp_path / "net.json"
    spec.write_text(json.dumps([layer]))  # json.dumps writes the controls as \\u escapes
    result = cli("net", str(spec), "-i", "1x3x4x4", "--csv")
    result.assert_one_error_line(["control character", "a spec holds printable text"])
    _assert_clean(result)


@pytest.mark.parametrize("text", ["(a\x9b31m): ReLU()\n", "relu" + TITLE + "\n", "Seq\x9b(\n  (a): ReLU()\n)\n"])
def test_text_specs_refuse_c0_and_c1_controls(tmp_path, cli, text):
    """Reproducer: a C1 CSI (\\x9b) in a print(model) name reached the CSV raw."""
    spec = tmp_path / "net.txt"
    spec.write_bytes(text.encode())
    result = cli("net", str(spec), "-i", "1x3", "--csv")
    result.assert_one_error_line(["control character"])
    _assert_clean(result)


def test_npz_member_names_are_escaped_in_errors(tmp_path, cli):
    """Reproducer: `esc.npz holds 2 arrays (a<ESC>]0;owned<BEL>, b)` was printed raw."""
    buffer = io.BytesIO()
    np.save(buffer, np.ones(3))
    with zipfile.ZipFile(tmp_path / "esc.npz", "w") as archive:
        archive.writestr(f"a{TITLE}.npy", buffer.getvalue())
        archive.writestr("b.npy", buffer.getvalue())
    result = cli("relu", "--input-file", str(tmp_path / "esc.npz"))
    result.assert_one_error_line(["holds 2 arrays (a\\x1b]0;owned\\x07, b)"])
    _assert_clean(result)
    result = cli("linear", "--in", "3", "--out", "1", "-i", "1x3", "--weights", str(tmp_path / "esc.npz"))
    result.assert_one_error_line(["a\\x1b]0;owned\\x07"])
    _assert_clean(result)


@pytest.mark.parametrize("argv", [
    ("relu", "--input-file", f"x{TITLE}.npy"),
    ("relu", "-i", f"1x3{TITLE}"),
    ("relu", f"--bogus{TITLE}"),
    (f"conv{TITLE}",),
    ("conv2d", "--in", "1", "--out", "1", "-k", "1", "--padding-mode", f"zeros{TITLE}"),
    ("relu", "-i", "1x3", "--fill", f"full:1{TITLE}"),
])
def test_error_messages_escape_what_they_quote(cli, argv):
    result = cli(*argv)
    assert result.code == 2 and "\\x1b]0;owned\\x07" in result.stderr, result.stderr
    _assert_clean(result)


def test_the_error_family_escapes_its_messages():
    assert str(FileError(f"cannot read {TITLE}")) == "cannot read \\x1b]0;owned\\x07"
    assert str(ConvcalcError("two\nlines\tand a tab")) == "two\nlines\tand a tab"  # one_line folds these
    assert printable("CSI \x9b2J and DEL \x7f", lines=False) == "CSI \\x9b2J and DEL \\x7f"


def test_json_output_escapes_c1_and_del(capsys):
    from convcalc.cli.output import emit_json

    emit_json({"name": "a\x9b31m\x7f\x1b"})
    out = capsys.readouterr().out
    assert out == '{"name":"a\\u009b31m\\u007f\\u001b"}\n'
    assert json.loads(out) == {"name": "a\x9b31m\x7f\x1b"}


def test_plain_text_output_escapes_controls(capsys):
    from convcalc.cli.output import emit_text

    emit_text(f"name,type\n{TITLE},ReLU\n")
    assert capsys.readouterr().out == "name,type\n\\x1b]0;owned\\x07,ReLU\n"


def test_warnings_escape_what_they_quote(tmp_path, cli):
    np.save(tmp_path / f"w{TITLE}.npy", np.array([1, 2, 3]))  # ints: converted with a warning
    result = cli("relu", "--input-file", str(tmp_path / f"w{TITLE}.npy"))
    assert result.code == 0
    assert "convcalc: warning:" in result.stderr and "\\x1b]0;owned\\x07" in result.stderr
    _assert_clean(result)
