"""Saves raced, interrupted and killed (issue 13, item 2): two runs saving to one new path, a
dangling symlink as target, SIGTERM and Ctrl-C during a save, the leftovers of SIGKILL.

Each reproducer runs the real console entry point (``convcalc.cli.app.run``, which installs
the signal handlers) in a subprocess; the race also runs threads through the core's
``save_array`` with both past the existence check before either publishes.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from convcalc.errors import FileError
from convcalc.tensors import save as save_module
from convcalc.tensors.save import remove_stale_temporaries, save_array

ROOT = Path(__file__).resolve().parents[1]
TEMP_NAME = re.compile(r"\..+\.convcalc-\d+-[a-z0-9_]+\.tmp")

# The console entry point, with the save's writer slowed down so that a signal can arrive while
# the temporary file exists: it writes the data, says so on stdout, then waits.
# Python's own SIGINT handler back first: a job started in the background by a shell without
# job control inherits SIGINT ignored, and these tests send it one
RESTORE_SIGINT = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"
SLOW_SAVE = RESTORE_SIGINT + """
import sys, time
from convcalc.tensors import save
write = save._write
def slow(handle, suffix, data):
    write(handle, suffix, data)
    handle.flush()
    print("writing", flush=True)
    time.sleep(60)
save._write = slow
from convcalc.cli.app import run
sys.argv = ["convcalc", *sys.argv[1:]]
run()
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100"}


