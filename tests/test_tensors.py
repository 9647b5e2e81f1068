"""convcalc.tensors: fills, parameters, file reading, checks, memory limit, saving, JSON."""

from __future__ import annotations

import json
import math
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import convcalc
from convcalc.errors import ConvcalcError, FileError, ParseError, ShapeError
from convcalc.shapes import format_bytes
from convcalc.tensors.arrays import array_stats, tensor_to_json
from convcalc.tensors.files import load_input, load_weights
from convcalc.tensors.fill import Fill, make_params, make_rng, make_tensor, parse_fill
from convcalc.tensors.memory import MemoryLimitError, check_memory, estimate_bytes, parse_memory
from convcalc.tensors.params import check_params
from convcalc.tensors.save import save_array
from strategies import examples

# -- fills ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("normal", Fill("normal")),
        ("normal:0.5,2", Fill("normal", (0.5, 2.0))),
        ("uniform", Fill("uniform")),
        ("uniform:-1,1", Fill("uniform", (-1.0, 1.0))),
        ("ones", Fill("ones")),
        ("zeros", Fill("zeros")),
        ("full:2.5", Fill("full", (2.5,))),
        ("arange", Fill("arange")),
        ("randint:-1,1", Fill("randint", (-1.0, 1.0))),
        (" RandInt: -1 , 1 ", Fill("randint", (-1.0, 1.0))),
    ],
)
def test_parse_fill(text, expected):
    assert parse_fill(text) == expected
    assert parse_fill(str(expected)) == expected


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("gauss", "is not one of: normal"),
        ("randint", "randint:LOW,HIGH"),
        ("randint:1", "randint:LOW,HIGH"),
        ("randint:2,1", "LOW must not exceed HIGH; write randint:1,2"),
        ("randint:0.5,2", "whole numbers"),
        ("ones:3", "ones takes no arguments"),
        ("arange:1", "arange takes no arguments"),
        ("normal:0,-1", "STD must be >= 0"),
        ("normal:1", "normal:MEAN,STD"),
        ("uniform:2,1", "LOW must not exceed HIGH"),
        ("uniform:a,b", "must be numbers"),
        ("full", "full:VALUE"),
        ("full:inf", "finite"),
        ("", "is not one of"),
    ],
)
def test_parse_fill_errors(text, fragment):
    with pytest.raises(ParseError, match=None) as info:
        parse_fill(text)
    assert fragment in str(info.value)


def test_parse_fill_names_the_option():
    with pytest.raises(ParseError, match=r"^--weight-fill 'randint:3': write randint:LOW,HIGH"):
        parse_fill("randint:3", what="--weight-fill")


def test_constant_fills():
    assert (make_tensor((2, 3), "ones") == 1).all()
    assert (make_tensor((2, 3), "zeros") == 0).all()
    assert (make_tensor((2, 3), "full:-1.5") == -1.5).all()
    assert make_tensor((2, 3), "arange").tolist() == [[0, 1, 2], [3, 4, 5]]
    assert make_tensor((2, 3), "ones").dtype == np.float32
    assert make_tensor((2, 3), "ones", dtype="float64").dtype == np.float64


def test_normal_and_uniform_fills():
    rng = make_rng(0)
    normal = make_tensor((200_000,), "normal", rng, "float64")
    assert abs(normal.mean()) < 0.01 and abs(normal.std() - 1) < 0.01
    shifted = make_tensor((200_000,), "normal:3,0.5", rng, "float64")
    assert abs(shifted.mean() - 3) < 0.01 and abs(shifted.std() - 0.5) < 0.01
    uniform = make_tensor((100_000,), "uniform", rng)
    assert uniform.min() >= 0 and uniform.max() < 1 and abs(uniform.mean() - 0.5) < 0.01
    ranged = make_tensor((100_000,), "uniform:-2,-1", rng)
    assert ranged.min() >= -2 and ranged.max() <= -1


@pytest.mark.parametrize("low, high", [(-1, 1), (0, 0), (-3, 2), (5, 6)])
def test_randint_includes_both_bounds(low, high):
    values = make_tensor((2000,), f"randint:{low},{high}", make_rng(1))
    assert set(values.tolist()) == set(map(float, range(low, high + 1)))


def test_seeds_reproducible():
    first = make_tensor((3, 4), "normal", make_rng(42))
    again = make_tensor((3, 4), "normal", make_rng(42))
    other = make_tensor((3, 4), "normal", make_rng(43))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    # The dtype changes rounding only, not which numbers are drawn.
    wide = make_tensor((3, 4), "normal", make_rng(42), "float64")
    assert np.allclose(first, wide, rtol=1e-6)
    params = [make_params({"weight": (4, 3), "bias": (4,)}, "uniform", make_rng(7)) for _ in range(2)]
    assert all(np.array_equal(params[0][k], params[1][k]) for k in params[0])


