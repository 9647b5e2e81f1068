"""The Python API under hostile arguments (issue 13, item 7): what ``forward`` takes as input
and parameters, NumPy values as constructor arguments, ``summary(input_shape=3)``, sizes
beyond int64, and NumPy's RuntimeWarnings. Each reproducer raised TypeError/ValueError, passed
silently or printed NumPy's warning with a source line; each now raises ConvcalcError with the
CLI's wording, or does what torch does.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import convcalc
from convcalc.errors import ConfigError, ConvcalcError, ParseError, ShapeError


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a ComplexWarning or RuntimeWarning fails the test
        yield


@pytest.mark.parametrize("x, words", [
    (np.array([1, "a"], dtype=object), "holds Python object values (object), not numbers"),
    (np.array([1.0, 2.0], dtype=object), "holds Python object values (object), not numbers"),
    (np.array([1 + 2j, 2]), "holds complex numbers (complex128); convcalc computes with real floats"),
    (np.array(["a", "b"]), "holds text values (<U1), not numbers"),
    ([[1.0], [1.0, 2.0]], "is not an array of numbers"),
])
def test_forward_refuses_input_that_is_not_real_numbers(x, words):
    """Reproducer: complex input was cast to real with only a ComplexWarning; object input raised
    NumPy's ValueError."""
    with pytest.raises(ConvcalcError) as caught:
        convcalc.ReLU().forward(x)
    assert str(caught.value).startswith(f"ReLU.forward: the input {words}")
    with pytest.raises(ConvcalcError, match="the input"):
        convcalc.parse_network("relu").forward(x)


def test_forward_input_messages_match_the_file_reader(tmp_path, cli):
    np.save(tmp_path / "c.npy", np.array([[1 + 2j, 2]]))
    result = cli("relu", "--input-file", str(tmp_path / "c.npy"))
    result.assert_one_error_line(["holds complex numbers (complex128); convcalc computes with real floats"])


@pytest.mark.parametrize("value, words", [
    ("abc", "holds text values (<U3), not numbers"),
    (np.ones((2, 2)) * 1j, "holds complex numbers (complex128)"),
    (None, "holds Python object values (object), not numbers"),
])
def test_forward_refuses_parameters_that_are_not_real_numbers(value, words):
    """Reproducer: a string weight raised int()'s ValueError; a complex weight gave a complex output."""
    layer = convcalc.Linear(2, 2)
    with pytest.raises(ConvcalcError) as caught:
        layer.forward(np.ones((1, 2)), {"weight": value, "bias": np.zeros(2)})
    assert str(caught.value).startswith(f"Linear.forward: the parameter 'weight' {words}")
    network = convcalc.parse_network("linear --in 2 --out 2")
    with pytest.raises(ConvcalcError, match="the state_dict entry '0.weight' " + words[:12]):
        network.forward(np.ones((1, 2)), {"0.weight": value, "0.bias": np.zeros(2)})


def test_list_valued_parameters_are_arrays():
    """Reproducer: list-valued params raised TypeError from the shape check."""
    weight, bias = [[1.0, 2.0], [3.0, 4.0]], [0.5, -0.5]
    expected = np.array([[3.5, 6.5]])
    assert np.array_equal(convcalc.Linear(2, 2).forward(np.ones((1, 2)), {"weight": weight, "bias": bias}), expected)
    network = convcalc.parse_network("linear --in 2 --out 2")
    assert np.array_equal(network.forward(np.ones((1, 2)), {"0.weight": weight, "0.bias": bias}), expected)
    with pytest.raises(ShapeError, match=r"wrong shape: weight expected \[2, 2\], got \[3\]"):
        convcalc.Linear(2, 2).forward(np.ones((1, 2)), {"weight": [1.0, 2.0, 3.0], "bias": bias})


def test_numpy_values_as_constructor_arguments_read_as_torch_reads_them():
    """Reproducer: Conv1d(..., padding=np.array([1, 1])) raised NumPy's 'truth value of an array
    is ambiguous'; np.int64 channel counts were refused."""
    assert repr(convcalc.Conv2d(np.int64(3), np.int32(8), np.array([3, 5]))) == repr(convcalc.Conv2d(3, 8, (3, 5)))
    assert convcalc.Conv1d(1, 1, 3, padding=np.array([1])).padding == (1,)
    assert convcalc.Conv2d(1, 1, 3, padding=np.array([1, 2])).padding == (1, 2)
    assert convcalc.Linear(np.array(3), 4).param_shapes() == {"weight": (4, 3), "bias": (4,)}
    assert convcalc.Dropout(np.float64(0.25)).p == 0.25
    with pytest.raises(ConfigError, match="in_channels must be a whole number >= 1: got in_channels=2.5"):
        convcalc.Conv2d(np.float64(2.5), 8, 3)


