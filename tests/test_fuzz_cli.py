"""A bounded fuzz of the CLI and the spec readers (issue 13): seeded random command lines over
the commands and their options, with hostile values (huge and negative numbers, numbers past
4,300 digits, control characters, malformed tuples and shapes), and random specs in every form.

Every invocation must exit 0 or 2; on 2, stderr is exactly one ``convcalc: error:`` line and
stdout is empty; on 0, stderr holds only warnings; never a traceback; and a run given
``--max-memory`` allocates less than that (tracemalloc's peak). The CLI runs in-process through
its real entry point (``main``, with the exit codes and the one-line errors): memory is not the
question here, so no subprocess is needed, and a few hundred cases take under a minute. The seed
is fixed, so a failure names its command line and repeats.
"""

from __future__ import annotations

import random
import time
import tracemalloc

import pytest

import convcalc
from convcalc.cli.app import main
from convcalc.errors import ConvcalcError
from convcalc.registry import layer_classes

SEED = 13
CASES = 320
DEADLINE = 45.0  # seconds: a slow machine runs fewer cases, never a longer test
LIMIT = "48MiB"
LIMIT_BYTES = 48 * 2**20

NUMBERS = ["0", "1", "2", "3", "5", "-1", "-7", "7", "64", "1000", "2147483648", "1000000000", "10**12",
           "999999999999", "1" + "0" * 30, "9" * 5000, "1.5", "nan", "inf", "-inf", "1e300", "0x10", "3x5", "2,3",
           "3x", "x", "", "abc", "same", "valid", "true", "none", "[1, 2]", "\x1b]0;owned\x07", "٣", "1_000"]
SHAPES = ["1x3x8x8", "1x1x5x5", "2x4x6", "1x8", "3x8x8", "1x2x3x4x5", "1x1x1000000000", "1x1x10**12", "0x3x8x8",
          "-1x3x4x4", "1x3x8x8x", "[1, 3, 8, 8]", "1,3,8,8", "1x" + "9" * 5000, "1x1x2x2x2x2", "x", "",
          "1x\x1b[2Jx4", "1x3x" + "1x" * 70 + "1"]
FILLS = ["normal", "uniform", "ones", "zeros", "arange", "randint:-1,1", "randint:0,1e300", "full:1e38",
         "full:nan", "normal:0,1", "uniform:5,1", "bogus", "randint:1", "full:", "randint:-9223372036854775809,0"]
DTYPES = ["float32", "float64", "float16", "int8", "bfloat16", "complex64", "object", "nonsense"]
OPTION_WORDS = ["--in", "--out", "-k", "-s", "-p", "-d", "-g", "--kernel-size", "--stride", "--padding",
                "--dilation", "--groups", "--output-padding", "--output-size", "--ceil-mode", "--no-bias",
                "--bias", "--padding-mode", "--norm-type", "--num-features", "--scale-factor", "--size",
                "--mode", "--dim", "--upscale-factor", "--eps", "--negative-slope", "--p", "--bogus", "-k3",
                "--kernel_size", "--bias=false", "--count-include-pad", "--divisor-override", "--return-indices"]
GOOD_LINES = ["conv2d --out 8 -k 3 -p 1", "relu", "maxpool2d -k 2", "batchnorm2d", "nn.ReLU(inplace=True)",
              "conv2d --out 4 -k 3 -s 2 -p 1", "avgpool2d -k 2 --ceil-mode", "dropout", "sigmoid"]
SPEC_LINES = [
    "input 1x3x16x16", "input 1x1x9", "conv2d --out 8 -k 3 -p 1", "conv2d --out 4 -k 7 -s 2", "relu",
    "maxpool2d -k 2", "nn.Conv2d(3, 8, 3)", "Conv2d(8, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))",
    "BatchNorm2d(8)", "Linear(10, 5)", "flatten", "linear --out 10", "avgpool2d -k 3 --ceil-mode",
    "repeat 3 {", "repeat 100000 {", "}", "residual {", "sequential {", "(0): Conv2d(3, 64, kernel_size=(3, 3))",
    "(features): Sequential(", ")", "# a comment", "conv2d --out 99999999999999999999 -k 3",
    "conv2d --out 2 -k " + "9" * 5000, "Conv2d(3, 8, 3, padding='same', padding_mode='circular')",
    '[{"type": "Conv2d", "in_channels": 3, "out_channels": 4, "kernel_size": 3}]', '{"input": [1, 3, 8, 8]',
    "upsample --scale-factor 1e9", "convtranspose2d --out 4 -k 3 -s 1000000000", "adaptiveavgpool2d --output-size 7",
    "\x1b[31mrelu", "Conv2d(3, 8, __import__('os'))", "(0): MyBlock(", "conv2d --out 8 -k 3 -d 1000000000",
    "maxpool2d -k 1000000000 -p 500000000", "embedding --num-embeddings 10 --embedding-dim 4",
]


