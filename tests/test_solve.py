"""convcalc solve: classic answers, every solution re-checked against the real layer, bad input."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from convcalc import Conv1d, Conv2d, ConvTranspose1d, MaxPool1d
from convcalc.errors import ConfigError, ConvcalcError
from convcalc.teach.solve import KERNELS, STRIDES, combined, combined_json, solve
from convcalc.cli.teach import solve_command


def layer_out(solution, mode: str, size: int) -> int:
    """The output size of a solution, from a freshly built layer (not from the solver)."""
    k, s, p, d = solution.kernel_size, solution.stride, solution.padding, solution.dilation
    if mode == "transposed":
        layer = ConvTranspose1d(1, 1, k, s, p, solution.output_padding, dilation=d)
    elif mode == "pool":
        layer = MaxPool1d(k, s, p, d, ceil_mode=solution.ceil_mode)
    else:
        layer = Conv1d(1, 1, k, s, p, d)
    return layer.output_shape((1, size))[-1]


def first(result):
    return result.dims[0].solutions[0]


@pytest.mark.parametrize(
    "in_size, out_size, fixed, mode, expected",
    [
        (32, 16, {"kernel_size": [3]}, "conv", (3, 2, 1, 1)),
        (224, 112, {"kernel_size": [7]}, "conv", (7, 2, 3, 1)),
        (16, 32, {"kernel_size": [4]}, "transposed", (4, 2, 1, 1)),
        (32, 32, {"kernel_size": [3]}, "conv", (3, 1, 1, 1)),
        (112, 56, {"kernel_size": [3]}, "pool", (3, 2, 1, 1)),
    ],
)
def test_classic_answers_come_first(in_size, out_size, fixed, mode, expected):
    best = first(solve([in_size], [out_size], mode=mode, **fixed))
    assert (best.kernel_size, best.stride, best.padding, best.dilation) == expected


@pytest.mark.parametrize("mode", ["conv", "transposed", "pool"])
@pytest.mark.parametrize("in_size, out_size", [(32, 16), (16, 32), (7, 4), (28, 28), (5, 3), (9, 1)])
def test_every_solution_gives_the_size(mode, in_size, out_size):
    try:
        result = solve([in_size], [out_size], mode=mode)
    except ConfigError:
        pytest.fail("free parameters never contradict")
    for solution in result.dims[0].solutions:
        assert layer_out(solution, mode, in_size) == out_size, solution
        assert solution.kernel_size in KERNELS and solution.stride in STRIDES


def test_solutions_are_simplest_first_and_unique():
    solutions = solve([32], [16]).dims[0].solutions
    keys = [(s.dilation, s.kernel_size, s.stride, s.padding) for s in solutions]
    pools = solve([7], [4], mode="pool").dims[0].solutions
    assert [(s.kernel_size, s.stride, s.ceil_mode, s.padding) for s in pools][:3] == [
        (1, 2, False, 0), (2, 2, False, 1), (2, 2, True, 0)]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)


def test_same_marked_including_even_kernels():
    solutions = solve([20], [20]).dims[0].solutions
    same = [s for s in solutions if s.same]
    assert (3, 1) in [(s.kernel_size, s.padding) for s in same]
    assert any(s.padding == "same" and s.kernel_size == 4 for s in same)  # asymmetric: only 'same' does it
    assert Conv1d(1, 1, 4, padding="same").output_shape((1, 20)) == (1, 20)
    assert not any(s.same for s in solve([32], [16]).dims[0].solutions)


def test_pool_respects_half_kernel_rule_and_uses_ceil_mode():
    solutions = solve([7], [4], mode="pool").dims[0].solutions
    assert all(s.padding <= s.kernel_size // 2 for s in solutions)
    ceiled = [s for s in solutions if s.ceil_mode]
    assert ceiled, "7 -> 4 with k2 s2 needs ceil_mode"
    for s in ceiled:  # listed only where floor mode would not do it
        assert MaxPool1d(s.kernel_size, s.stride, s.padding, s.dilation).output_shape((1, 7))[-1] != 4


def test_transposed_uses_output_padding_within_torchs_rule():
    solutions = solve([16], [34], mode="transposed", kernel_size=[3]).dims[0].solutions
    assert any(s.output_padding for s in solutions)
    assert all(s.output_padding < max(s.stride, s.dilation) for s in solutions)


def test_fixed_values_are_kept():
    for s in solve([64], [32], stride=[2], padding=[1]).dims[0].solutions:
        assert (s.stride, s.padding) == (2, 1)
    assert {s.dilation for s in solve([32], [28], dilation=[2]).dims[0].solutions} == {2}


def test_dilation_widens_only_when_needed():
    assert {s.dilation for s in solve([32], [16]).dims[0].solutions} == {1}
    result = solve([32], [12], stride=[1], kernel_size=[11])
    assert result.dims[0].dilation_widened
    assert first(result).dilation == 2 and layer_out(first(result), "conv", 32) == 12


def test_per_dim_sizes():
    result = solve([32, 20], [16, 10], kernel_size=[3])
    assert [d.solutions[0][:3] for d in result.dims] == [(3, 2, 1), (3, 2, 1)]
    for combo in combined(result):
        k, s, p, d = (tuple(getattr(x, f) for x in combo) for f in ("kernel_size", "stride", "padding", "dilation"))
        assert Conv2d(1, 1, k, s, p, d).output_shape((1, 32, 20)) == (1, 16, 10)
    assert combined_json(result)[0]["kernel_size"] == [3, 3]


def test_square_sizes_share_one_answer():
    result = solve([32, 32], [16, 16], kernel_size=[3])
    assert combined(result) == [(first(result),) * 2]


def test_no_solution_gives_nearest_sizes():
    result = solve([5], [1000])
    assert not result.solved and result.dims[0].nearest == (45,)
    result = solve([32], [17], kernel_size=[3], stride=[2], padding=[0])
    assert result.dims[0].nearest == (15,)


@pytest.mark.parametrize(
    "args, message",
    [
        (dict(in_sizes=[0], out_sizes=[4]), "at least 1"),
        (dict(in_sizes=[8], out_sizes=[-1]), "at least 1"),
        (dict(in_sizes=[8, 8], out_sizes=[4]), "dims"),
        (dict(in_sizes=[8], out_sizes=[4], kernel_size=[3, 3]), "-k has 2 values"),
        (dict(in_sizes=[8], out_sizes=[4], kernel_size=[3], padding=[2], mode="pool"), "contradict"),
        (dict(in_sizes=[8], out_sizes=[4], stride=[0]), "-s must be at least 1"),
    ],
)
def test_bad_input(args, message):
    with pytest.raises(ConvcalcError, match=message):
        solve(**args)


# -- the command, registered on a throwaway app (cli/app.py registers it on the real one) --

app = typer.Typer()
app.command("solve")(solve_command)


@app.command("other")
def _other() -> None:  # a second command keeps "solve" a subcommand
    pass


def invoke(*args: str):
    runner = CliRunner()
    result = runner.invoke(app, ["solve", *args])
    if isinstance(result.exception, ConvcalcError):
        return 2, str(result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_cli_json_lists_solutions():
    code, out = invoke("--in-size", "32", "--out-size", "16", "-k", "3", "--json")
    data = json.loads(out)
    assert code == 0 and data["solutions"][0] == {"kernel_size": 3, "stride": 2, "padding": 1, "dilation": 1, "same": False}


def test_cli_json_transposed_and_pool_fields():
    data = json.loads(invoke("--in-size", "16", "--out-size", "32", "-k", "4", "--transposed", "--json")[1])
    assert data["solutions"][0]["output_padding"] == 0
    data = json.loads(invoke("--in-size", "7x7", "--out-size", "4x4", "--pool", "--json")[1])
    assert "ceil_mode" in data["solutions"][0] and data["solutions"][0]["kernel_size"] == [1, 1]


def test_cli_table():
    code, out = invoke("--in-size", "224", "--out-size", "112", "-k", "7")
    assert code == 0 and "⌊(224 + 2·3 − 1·(7−1) − 1)/2⌋ + 1" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (("--in-size", "5", "--out-size", "1000"), "nearest reachable sizes: 45 (free -k/-s/-p/-d values, or --transposed to upsample"),
        (("--in-size", "8", "--out-size", "4", "--pool", "--transposed"), "contradict"),
        (("--in-size", "0", "--out-size", "4"), "at least 1"),
        (("--out-size", "4",), "needs --in-size"),
        (("--in-size", "8x", "--out-size", "4"), "--in-size"),
    ],
)
def test_cli_errors(args, message):
    code, text = invoke(*args)
    assert code == 2 and message in text


def test_main_maps_errors_to_exit_2(capsys):
    from convcalc.cli import app as cli

    registered = list(cli.app.registered_commands)
    try:
        cli.app.command("solve")(solve_command)
        assert cli.main(["solve", "--in-size", "32", "--out-size", "17", "-k", "3", "-s", "2", "-p", "0"]) == 2
    finally:
        cli.app.registered_commands[:] = registered
    assert "nearest reachable sizes: 15" in capsys.readouterr().err


def test_huge_fixed_values_are_solved_in_closed_form():
    """-d 10**9 made the padding range 10**9 long (24 GB before the kernel killed it) and -k 10**6
    ran past two minutes: the paddings that give the size come from the closed form."""
    result = solve([1000], [1], dilation=[10**9])
    assert result.solved
    for solution in result.dims[0].solutions:
        assert layer_out(solution, "conv", 1000) == 1
    assert solve([1000], [1], kernel_size=[10**6]).solved
    transposed = solve([7], [10**11], dilation=[10**9], mode="transposed")
    assert not transposed.solved and transposed.dims[0].nearest == (11_000_000_048,)


def test_a_long_solution_interval_is_listed_from_its_start_and_flagged():
    # kernel 3, dilation 10**9: paddings 999,999,501 up to 1,499,999,500 all give one output
    result = solve([1000], [1], stride=[10**9], kernel_size=[3], dilation=[10**9])
    paddings = [s.padding for s in result.dims[0].solutions]
    assert result.dims[0].capped and paddings == list(range(999_999_501, 999_999_501 + 64))
    assert not solve([32], [16]).dims[0].capped


def test_combined_lists_the_true_first_combinations():
    from convcalc.teach.solve import combinations
    from itertools import product

    result = solve([10, 11, 12], [3, 4, 5])
    ranked = [list(enumerate(dim.solutions)) for dim in result.dims]
    every = sorted(product(*ranked), key=lambda combo: (max(r for r, _ in combo), sum(r for r, _ in combo)))
    listed = combined(result, limit=500)
    assert len(listed) == 500 and combinations(result) == len(every)
    assert listed == [tuple(solution for _, solution in combo) for combo in every[:500]]