def test_large_tensors_are_drawn_in_chunks_without_a_float64_copy():
    import tracemalloc

    from convcalc.tensors.fill import _CHUNK

    count = 8 * _CHUNK + 5
    assert np.array_equal(make_tensor((count,), "arange", dtype="float64"), np.arange(count, dtype=np.float64))
    values = make_tensor((count,), "randint:-1,1", make_rng(0))
    assert set(np.unique(values).tolist()) == {-1.0, 0.0, 1.0}
    tracemalloc.start()
    try:
        make_tensor((count,), "normal", make_rng(0))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    tensor_bytes = count * 4
    assert peak < tensor_bytes + 3 * _CHUNK * 8, (peak, tensor_bytes)


@pytest.mark.parametrize("dtype", ["int8", "bfloat16", "complex64", "nonsense"])
def test_bad_dtype(dtype):
    with pytest.raises(ParseError, match="float32"):
        make_tensor((2,), "ones", dtype=dtype)


@pytest.mark.parametrize("shape", [(0, 3), (-1,), (2.5,), (True,)])
def test_bad_shape(shape):
    with pytest.raises(ShapeError):
        make_tensor(shape, "ones")


@pytest.mark.parametrize("seed", [-1, 1.5, "3", True])
def test_bad_seed(seed):
    with pytest.raises(ParseError, match="--seed"):
        make_rng(seed)


# -- parameters -------------------------------------------------------------------------


def test_params_torch_like_uniform_bounds():
    shapes = {
        "0.weight": (64, 3, 7, 7),  # conv: fan_in 3*49
        "0.bias": (64,),
        "1.weight": (32, 8, 4, 4),  # transposed conv (in, out/groups, k): torch's fan_in is dim 1 * k
        "2.weight": (10, 1000),  # linear
        "2.bias": (10,),
    }
    params = make_params(shapes, "uniform", make_rng(0))
    for key, fan_in in (("0.weight", 147), ("0.bias", 147), ("1.weight", 128), ("2.weight", 1000), ("2.bias", 1000)):
        bound = 1 / math.sqrt(fan_in)
        assert np.abs(params[key]).max() <= bound * (1 + 1e-6), key
        if params[key].size > 1000:
            assert np.abs(params[key]).max() > 0.98 * bound, key
    normal = make_params({"weight": (256, 64, 3, 3)}, "normal", make_rng(0))["weight"]
    assert abs(normal.std() - 1 / math.sqrt(3 * 576)) < 0.002


@pytest.mark.oracle
def test_params_match_torch_init_scale():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    # Enough outputs that even the biases' largest magnitudes sit close to the bound.
    modules = (torch.nn.Conv2d(16, 2048, 3), torch.nn.ConvTranspose2d(16, 1024, 4, groups=2), torch.nn.Linear(300, 2000))
    for module in modules:
        shapes = {k: tuple(v.shape) for k, v in module.state_dict().items()}
        ours = make_params(shapes, "uniform", make_rng(0))
        for key, tensor in module.state_dict().items():
            theirs = tensor.abs().max().item()
            assert ours[key].shape == tuple(tensor.shape)
            assert np.abs(ours[key]).max() == pytest.approx(theirs, rel=0.02), (module, key)


def test_params_norm_defaults_from_declared_roles():
    shapes = {
        "1.weight": (4,),
        "1.bias": (4,),
        "1.running_mean": (4,),
        "1.running_var": (4,),
        "1.num_batches_tracked": (),
        "2.weight": (3, 4),  # LayerNorm((3, 4)): a 2-d weight that is still a scale
        "2.bias": (3, 4),
        "3.weight": (5,),
    }
    layers = {"1": convcalc.BatchNorm2d(4), "2": convcalc.LayerNorm((3, 4)), "3": convcalc.PReLU(5)}
    roles = {f"{name}.{key}": role for name, layer in layers.items() for key, role in layer.state_roles().items()}
    for fill in ("normal", "uniform"):
        params = make_params(shapes, fill, make_rng(0), roles=roles)
        assert (params["1.weight"] == 1).all() and (params["1.bias"] == 0).all()
        assert (params["1.running_mean"] == 0).all() and (params["1.running_var"] == 1).all()
        assert params["1.num_batches_tracked"].dtype == np.int64 and params["1.num_batches_tracked"].shape == ()
        assert (params["2.weight"] == 1).all() and (params["2.bias"] == 0).all()
        assert (params["3.weight"] == 0.25).all()


def test_params_roles_guessed_without_kinds():
    shapes = {"bn.weight": (4,), "bn.bias": (4,), "bn.running_var": (4,), "act.weight": (1,), "fc.bias": (3,), "fc.weight": (3, 2)}
    params = make_params(shapes, "normal", make_rng(0))
    assert (params["bn.weight"] == 1).all() and (params["bn.bias"] == 0).all()
    assert (params["act.weight"] == 0.25).all()
    assert np.abs(params["fc.bias"]).max() <= 1 / math.sqrt(2)