# Valid command lines to start from: (layers, options, dims of their spatial input).
TEMPLATES = [
    (["conv1d", "conv2d", "conv3d"], ["--out", "{c}", "-k", "{k}", "-s", "{s}", "-p", "{p}"], "spatial"),
    (["convtranspose1d", "convtranspose2d", "deconv2d"], ["--out", "{c}", "-k", "{k}", "-s", "{s}"], "spatial"),
    (["maxpool1d", "maxpool2d", "avgpool2d", "avgpool3d", "lppool2d"], ["-k", "{k}", "-s", "{s}"], "spatial"),
    (["adaptiveavgpool2d", "adaptivemaxpool1d"], ["--output-size", "{k}"], "spatial"),
    (["linear"], ["--out", "{c}"], "flat"),
    (["batchnorm2d", "instancenorm2d"], [], "spatial2"),
    (["upsample", "upsamplingnearest2d"], ["--scale-factor", "{s}"], "spatial2"),
    (["relu", "gelu", "softmax", "sigmoid", "flatten", "dropout", "identity", "tanh"], [], "any"),
]


def _template(rng: random.Random) -> list[str]:
    names, options, kind = rng.choice(TEMPLATES)
    name = rng.choice(names)
    values = {"c": str(rng.randint(1, 6)), "k": str(rng.randint(1, 3)), "s": str(rng.randint(1, 2)),
              "p": str(rng.randint(0, 1))}
    argv = [name, *(word.format(**values) for word in options)]
    if name.startswith("lppool"):
        argv += ["--norm-type", "2"]
    nd = int(name[-2]) if name[-2:-1].isdigit() and name.endswith("d") else 2
    spatial = "x".join(str(rng.randint(3, 9)) for _ in range(nd))
    channels = rng.randint(1, 4)
    shape = {"flat": f"2x{rng.randint(1, 12)}", "spatial": f"1x{channels}x{spatial}",
             "spatial2": f"1x{channels}x{rng.randint(2, 6)}x{rng.randint(2, 6)}",
             "any": f"1x{channels}x{rng.randint(1, 6)}x{rng.randint(1, 6)}"}[kind]
    return argv + ["-i", shape]


def _mutated(rng: random.Random, argv: list[str]) -> list[str]:
    """``argv`` with up to two hostile changes: a value replaced, an option added, a word dropped."""
    argv = list(argv)
    for _ in range(rng.choice([0, 0, 1, 1, 2])):
        change = rng.random()
        values = [i for i, word in enumerate(argv) if i > 0 and not word.startswith("-")]
        if change < 0.5 and values:
            i = rng.choice(values)
            argv[i] = rng.choice(SHAPES if argv[i - 1] in ("-i", "--input") else NUMBERS)
        elif change < 0.85:
            word = rng.choice(OPTION_WORDS)
            takes = not word.startswith(("--no-", "--ceil", "--bias", "--count", "--return")) and "=" not in word
            argv += [word, rng.choice(NUMBERS)] if takes and word != "-k3" else [word]
        elif len(argv) > 1:
            del argv[rng.randrange(1, len(argv))]
    return argv


def _layer_argv(rng: random.Random) -> list[str]:
    argv = _mutated(rng, _template(rng))
    if rng.random() < 0.1:
        argv += ["--dtype", rng.choice(DTYPES)]
    return argv + _run_options(rng)


def _run_options(rng: random.Random) -> list[str]:
    if rng.random() < 0.6:
        return ["--json"] if rng.random() < 0.5 else []
    options = ["--run", "--max-memory", LIMIT]
    if rng.random() < 0.5:
        options += ["--fill", rng.choice(FILLS)]
    if rng.random() < 0.3:
        options += ["--fill-weights", rng.choice(FILLS)]
    if rng.random() < 0.2:
        options += ["--seed", rng.choice(NUMBERS)]
    if rng.random() < 0.2:
        options += ["--precision", rng.choice(NUMBERS)]
    if rng.random() < 0.15:
        options.append("--heatmap")
    if rng.random() < 0.5:
        options.append("--json")
    return options


