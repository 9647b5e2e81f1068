"""Cost of ``convcalc net`` on a 3000-layer spec against a 4-layer spec, whole process.

    python bench/net.py [--runs 11] [--layers 3000]

Bar: the large spec within 1.5× the small one's wall time, output piped (plain text)
and as JSON. Prints the medians and ratios; exits 1 past the bar. The package is byte-compiled
first, as ``pip install`` does.
"""

from __future__ import annotations

import argparse
import compileall
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BAR = 1.5
BLOCK = ["conv2d --out 16 -k 3 -p 1", "batchnorm2d", "relu"]


def spec(layers: int) -> str:
    lines = ["input 1x16x32x32"]
    lines += [BLOCK[i % len(BLOCK)] for i in range(layers)]
    return "\n".join(lines) + "\n"


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    # Run outside the checkout, so `python -c` imports the installed, byte-compiled package.
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, cwd=tempfile.gettempdir())
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--layers", type=int, default=3000)
    args = parser.parse_args()
    import convcalc

    compileall.compile_dir(Path(convcalc.__file__).parent, quiet=1)
    convcalc_cmd = [sys.executable, "-c", "import sys; from convcalc.cli.app import run; sys.argv[0] = 'convcalc'; run()"]
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        small, large = Path(tmp) / "small.txt", Path(tmp) / "large.txt"
        small.write_text(spec(4))
        large.write_text(spec(args.layers))
        print(f"{'output':<8}{'4 layers ms':>13}{f'{args.layers} layers ms':>17}{'ratio':>8}{'bar':>6}")
        for label, extra in (("plain", []), ("json", ["--json"])):
            commands = {name: [*convcalc_cmd, "net", str(path), *extra] for name, path in
                        (("small", small), ("large", large))}
            for cmd in commands.values():
                wall(cmd)
            times: dict[str, list[float]] = {name: [] for name in commands}
            for _ in range(args.runs):
                for name, cmd in commands.items():
                    times[name].append(wall(cmd))
            a, b = statistics.median(times["small"]), statistics.median(times["large"])
            failed |= b / a > BAR
            print(f"{label:<8}{a * 1000:>13.1f}{b * 1000:>17.1f}{b / a:>8.2f}{BAR:>6.2f}" + ("  OVER" if b / a > BAR else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