def test_params_explicit_fill_applies_literally_but_variance_stays_positive():
    shapes = {"weight": (2, 2), "bias": (2,), "bn.running_var": (500,), "bn.running_mean": (3,), "bn.num_batches_tracked": ()}
    ones = make_params(shapes, "ones")
    assert all((ones[k] == 1).all() for k in ("weight", "bias", "bn.running_var", "bn.running_mean"))
    assert ones["bn.num_batches_tracked"] == 0
    rand = make_params(shapes, "randint:-2,2", make_rng(3))
    assert rand["bn.running_var"].min() >= 0 and set(rand["bn.running_var"].tolist()) == {0.0, 1.0, 2.0}
    assert set(rand["weight"].ravel().tolist()) <= {-2.0, -1.0, 0.0, 1.0, 2.0}
    assert make_params({"weight": (2, 3)}, "arange")["weight"].tolist() == [[0, 1, 2], [3, 4, 5]]


# -- reading inputs ---------------------------------------------------------------------


def test_npy_round_trip(tmp_path):
    data = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4) / 7
    np.save(tmp_path / "x.npy", data)
    loaded = load_input(tmp_path / "x.npy")
    assert loaded.array.dtype == np.float32 and np.array_equal(loaded.array, data)
    assert loaded.warnings == []
    assert load_input(tmp_path / "x.npy", shape=(1, 2, 3, 4)).warnings == []


def test_npy_float64_cast_silently(tmp_path):
    np.save(tmp_path / "x.npy", np.linspace(0, 1, 5))
    loaded = load_input(tmp_path / "x.npy")
    assert loaded.array.dtype == np.float32 and loaded.warnings == []
    assert load_input(tmp_path / "x.npy", dtype="float64").array.dtype == np.float64


def test_reshape_rules(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 4, 5)))
    # Adding a batch dim is silent; moving numbers between dims is done with a warning.
    assert load_input(tmp_path / "x.npy", shape=(1, 3, 4, 5)).warnings == []
    loaded = load_input(tmp_path / "x.npy", shape=(1, 5, 4, 3))
    assert loaded.array.shape == (1, 5, 4, 3)
    assert "reshaped to [1, 5, 4, 3]" in loaded.warnings[0] and "channels-last" in loaded.warnings[0]
    with pytest.raises(ShapeError, match=r"holds 60 numbers in shape \[3, 4, 5\], but --input \[1, 3, 4, 4\] needs 48"):
        load_input(tmp_path / "x.npy", shape=(1, 3, 4, 4))


@pytest.mark.parametrize(
    "dtype, shown", [(np.int64, "int64"), (np.uint8, "uint8"), (np.int32, "int32"), (np.bool_, "bool")]
)
def test_integer_and_bool_converted_with_warning(tmp_path, dtype, shown):
    np.save(tmp_path / "x.npy", np.array([[0, 1], [1, 0]], dtype=dtype))
    loaded = load_input(tmp_path / "x.npy")
    assert loaded.array.dtype == np.float32
    assert loaded.array.tolist() == [[0, 1], [1, 0]]
    assert loaded.warnings == [f"{tmp_path / 'x.npy'} holds {shown} values; converted to float32"]


def test_nan_and_inf_warned_and_kept(tmp_path):
    np.save(tmp_path / "x.npy", np.array([1.0, np.nan, np.inf, -np.inf, np.nan]))
    loaded = load_input(tmp_path / "x.npy")
    assert np.isnan(loaded.array).sum() == 2 and np.isinf(loaded.array).sum() == 2
    (note,) = loaded.warnings
    assert "2 NaN and 2 infinite values (of 5)" in note


def test_overflow_on_cast_is_reported_not_printed(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.array([1e300, 1.0]))
    loaded = load_input(tmp_path / "x.npy")
    assert np.isinf(loaded.array[0]) and "1 infinite value" in loaded.warnings[0]
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize(
    "data, message",
    [
        (np.array([1 + 2j]), "complex numbers"),
        (np.array(["a", "b"]), "not numbers"),
        (np.zeros((0, 3)), "is empty"),
        (np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]), "not numbers"),
    ],
)
def test_non_numeric_arrays_rejected(tmp_path, data, message):
    np.save(tmp_path / "x.npy", data)
    with pytest.raises(FileError, match=message):
        load_input(tmp_path / "x.npy")