def _teach_argv(rng: random.Random) -> list[str]:
    kind = rng.choice(["explain", "explain", "solve", "show"])
    if kind == "solve":
        size = lambda: str(rng.randint(1, 64)) if rng.random() < 0.8 else rng.choice(NUMBERS)  # noqa: E731
        argv = ["solve", "--in-size", size(), "--out-size", size()]
        for flag in ("-k", "-s", "-p", "-d"):
            if rng.random() < 0.25:
                argv += [flag, size()]
        return argv + rng.choice([[], ["--transposed"], ["--pool"], ["--json"], ["--pool", "--json"]])
    argv = _template(rng)
    if not argv[0].startswith(("conv", "deconv", "maxpool", "avgpool")):
        argv = ["conv2d", "--out", "2", "-k", "3", "-i", "1x2x6x6"]
    argv = [kind, *_mutated(rng, argv)]
    if kind == "explain":
        argv += ["--max-memory", LIMIT]
        if rng.random() < 0.3:
            argv += ["--at", rng.choice(["0,0,0,0", "0,0,1,1", "9,9,9,9", "0", "-1,0,0,0", "0,0,0"])]
        if rng.random() < 0.2:
            argv += ["--view", rng.choice(["matmul", "sum", "rows"])]
        if rng.random() < 0.3:
            argv.append("--json")
    elif rng.random() < 0.3:
        argv += ["--frames", rng.choice(["1", "3", "1000000", "-1"])]
    return argv


def _spec(rng: random.Random) -> str:
    lines = [rng.choice(GOOD_LINES) for _ in range(rng.randint(1, 6))]
    for _ in range(rng.choice([0, 1, 1, 2])):
        lines.insert(rng.randint(0, len(lines)), rng.choice(SPEC_LINES))
    if rng.random() < 0.3:
        lines += ["flatten", "linear --out 10"]
    if rng.random() < 0.7:
        lines.insert(0, "input 1x3x32x32")
    return "\n".join(lines) + "\n"


def _net_argv(rng: random.Random, tmp_path, case: int) -> list[str]:
    path = tmp_path / f"spec{case}.txt"
    path.write_text(_spec(rng), encoding="utf-8")
    argv = ["net", str(path)]
    if rng.random() < 0.3:
        argv += ["-i", rng.choice(SHAPES[:8])]
    if rng.random() < 0.3:
        argv += ["--depth", rng.choice(NUMBERS)]
    argv += rng.choice([[], ["--json"], ["--csv"], ["--markdown"], ["--run", "--max-memory", LIMIT],
                        ["--run", "--json", "--max-memory", LIMIT]])
    return argv


def _check(argv: list[str], code: int, out: str, err: str, peak: int) -> None:
    where = f"convcalc {' '.join(repr(word)[:80] for word in argv)}"
    assert code in (0, 2), (where, code, err[-1000:])
    assert "Traceback" not in err and "internal error" not in err, (where, err[-1000:])
    lines = err.splitlines()
    if code == 2:
        assert out == "" and len(lines) == 1 and lines[0].startswith("convcalc: error: "), (where, out[:300], err)
    else:
        assert all(line.startswith("convcalc: warning: ") for line in lines), (where, err[-1000:])
    if LIMIT in argv:
        assert peak <= LIMIT_BYTES, (where, f"peak {peak / 2**20:.1f} MiB over --max-memory {LIMIT}")


def _warm_up(cli) -> None:
    """Import what the commands import, so that tracemalloc's peaks are the runs' own memory."""
    for argv in (["conv2d", "--out", "2", "-k", "3", "-i", "1x1x5x5", "--run", "--heatmap"],
                 ["conv2d", "--out", "2", "-k", "3", "-i", "1x1x5x5", "--run", "--json"],
                 ["explain", "conv2d", "--out", "2", "-k", "3", "-i", "1x1x5x5"],
                 ["show", "conv2d", "-k", "3", "-i", "5x5"], ["solve", "--in-size", "8", "--out-size", "4"],
                 ["layers"], ["conv2d", "--help"]):
        cli(*argv)


def test_fuzz_cli(cli, tmp_path):
    rng = random.Random(SEED)
    _warm_up(cli)
    started = time.monotonic()
    ran = 0
    for case in range(CASES):
        if time.monotonic() - started > DEADLINE:
            break
        pick = rng.random()
        if pick < 0.55:
            argv = _layer_argv(rng)
        elif pick < 0.8:
            argv = _teach_argv(rng)
        else:
            argv = _net_argv(rng, tmp_path, case)
        tracemalloc.start()
        try:
            result = cli(*argv)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        _check(argv, result.code, result.stdout, result.stderr, peak)
        ran += 1
    assert ran >= 50, f"only {ran} cases in {DEADLINE:.0f} s"


def test_fuzz_spec_readers():
    """parse_network and summary on random specs raise ConvcalcError or answer, nothing else."""
    rng = random.Random(SEED + 1)
    started = time.monotonic()
    for _ in range(400):
        if time.monotonic() - started > DEADLINE / 3:
            break
        text = _spec(rng)
        if rng.random() < 0.2:  # bytes, possibly cut or corrupted
            data = bytearray(text.encode())
            for _ in range(rng.randint(1, 3)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            text = bytes(data)
        try:
            network = convcalc.parse_network(text)
            network.summary(rng.choice([None, (1, 3, 16, 16), (1, 1, 9), (2, 8)]))
        except ConvcalcError:
            pass
