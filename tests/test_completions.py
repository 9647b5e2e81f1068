"""Shell completion: the committed scripts are what the generator writes, and bash really completes."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest

COMPLETIONS = Path(__file__).parent.parent / "completions"


def _generator():
    spec = importlib.util.spec_from_file_location("generate", COMPLETIONS / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_scripts_match_the_generator():
    for name, text in _generator().scripts().items():
        assert (COMPLETIONS / name).read_text() == text, f"completions/{name} is stale: run completions/generate.py"


def _bash_complete(*words: str) -> list[str]:
    exe = shutil.which("convcalc")
    if exe is None or shutil.which("bash") is None:
        pytest.skip("needs bash and the installed convcalc script")
    script = (
        f"source {COMPLETIONS / 'convcalc.bash'}\n"
        f"COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
        "_convcalc_completion convcalc\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = {**os.environ, "PATH": f"{Path(exe).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_bash_completes_conv_to_the_conv_commands():
    got = _bash_complete("convcalc", "conv")
    assert {"conv1d", "conv2d", "conv3d", "convtranspose1d", "convtranspose2d", "convtranspose3d"} <= set(got)
    assert all(name.startswith("conv") for name in got)


def test_bash_completes_options_and_choices():
    assert "--padding-mode" in _bash_complete("convcalc", "conv2d", "--padding-m")
    assert _bash_complete("convcalc", "conv2d", "--padding-mode", "re") == ["reflect", "replicate"]
    assert _bash_complete("convcalc", "conv2d", "--fill", "ra") == ["randint"]


def test_bash_completes_explain_and_show_layers_and_their_options():
    """explain and show pass the layer's options through unparsed; completion still offers them."""
    assert _bash_complete("convcalc", "explain", "con") == [
        "conv1d", "conv2d", "conv3d", "convtranspose1d", "convtranspose2d", "convtranspose3d"
    ]
    assert "lppool2d" in _bash_complete("convcalc", "show", "") and "zeropad2d" not in _bash_complete("convcalc", "show", "")
    assert _bash_complete("convcalc", "explain", "conv2d", "--pa") == ["--padding", "--padding-mode"]
    assert _bash_complete("convcalc", "explain", "conv2d", "-k", "2", "--padding-mode", "re") == ["reflect", "replicate"]
    assert _bash_complete("convcalc", "explain", "conv2d", "--vi") == ["--view"]  # explain's own
    assert _bash_complete("convcalc", "show", "maxpool2d", "--ce") == ["--ceil-mode"]
    assert "--no-bias" in _bash_complete("convcalc", "explain", "convtranspose2d", "--no")


def test_install_completion_writes_the_bash_script(tmp_path):
    exe = shutil.which("convcalc")
    if exe is None or shutil.which("bash") is None:
        pytest.skip("needs bash and the installed convcalc script")
    env = {**os.environ, "HOME": str(tmp_path), "PATH": f"{Path(exe).parent}{os.pathsep}{os.environ['PATH']}"}
    # "; exit $?" keeps bash as convcalc's parent (bash execs a lone command in its place), so
    # that the shell is found from the parent even where no shell runs pytest (a detached job)
    proc = subprocess.run(["bash", "-c", "convcalc --install-completion; exit $?"], capture_output=True,
                          text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    script = tmp_path / ".bash_completions" / "convcalc.sh"
    assert "_CONVCALC_COMPLETE=complete_bash" in script.read_text()
    assert str(script) in (tmp_path / ".bashrc").read_text()


def test_bash_completes_every_commands_dtype_and_choice_options():
    """Reproducer from a newcomer's walk through the README: net's and diff's --dtype, net's
    --optimizer and explain's --view and --dtype completed to nothing."""
    assert _bash_complete("convcalc", "net", "--dtype", "bf") == ["bfloat16"]
    assert _bash_complete("convcalc", "diff", "--dtype", "int1") == ["int16"]
    assert _bash_complete("convcalc", "net", "--optimizer", "adam") == ["adam", "adamw"]
    assert _bash_complete("convcalc", "explain", "conv2d", "--view", "") == ["sum", "matmul"]
    assert _bash_complete("convcalc", "explain", "conv2d", "--dtype", "") == ["float16", "float32", "float64"]