def test_npz_single_array_and_keys(tmp_path):
    np.savez(tmp_path / "one.npz", image=np.ones((1, 3, 2, 2)))
    assert load_input(tmp_path / "one.npz").array.shape == (1, 3, 2, 2)
    np.savez(tmp_path / "many.npz", first=np.ones(3), second=np.zeros(4), third=np.ones(1))
    with pytest.raises(FileError, match=r"holds 3 arrays \(first, second, third\); choose one with --key NAME"):
        load_input(tmp_path / "many.npz")
    assert load_input(tmp_path / "many.npz", key="second").array.tolist() == [0, 0, 0, 0]
    with pytest.raises(FileError, match=r"has no array 'fourth'; it holds: first, second, third"):
        load_input(tmp_path / "many.npz", key="fourth")
    np.savez(tmp_path / "empty.npz")
    with pytest.raises(FileError, match="holds no arrays"):
        load_input(tmp_path / "empty.npz")


def test_key_and_gray_only_where_they_apply(tmp_path):
    np.save(tmp_path / "x.npy", np.ones(3))
    with pytest.raises(FileError, match="--key 'a' only applies to .npz"):
        load_input(tmp_path / "x.npy", key="a")
    with pytest.raises(FileError, match="--gray only applies to images"):
        load_input(tmp_path / "x.npy", gray=True)


def test_npz_object_array_rejected(tmp_path):
    np.savez(tmp_path / "obj.npz", a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(FileError, match="Python objects"):
        load_input(tmp_path / "obj.npz")


def test_csv_reshaped_to_shape(tmp_path):
    (tmp_path / "x.csv").write_text("1,2,3,4\n5,6,7,8\n9,10,11,12\n13,14,15,16\n")
    loaded = load_input(tmp_path / "x.csv", shape=(1, 1, 4, 4))
    assert loaded.array.shape == (1, 1, 4, 4) and loaded.array[0, 0, 3, 3] == 16
    assert loaded.array.dtype == np.float32
    assert load_input(tmp_path / "x.csv").array.shape == (4, 4)
    loaded = load_input(tmp_path / "x.csv", shape=(2, 8))
    assert loaded.array[1].tolist() == list(range(9, 17))


def test_csv_wrong_element_count(tmp_path):
    (tmp_path / "x.csv").write_text("1,2,3\n4,5,6\n")
    with pytest.raises(ShapeError, match=r"holds 6 numbers, but --input \[1, 1, 2, 2\] needs 4"):
        load_input(tmp_path / "x.csv", shape=(1, 1, 2, 2))


def test_text_formats(tmp_path):
    data = np.arange(12.0).reshape(3, 4) / 3
    np.savetxt(tmp_path / "saved.txt", data, header="written by np.savetxt")
    assert np.allclose(load_input(tmp_path / "saved.txt").array, data)
    (tmp_path / "semi.csv").write_text("\ufeff1;2\n3;4\n")  # a BOM and semicolons, as spreadsheets write
    assert load_input(tmp_path / "semi.csv").array.tolist() == [[1, 2], [3, 4]]
    (tmp_path / "col.txt").write_text("1\n2\n3\n")
    assert load_input(tmp_path / "col.txt").array.shape == (3,)
    (tmp_path / "quoted.csv").write_text('"1.5","-2"\n"nan","inf"\n')
    loaded = load_input(tmp_path / "quoted.csv")
    assert loaded.array[0].tolist() == [1.5, -2] and "1 NaN and 1 infinite" in loaded.warnings[0]
    (tmp_path / "ragged.csv").write_text("1,2,3\n4,5\n")
    with pytest.raises(FileError, match=r"row 1 has 3 numbers, row 2 has 2\); give --input SHAPE"):
        load_input(tmp_path / "ragged.csv")
    assert load_input(tmp_path / "ragged.csv", shape=(5,)).array.tolist() == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    "text, message",
    [
        ("a,b\n1,2\n", r"line 1, field 1: 'a' is not a number \(a header line\?"),
        ("1,2\n3,x\n", r"line 2, field 2: 'x' is not a number$"),
        ("1,,2\n", "line 1: field 2 is empty"),
        ("", "holds no numbers"),
        ("# only a comment\n\n", "holds no numbers"),
    ],
)
def test_text_that_is_not_numbers(tmp_path, text, message):
    (tmp_path / "x.csv").write_text(text)
    with pytest.raises(FileError, match=message):
        load_input(tmp_path / "x.csv", shape=(4,))


def test_binary_file_with_text_suffix(tmp_path):
    (tmp_path / "x.txt").write_bytes(bytes(range(256)))
    with pytest.raises(FileError, match="neither a text file of numbers"):
        load_input(tmp_path / "x.txt")