def test_summary_input_shape_3_gives_the_cli_message(tmp_path, cli):
    """Reproducer: summary(input_shape=3) raised TypeError ('int' object is not iterable)."""
    spec = tmp_path / "net.txt"
    spec.write_text("conv2d --in 3 --out 8 -k 3\n")
    with pytest.raises(ShapeError) as caught:
        convcalc.parse_network(spec.read_text()).summary(input_shape=3)
    assert "Conv2d: input [3]: expected a 3-D or 4-D input" in str(caught.value)
    result = cli("net", str(spec), "-i", "3")
    result.assert_one_error_line()
    assert result.stderr.strip() == f"convcalc: error: {caught.value}"
    network = convcalc.parse_network(spec.read_text())
    assert network.summary(input_shape=np.array([1, 3, 8, 8])).output_shape == (1, 8, 6, 6)
    with pytest.raises(ParseError, match="is not a shape; give whole numbers such as"):
        network.summary(input_shape=object())


@pytest.mark.parametrize("make, words", [
    (lambda: convcalc.Conv2d(3, 8, 2**70), "Conv2d: kernel_size=1180591620717411303424 is beyond PyTorch's 64-bit sizes"),
    (lambda: convcalc.Conv2d(3, 8, 3, stride=(1, 2**64)), "Conv2d: stride=(1, 18446744073709551616) is beyond"),
    (lambda: convcalc.Linear(2**63, 4), "Linear: in_features=9223372036854775808 is beyond"),
    (lambda: convcalc.AvgPool2d(2, divisor_override=2**70), "divisor_override=1180591620717411303424 is beyond"),
    (lambda: convcalc.AdaptiveAvgPool2d((None, 2**70)), "output_size=(None, 1180591620717411303424) is beyond"),
])
def test_sizes_beyond_int64_are_refused_as_the_cli_refuses_them(make, words):
    """Reproducer: Conv2d(3, 8, 2**70) was built and printed a 22-digit kernel."""
    with pytest.raises(ConfigError) as caught:
        make()
    assert words in str(caught.value)


def test_shapes_beyond_int64_are_refused():
    """Reproducer: output_shape((1, 3, 2**70, 8)) answered with a 22-digit size."""
    with pytest.raises(ShapeError, match="more than 9223372036854775807 elements, beyond PyTorch's 64-bit sizes"):
        convcalc.Conv2d(3, 8, 3).output_shape((1, 3, 2**70, 8))
    with pytest.raises(ShapeError, match="beyond PyTorch's 64-bit sizes"):
        convcalc.ReLU().output_shape((2**62,) * 4)
    with pytest.raises(ParseError, match="beyond PyTorch's 64-bit sizes"):
        convcalc.parse_network("relu").summary(input_shape=(2**40, 3, 2**20, 2**20))
    assert convcalc.ReLU().output_shape((2**31, 2**31)) == (2**31, 2**31)  # 2**62 elements: fine


def test_scalar_arguments_keep_their_own_64_bit_rule():
    # Hardtanh's bounds are values, not sizes: their layer says how to write them instead.
    with pytest.raises(ConfigError, match="max_val=18446744073709551616 does not fit in a 64-bit integer.*write it as a float"):
        convcalc.Hardtanh(-1.0, 2**64)
    assert convcalc.Hardtanh(-1.0, float(2**64)).max_val == float(2**64)


def test_overflow_in_forward_gives_inf_without_a_warning():
    x = np.full((1, 4), 1e38, np.float32)
    params = {"weight": np.full((4, 4), 1e38, np.float32), "bias": np.zeros(4, np.float32)}
    out = convcalc.Linear(4, 4).forward(x, params)  # warnings are errors here
    assert np.isinf(out).all()


def test_overflow_on_the_command_line_is_one_clean_warning(console_script):
    """Reproducer: NumPy's RuntimeWarning reached stderr with the kernel's source line."""
    result = console_script("linear", "--in", "4", "--out", "4", "-i", "1x4", "--run",
                            "--fill", "full:1e38", "--fill-weights", "full:1e38")
    assert result.code == 0, result.stderr
    assert result.stderr.splitlines() == [
        "convcalc: warning: the output has 4 infinite values (of 4): float32 overflowed; --dtype float64 reaches 1.8e308"
    ]
    assert "inf" in result.stdout


def test_any_library_warning_is_one_line(cli, monkeypatch):
    from convcalc.single import report

    original = report.layer_report

    def warning_report(*args, **kwargs):
        warnings.warn("something odd\n  in two lines", RuntimeWarning)
        return original(*args, **kwargs)

    monkeypatch.setattr(report, "layer_report", warning_report)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        result = cli("relu", "-i", "1x3")
    assert result.code == 0
    assert result.stderr == "convcalc: warning: something odd in two lines\n"


def test_a_nan_without_infinities_is_not_called_an_overflow(console_script):
    """Reproducer: a fractional power of a negative window sum (torch's NaN too) was put down to
    float32 overflowing, with the advice to use float64, which gives the same NaN."""
    result = console_script("lppool2d", "--norm-type", "3", "-k", "2", "-i", "1x1x4x4", "--fill", "full:-1", "--run")
    assert result.code == 0, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("convcalc: warning: the output has 4 NaN values (of 4), as torch gives: an operation "
                           "undefined for its input")
    assert "float32 overflowed" not in line