def _convcalc(*argv: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", "from convcalc.cli.app import run; import sys; sys.argv[0] = 'convcalc'; run()", *argv],
        cwd=cwd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _slow_save(tmp_path: Path, target: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_SAVE, "relu", "-i", "1x3", "--run", "--save", target],
        cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout.readline().strip() == "writing", proc.stderr.read()
    return proc


def _wait_for_handlers(pid: int) -> None:
    """Until the process catches SIGTERM (run() has installed its handlers), read from /proc."""
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        time.sleep(3)
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        caught = next((line.split()[1] for line in status.read_text().splitlines() if line.startswith("SigCgt:")), "0")
        if int(caught, 16) & (1 << (signal.SIGTERM - 1)):
            return
        time.sleep(0.02)
    raise AssertionError("the signal handlers were never installed")


def _temporaries(directory: Path) -> list[str]:
    return [name for name in os.listdir(directory) if TEMP_NAME.fullmatch(name)]


def test_two_runs_saving_to_one_new_path_one_wins(tmp_path):
    """Reproducer: 4 of 6 trials of two concurrent `--save out.npy` runs both exited 0."""
    runs = [_convcalc("relu", "-i", "1x3", "--run", "--seed", str(seed), "--save", "out.npy", cwd=tmp_path)
            for seed in (1, 2)]
    results = sorted((proc.wait(timeout=60), *proc.communicate()) for proc in runs)
    assert [code for code, _, _ in results] == [0, 2], results
    assert results[1][1:] == ("", "convcalc: error: out.npy exists; pass --force to overwrite it\n")
    assert np.load(tmp_path / "out.npy").shape == (1, 3)
    assert _temporaries(tmp_path) == []


def test_racing_saves_past_the_existence_check_one_wins(tmp_path, monkeypatch):
    """Both threads have checked that the name is free and written their data before either
    publishes: the link makes exactly one of them win, and the file holds the winner's data."""
    barrier = threading.Barrier(2, timeout=30)
    write = save_module._write

    def write_then_wait(handle, suffix, data):
        write(handle, suffix, data)
        barrier.wait()

    monkeypatch.setattr(save_module, "_write", write_then_wait)
    target = tmp_path / "out.npy"
    outcomes: dict[int, object] = {}

    def save(value: int) -> None:
        try:
            save_array(target, np.full(4, value, dtype=np.float32))
            outcomes[value] = "saved"
        except FileError as exc:
            outcomes[value] = str(exc)

    threads = [threading.Thread(target=save, args=(value,)) for value in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    winners = [value for value, outcome in outcomes.items() if outcome == "saved"]
    assert len(winners) == 1, outcomes
    loser = 3 - winners[0]
    assert outcomes[loser] == f"{target} exists; pass --force to overwrite it"
    assert np.load(target).tolist() == [winners[0]] * 4
    assert _temporaries(tmp_path) == []


def test_force_still_overwrites(tmp_path):
    save_array(tmp_path / "out.npy", np.zeros(2))
    with pytest.raises(FileError, match="exists; pass --force"):
        save_array(tmp_path / "out.npy", np.ones(2))
    save_array(tmp_path / "out.npy", np.ones(2), force=True)
    assert np.load(tmp_path / "out.npy").tolist() == [1.0, 1.0]


def test_a_dangling_symlink_is_not_replaced_without_force(tmp_path, console_script):
    """Reproducer: a dangling symlink as --save target was replaced without --force."""
    link = tmp_path / "y.npy"
    link.symlink_to(tmp_path / "missing.npy")
    result = console_script("relu", "-i", "1x3", "--run", "--save", str(link))
    result.assert_one_error_line(["y.npy is a symlink to a missing file", "--force"])
    assert link.is_symlink() and not link.exists()
    forced = console_script("relu", "-i", "1x3", "--run", "--save", str(link), "--force")
    assert forced.code == 0, forced.stderr
    assert not link.is_symlink() and np.load(link).shape == (1, 3)
    assert not (tmp_path / "missing.npy").exists()  # the link was replaced, not followed


@pytest.mark.parametrize("signum, code, word", [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")])
def test_a_signal_during_a_save_removes_its_temporary_file(tmp_path, signum, code, word):
    """Reproducer: SIGTERM during a save left a hidden temporary file next to the target."""
    proc = _slow_save(tmp_path, "out.npy")
    assert len(_temporaries(tmp_path)) == 1
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == code
    assert err.strip().splitlines() == [f"convcalc: error: {word}"]
    assert os.listdir(tmp_path) == []  # neither the temporary nor a partial target


def test_sigkill_leftovers_are_named_and_removed_by_the_next_save(tmp_path, console_script):
    """Reproducer: SIGKILL during a save left its temporary file for good."""
    proc = _slow_save(tmp_path, "out.npy")
    proc.kill()
    proc.communicate(timeout=30)
    leftovers = _temporaries(tmp_path)
    assert len(leftovers) == 1 and leftovers[0].startswith(".out.npy.convcalc-")
    live = tmp_path / f".other.npy.convcalc-{os.getpid()}-abc123.tmp"  # a save still running: kept
    live.write_bytes(b"")
    result = console_script("relu", "-i", "1x3", "--run", "--save", str(tmp_path / "next.npy"))
    assert result.code == 0, result.stderr
    assert sorted(os.listdir(tmp_path)) == sorted(["next.npy", live.name])


def test_only_files_named_as_temporaries_are_removed(tmp_path):
    dead = 2**22 + 12345  # above the default pid_max: no such process
    stale = tmp_path / f".a.npy.convcalc-{dead}-x1y2.tmp"
    lookalikes = [f"a.npy.convcalc-{dead}-x1y2.tmp", f".a.npy.convcalc-{dead}-x1y2.npy", f".a.npy.convcalc-x-x1y2.tmp"]
    for name in (stale.name, *lookalikes):
        (tmp_path / name).write_bytes(b"")
    assert remove_stale_temporaries(tmp_path) == [stale]
    assert sorted(os.listdir(tmp_path)) == sorted(lookalikes)


def test_ctrl_c_says_interrupted(tmp_path):
    """Reproducer: Ctrl-C printed nothing and exited 130."""
    proc = subprocess.Popen(
        [sys.executable, "-c", RESTORE_SIGINT + "from convcalc.cli.app import run; run()", "net", "-"],
        env=_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    _wait_for_handlers(proc.pid)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert (proc.returncode, out, err) == (130, "", "convcalc: error: interrupted\n")