def test_truncated_npy(tmp_path):
    np.save(tmp_path / "x.npy", np.arange(100.0))
    whole = (tmp_path / "x.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(whole[:-16])
    with pytest.raises(FileError, match="truncated or corrupt"):
        load_input(tmp_path / "cut.npy")
    (tmp_path / "head.npy").write_bytes(whole[:40])
    with pytest.raises(FileError, match="truncated or corrupt"):
        load_input(tmp_path / "head.npy")


def test_truncated_npz(tmp_path):
    np.savez(tmp_path / "x.npz", a=np.arange(100.0))
    whole = (tmp_path / "x.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(FileError, match="not a readable .npz archive"):
        load_input(tmp_path / "cut.npz")


def test_every_truncation_of_npy_and_npz_is_a_clean_error(tmp_path):
    np.save(tmp_path / "x.npy", np.arange(6.0).reshape(2, 3))
    np.savez_compressed(tmp_path / "x.npz", a=np.arange(6.0))
    for name in ("x.npy", "x.npz"):
        whole = (tmp_path / name).read_bytes()
        for cut in range(len(whole)):
            target = tmp_path / f"cut{cut}{Path(name).suffix}"
            target.write_bytes(whole[:cut])
            try:
                load_input(target)
            except ConvcalcError:
                pass


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("x.npy", b"hello, not numpy", "is not a NumPy .npy file"),
        ("x.npz", b"hello, not a zip", "is not a NumPy .npz file"),
    ],
)
def test_wrong_content_for_suffix(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(FileError, match=message):
        load_input(tmp_path / name)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FileError, match="no such file"):
        load_input(tmp_path / "absent.npy")
    with pytest.raises(FileError, match="is a directory"):
        load_input(tmp_path)


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root reads anything")
def test_unreadable_file(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.ones(2))
    path.chmod(0)
    with pytest.raises(FileError, match="permission denied"):
        load_input(path)


def test_permission_denied(tmp_path, monkeypatch):
    import convcalc.tensors.files as tensors

    np.save(tmp_path / "x.npy", np.ones(2))

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tensors, "open", refuse, raising=False)
    with pytest.raises(FileError, match=r"cannot read .*x.npy: permission denied"):
        load_input(tmp_path / "x.npy")


@examples(150, suppress=())
@given(content=st.binary(max_size=300), suffix=st.sampled_from([".npy", ".npz", ".csv", ".txt", ".png", ".jpg", ""]))
def test_arbitrary_bytes_never_raise_anything_but_convcalc_errors(tmp_path_factory, content, suffix):
    path = tmp_path_factory.mktemp("fuzz") / f"input{suffix}"
    path.write_bytes(content)
    for shape in (None, (1, 4)):
        try:
            load_input(path, shape=shape)
        except ConvcalcError:
            pass
    try:
        load_weights(path)
    except ConvcalcError:
        pass


# -- images -----------------------------------------------------------------------------


@pytest.fixture
def pil():
    return pytest.importorskip("PIL.Image")


def test_png_rgb(tmp_path, pil):
    pixels = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 14
    pil.fromarray(pixels, "RGB").save(tmp_path / "x.png")
    loaded = load_input(tmp_path / "x.png")
    assert loaded.array.shape == (1, 3, 2, 3) and loaded.array.dtype == np.float32
    assert np.allclose(loaded.array[0], pixels.transpose(2, 0, 1) / 255)
    assert loaded.warnings == []
    assert load_input(tmp_path / "x.png", shape=(1, 3, 2, 3)).array.shape == (1, 3, 2, 3)
    assert load_input(tmp_path / "x.png", shape=(3, 2, 3)).array.shape == (3, 2, 3)


