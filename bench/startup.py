"""Start-up cost of a shape answer, against a minimal one-command Typer app on the same interpreter.

    python bench/startup.py [--runs 21]

Bars: ``convcalc conv2d ... --input ... --json`` within 1.15× the minimal app's wall
time, and the Rich panel within 1.35×. Prints the medians and ratios; exits 1 past either bar.
Runs are interleaved so that load on the machine affects all three alike. The package is
byte-compiled first, as ``pip install`` does: with PYTHONDONTWRITEBYTECODE set, a source checkout
would otherwise be recompiled on every start while Typer's installed files would not.
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

MINIMAL_APP = """
import typer

app = typer.Typer()


@app.command()
def main(x: int = 1) -> None:
    print(x)


app()
"""

LAYER = ["conv2d", "--in", "3", "--out", "8", "-k", "5", "--input", "1x3x32x32"]
BARS = {"json": 1.15, "rich": 1.35}


def wall(cmd: list[str], cwd: str | None = None) -> float:
    start = time.perf_counter()
    # Run outside the checkout, so `python -c` imports the installed, byte-compiled package.
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                   cwd=cwd or tempfile.gettempdir())
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    import convcalc

    compileall.compile_dir(Path(convcalc.__file__).parent, quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        app = Path(tmp) / "minimal.py"
        app.write_text(MINIMAL_APP)
        convcalc = [sys.executable, "-c", "import sys; from convcalc.cli.app import run; sys.argv[0] = 'convcalc'; run()"]
        commands = {
            "typer": [sys.executable, str(app), "--x", "3"],
            "json": [*convcalc, *LAYER, "--json"],
            "rich": [*convcalc, *LAYER],
        }
        for cmd in commands.values():  # warm the file cache and .pyc files
            wall(cmd)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, cmd in commands.items():
                times[name].append(wall(cmd))
    base = statistics.median(times["typer"])
    print(f"{'command':<8}{'median ms':>10}{'ratio':>8}{'bar':>6}")
    print(f"{'typer':<8}{base * 1000:>10.1f}{1.0:>8.2f}")
    failed = False
    for name, bar in BARS.items():
        ratio = statistics.median(times[name]) / base
        failed |= ratio > bar
        print(f"{name:<8}{statistics.median(times[name]) * 1000:>10.1f}{ratio:>8.2f}{bar:>6.2f}"
              + ("  OVER" if ratio > bar else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