def test_png_gray_and_rgba(tmp_path, pil):
    rgba = np.zeros((4, 5, 4), dtype=np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = 10  # alpha is dropped, as convert("RGB") does
    pil.fromarray(rgba, "RGBA").save(tmp_path / "x.png")
    color = load_input(tmp_path / "x.png").array
    assert color.shape == (1, 3, 4, 5) and (color[0, 0] == 1).all() and (color[0, 1:] == 0).all()
    gray = load_input(tmp_path / "x.png", gray=True).array
    assert gray.shape == (1, 1, 4, 5)
    assert np.allclose(gray, 76 / 255)  # ITU-R 601 luma of pure red, as Pillow's "L"


def test_gray_image_gives_three_channels_unless_gray(tmp_path, pil):
    pil.fromarray(np.full((2, 2), 128, dtype=np.uint8), "L").save(tmp_path / "g.png")
    assert load_input(tmp_path / "g.png").array.shape == (1, 3, 2, 2)
    assert load_input(tmp_path / "g.png", gray=True).array.shape == (1, 1, 2, 2)


def test_16_bit_png_keeps_depth(tmp_path, pil):
    deep = np.array([[0, 1000], [40000, 65535]], dtype=np.uint16)
    pil.fromarray(deep).save(tmp_path / "d.png")
    gray = load_input(tmp_path / "d.png", gray=True).array
    assert np.allclose(gray[0, 0], deep / 65535, atol=1e-6)


def test_jpeg(tmp_path, pil):
    pil.fromarray(np.full((8, 8, 3), 200, dtype=np.uint8), "RGB").save(tmp_path / "x.jpg")
    array = load_input(tmp_path / "x.jpg").array
    assert array.shape == (1, 3, 8, 8) and np.allclose(array, 200 / 255, atol=0.02)


def test_image_shape_mismatch_is_not_reshaped(tmp_path, pil):
    pil.fromarray(np.zeros((4, 6, 3), dtype=np.uint8), "RGB").save(tmp_path / "x.png")
    with pytest.raises(ShapeError, match=r"image of shape \[1, 3, 4, 6\], but --input is \[1, 3, 6, 4\]; resize"):
        load_input(tmp_path / "x.png", shape=(1, 3, 6, 4))


def test_corrupt_and_truncated_images(tmp_path, pil):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(FileError, match="not a readable image"):
        load_input(tmp_path / "bad.png")
    pil.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(tmp_path / "ok.png")
    whole = (tmp_path / "ok.png").read_bytes()
    image_data_end = len(whole) - 12  # Pillow rightly reads a PNG missing only its IEND chunk
    for cut in range(0, image_data_end, max(1, len(whole) // 40)):
        (tmp_path / "cut.png").write_bytes(whole[:cut])
        with pytest.raises(FileError):
            load_input(tmp_path / "cut.png")


def test_image_without_pillow(tmp_path, monkeypatch):
    (tmp_path / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(FileError, match=r"needs Pillow: pip install 'convcalc\[image\]'"):
        load_input(tmp_path / "x.png")


# -- weights ----------------------------------------------------------------------------


def _state_dict():
    return {
        "0.weight": np.ones((4, 3, 3, 3), dtype=np.float32),
        "0.bias": np.zeros(4, dtype=np.float32),
        "1.weight": np.ones(4, dtype=np.float32),
        "1.bias": np.zeros(4, dtype=np.float32),
        "1.running_mean": np.zeros(4, dtype=np.float32),
        "1.running_var": np.ones(4, dtype=np.float32),
        "1.num_batches_tracked": np.array(7, dtype=np.int64),
    }


def test_weights_round_trip(tmp_path):
    np.savez(tmp_path / "w.npz", **_state_dict())
    loaded = load_weights(tmp_path / "w.npz")
    assert list(loaded.arrays) == list(_state_dict())
    assert loaded.warnings == []
    assert loaded.arrays["1.num_batches_tracked"].dtype == np.int64
    assert all(v.dtype == np.float32 for k, v in loaded.arrays.items() if "num_batches" not in k)
    check_params({k: v.shape for k, v in _state_dict().items()}, loaded.arrays, "w.npz")


@pytest.mark.oracle
def test_weights_from_torch_state_dict(tmp_path):
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(8, 2)
    )
    with open(tmp_path / "w.npz", "wb") as f:
        np.savez(f, **{k: v.numpy() for k, v in model.state_dict().items()})
    loaded = load_weights(tmp_path / "w.npz")
    assert loaded.warnings == []
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert check_params(expected, loaded.arrays, "w.npz") == []
    assert np.array_equal(loaded.arrays["0.weight"], model.state_dict()["0.weight"].numpy())


def test_weights_integer_converted_with_one_warning(tmp_path):
    np.savez(tmp_path / "w.npz", **{"0.weight": np.ones((2, 2), dtype=np.int64), "0.bias": np.array([True, False])})
    loaded = load_weights(tmp_path / "w.npz")
    assert loaded.arrays["0.weight"].dtype == np.float32
    assert loaded.warnings == [f"{tmp_path / 'w.npz'}: converted 0.weight (int64), 0.bias (bool) to float32"]


def test_weights_nan_warned(tmp_path):
    np.savez(tmp_path / "w.npz", weight=np.array([[np.nan, 1.0]]))
    (note,) = load_weights(tmp_path / "w.npz").warnings
    assert "['weight'] has 1 NaN value (of 2)" in note


def test_weights_need_npz(tmp_path):
    np.save(tmp_path / "w.npy", np.ones(3))
    with pytest.raises(FileError, match=r"not an .npz file; weights are an .npz of state_dict arrays"):
        load_weights(tmp_path / "w.npy")
    np.savez(tmp_path / "empty.npz")  # a parameter-free module's state_dict: empty, and valid
    assert load_weights(tmp_path / "empty.npz").arrays == {}


def test_weights_missing_file(tmp_path):
    with pytest.raises(FileError, match="no such file"):
        load_weights(tmp_path / "model.pth")
    with pytest.raises(FileError, match="no such file"):
        load_weights(tmp_path / "w.npz")


def test_torch_checkpoint_gets_conversion_recipe(tmp_path):
    (tmp_path / "model.pth").write_bytes(b"whatever")
    with pytest.raises(FileError, match=r"looks like a PyTorch checkpoint.*np.savez\('weights.npz'"):
        load_weights(tmp_path / "model.pth")
    # torch.save's zip format under an .npz name.
    with zipfile.ZipFile(tmp_path / "disguised.npz", "w") as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        archive.writestr("archive/version", b"3\n")
    with pytest.raises(FileError, match="looks like a PyTorch checkpoint"):
        load_weights(tmp_path / "disguised.npz")


# -- check_params -----------------------------------------------------------------------

EXPECTED = {"0.weight": (8, 3, 3, 3), "0.bias": (8,), "1.weight": (8,), "1.bias": (8,),
            "1.running_mean": (8,), "1.running_var": (8,), "1.num_batches_tracked": ()}


def _given(**changes):
    arrays = {k: np.zeros(v) for k, v in EXPECTED.items()}
    for key, value in changes.items():
        key = key.replace("__", ".")
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = np.zeros(value)
    return arrays


def test_check_params_accepts_matching_and_arrays_or_shapes():
    assert check_params(EXPECTED, _given(), "w.npz") == []
    assert check_params(EXPECTED, dict(EXPECTED), "w.npz") == []


def test_check_params_missing_num_batches_tracked_is_fine():
    assert check_params(EXPECTED, _given(**{"1__num_batches_tracked": None}), "w.npz") == []


def test_check_params_lists_everything_in_one_message():
    given_ = _given(**{"0__bias": None, "1__running_var": None, "0__weight": (8, 3, 5, 5), "2__weight": (4,)})
    with pytest.raises(FileError) as info:
        check_params(EXPECTED, given_, "w.npz")
    assert str(info.value) == (
        "w.npz: missing 2 keys: 0.bias [8], 1.running_var [8]; unexpected 1 key: 2.weight; "
        "wrong shape: 0.weight expected [8, 3, 3, 3], got [8, 3, 5, 5]"
    )


def test_check_params_wrong_shapes_only_is_a_shape_error():
    with pytest.raises(ShapeError, match=r"wrong shapes: 0.weight expected \[8, 3, 3, 3\], got \[8, 3, 1, 1\], "
                                          r"1.bias expected \[8\], got \[16\]"):
        check_params(EXPECTED, _given(**{"0__weight": (8, 3, 1, 1), "1__bias": (16,)}), "w.npz")


def test_check_params_not_strict_warns_about_extras():
    notes = check_params(EXPECTED, _given(**{"head__weight": (2, 2)}), "w.npz", strict=False)
    assert notes == ["w.npz: ignored 1 key the network doesn't have: head.weight"]


def test_check_params_long_lists_are_cut():
    expected = {f"{i}.weight": (1,) for i in range(30)}
    with pytest.raises(FileError, match=r"missing 30 keys: 0.weight \[1\], .*11.weight \[1\] and 18 more"):
        check_params(expected, {}, "w.npz")


def test_check_params_prefix_hints():
    prefixed = {f"module.{k}": v for k, v in _given().items()}
    with pytest.raises(FileError, match=r"carry an extra prefix 'module.' \(module.0.weight for 0.weight\)"):
        check_params(EXPECTED, prefixed, "w.npz")
    bare = {"weight": np.zeros((8, 3, 3, 3)), "bias": np.zeros(8)}
    with pytest.raises(FileError, match=r"lack the prefix '0.' \(weight for 0.weight\)"):
        check_params({"0.weight": (8, 3, 3, 3), "0.bias": (8,)}, bare, "w.npz")


# -- memory -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("4GiB", 4 * 2**30),
        ("4 GiB", 4 * 2**30),
        ("4gib", 4 * 2**30),
        ("4G", 4 * 2**30),
        ("4GB", 4 * 10**9),
        ("512MiB", 512 * 2**20),
        ("1.5KiB", 1536),
        ("1000", 1000),
        ("1000B", 1000),
        ("2T", 2 * 2**40),
        ("none", None),
        ("unlimited", None),
    ],
)
def test_parse_memory(text, expected):
    assert parse_memory(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "4X", "-1G", "0", "0GiB", "4iB", "G"])
def test_parse_memory_errors(text):
    with pytest.raises(ParseError, match="memory size"):
        parse_memory(text)


def test_estimate_and_check_memory():
    nbytes = estimate_bytes([(64, 3, 224, 224), (64, 3, 7, 7)], "float32")
    assert nbytes == (64 * 3 * 224 * 224 + 64 * 3 * 49) * 4
    assert estimate_bytes([(10,)], "float64") == 80
    check_memory(nbytes, None)
    check_memory(nbytes, nbytes)
    with pytest.raises(MemoryLimitError) as info:
        check_memory(5 * 2**30, parse_memory("4GiB"), "the forward pass")
    assert isinstance(info.value, ConvcalcError)
    assert str(info.value) == (
        "the forward pass needs about 5.0 GiB, more than --max-memory 4.0 GiB; "
        "use a smaller input (batch or spatial size) or raise --max-memory"
    )
    assert format_bytes(1536) == "1.5 KiB"


# -- saving -----------------------------------------------------------------------------


def test_save_npy_and_npz(tmp_path):
    data = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    save_array(tmp_path / "out.npy", data)
    assert np.array_equal(np.load(tmp_path / "out.npy"), data)
    save_array(tmp_path / "out.npz", {"input": data, "output": data * 2})
    with np.load(tmp_path / "out.npz") as archive:
        assert archive.files == ["input", "output"] and np.array_equal(archive["output"], data * 2)
    save_array(tmp_path / "lone.npz", data)
    with np.load(tmp_path / "lone.npz") as archive:
        assert archive.files == ["arr_0"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lone.npz", "out.npy", "out.npz"]


def test_save_refuses_to_overwrite_without_force(tmp_path):
    path = tmp_path / "out.npy"
    save_array(path, np.ones(2))
    with pytest.raises(FileError, match="exists; pass --force to overwrite it"):
        save_array(path, np.zeros(2))
    assert np.load(path).tolist() == [1, 1]
    save_array(path, np.zeros(3), force=True)
    assert np.load(path).tolist() == [0, 0, 0]


def test_save_is_atomic_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "out.npy"
    save_array(path, np.ones(2))

    def broken_save(handle, array, allow_pickle=False):
        handle.write(b"\x93NUMPY half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "save", broken_save)
    with pytest.raises(FileError, match="cannot write .*No space left on device"):
        save_array(path, np.zeros(1000), force=True)
    monkeypatch.undo()
    assert np.load(path).tolist() == [1, 1]  # the old file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["out.npy"]  # and no temporary is left


def test_save_file_mode_follows_umask(tmp_path):
    old = os.umask(0o022)
    try:
        save_array(tmp_path / "out.npy", np.ones(1))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out.npy").stat().st_mode) == 0o644


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("out.csv", np.ones(2), "writes .npy"),
        ("out.npy", {"a": np.ones(2)}, "use an .npz file"),
        ("missing/out.npy", np.ones(2), "no such directory"),
    ],
)
def test_save_errors(tmp_path, name, data, message):
    with pytest.raises(FileError, match=message):
        save_array(tmp_path / name, data)


def test_save_onto_directory(tmp_path):
    (tmp_path / "d.npy").mkdir()
    with pytest.raises(FileError, match="is a directory"):
        save_array(tmp_path / "d.npy", np.ones(1), force=True)


# -- stats and JSON ---------------------------------------------------------------------


def test_array_stats():
    stats = array_stats(np.array([[1.0, -3.0], [np.nan, np.inf]], dtype=np.float32))
    assert (stats.min, stats.max, stats.mean, stats.std) == (-3.0, 1.0, -1.0, 2.0)
    assert (stats.nan, stats.inf, stats.size) == (1, 1, 4)
    assert array_stats(np.array([1, 2, 3])).mean == 2.0
    assert array_stats(np.array([True, False])).max == 1.0
    empty = array_stats(np.array([np.nan]))
    assert empty.min is None and empty.nan == 1


def test_tensor_to_json():
    values = np.array([[0.1, -2.5], [np.nan, np.inf], [-np.inf, 1e-8]], dtype=np.float32)
    nested = tensor_to_json(values)
    assert nested == [[0.1, -2.5], ["NaN", "Infinity"], ["-Infinity", 1e-08]]
    text = json.dumps(nested, allow_nan=False)
    assert text == '[[0.1, -2.5], ["NaN", "Infinity"], ["-Infinity", 1e-08]]'
    back = np.array([[float(v) for v in row] for row in json.loads(text)], dtype=np.float32)
    assert np.array_equal(back, values, equal_nan=True)
    assert tensor_to_json(np.array([[1, 2]], dtype=np.int64)) == [[1, 2]]
    assert tensor_to_json(np.array([True])) == [True]
    assert tensor_to_json(np.float32(0.5)) == 0.5
    assert tensor_to_json(np.array(np.nan)) == "NaN"
    assert tensor_to_json(np.array([1 / 3])) == [1 / 3]  # float64 keeps every digit


def test_module_prints_nothing(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.array([1, 2], dtype=np.int8))
    load_input(tmp_path / "x.npy")
    make_params({"weight": (2, 2)}, "normal", make_rng(0))
    save_array(tmp_path / "y.npy", np.ones(1))
    assert capsys.readouterr() == ("", "")


def test_numpy_not_imported_by_core():
    # The layer and CLI core stay numpy-free; only forward paths import convcalc.tensors.
    code = "import sys, convcalc, convcalc.single.report; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert out.stdout.strip() == "False", out.stderr
