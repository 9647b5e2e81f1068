"""``net --train``: the memory of one training step, per layer family and against torch.

The activations kept for the backward pass must equal, byte for byte, what torch's autograd
saves (summed with ``saved_tensors_hooks`` in ``tests/train_step.py``), and the estimated peak
must lie within 15 % of torch's measured high-water mark of a training step.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from readme_blocks import check_readme_block

import convcalc

TESTS = Path(__file__).parent
LENET = str(TESTS / "data" / "lenet_lines.txt")


def _memory(text: str, shape: tuple[int, ...], optimizer: str = "sgd"):
    return convcalc.parse_network(text).training_memory(shape, optimizer=optimizer)


# -- what each family keeps (torch-free) ----------------------------------------------------


def test_a_conv_keeps_its_input_and_a_relu_its_output_each_tensor_once():
    summary, memory = _memory("conv2d --out 4 -k 3 -p 1\nrelu\nconv2d --out 4 -k 3", (2, 3, 8, 8))
    # the network input (the conv's weight gradient needs it); relu's output, which the
    # second conv keeps too and is counted at the relu only
    assert memory.kept == [2 * 3 * 64 * 4, 2 * 4 * 64 * 4, 0]
    assert memory.activation_bytes == sum(memory.kept)


def test_an_in_place_relu_keeps_the_tensor_it_shares_but_an_in_place_relu6_copies_its_input():
    _, relu = _memory("conv2d --out 4 -k 1\nbatchnorm2d\nReLU(inplace=True)", (1, 4, 4, 4))
    _, relu6 = _memory("conv2d --out 4 -k 1\nbatchnorm2d\nReLU6(inplace=True)", (1, 4, 4, 4))
    stats = 2 * 4 * 4  # batchnorm's mean and inverse std, float32 per channel
    assert relu.kept == [256, 256 + stats, 256]  # conv's output is the batchnorm's input
    assert relu6.kept == [256, 256 + stats, 256]  # the copy: the result would not give the gradient
    _, shared = _memory("conv2d --out 4 -k 1\nReLU(inplace=True)\nconv2d --out 4 -k 1", (1, 4, 4, 4))
    assert shared.kept == [256, 256, 0]  # relu's result is the conv's output, changed in place
    _, copied = _memory("conv2d --out 4 -k 1\nReLU6(inplace=True)\nconv2d --out 4 -k 1", (1, 4, 4, 4))
    assert copied.kept == [256, 256, 256]  # the copy, then the changed tensor as the conv's input


def test_max_pool_keeps_int64_indices_and_dropout_a_mask_and_makes_a_new_tensor():
    _, memory = _memory("maxpool2d -k 2\nflatten\ndropout\nlinear --out 3", (2, 4, 8, 8))
    pool = 2 * 4 * 64 * 4 + 2 * 4 * 16 * 8  # the input, and an int64 index per output element
    mask = 2 * 64 * 4  # one float per element (torch's CPU dropout multiplies by a scaled mask)
    assert memory.kept == [pool, 0, mask, 2 * 64 * 4]  # the linear keeps the dropout's new output


def test_channel_dropout_keeps_one_mask_value_per_channel_and_p0_keeps_nothing():
    _, channel = _memory("conv2d --out 4 -k 1\ndropout2d", (2, 3, 4, 4))
    _, none = _memory("conv2d --out 4 -k 1\nDropout(p=0.0)", (2, 3, 4, 4))
    assert channel.kept[1] == 2 * 4 * 4 and none.kept[1] == 0


def test_norms_keep_their_input_and_two_float32_statistics_per_group():
    conv_output = 2 * 4 * 3 * 5 * 4
    for text, stats in (("GroupNorm(2, 4)", 2 * 2), ("LayerNorm(5)", 2 * 4 * 3), ("InstanceNorm2d(4)", 2 * 4)):
        _, memory = _memory(f"conv2d --out 4 -k 1\n{text}", (2, 4, 3, 5))
        assert memory.kept[1] == conv_output + 2 * stats * 4, text  # the input, mean and 1/std


def test_views_upsampling_constant_pads_and_a_global_average_keep_nothing():
    _, memory = _memory("Upsample(scale_factor=2)\nZeroPad2d(1)\nAdaptiveAvgPool2d(1)\nflatten", (1, 2, 4, 4))
    assert memory.kept == [0, 0, 0, 0]
    _, average = _memory("AdaptiveAvgPool2d(2)", (1, 2, 4, 4))
    assert average.kept == [128]  # a pool to 2×2 keeps its input; to 1×1 torch takes a mean


def test_multihead_attention_keeps_its_projections_and_weights_as_torch_does():
    # torch 2.13 saves 4,240 bytes (batch_first: the input transposed) and 4,000 (the input itself)
    for batch_first, saved in (("True", 4240), ("False", 4000)):
        _, memory = _memory(f"MultiheadAttention(16, 2, batch_first={batch_first})", (2, 5, 16))
        assert memory.activation_bytes == saved


def test_optimizer_state_and_gradients_follow_the_trainable_parameters():
    for optimizer, states in (("sgd", 0), ("momentum", 1), ("adam", 2), ("adamw", 2)):
        summary, memory = _memory("linear --out 10", (4, 20), optimizer)
        assert memory.gradient_bytes == 210 * 4
        assert memory.optimizer_state_bytes == states * 210 * 4
        assert memory.weight_bytes == 210 * 4
        assert memory.peak_bytes >= memory.weight_bytes + memory.gradient_bytes + memory.optimizer_state_bytes


def test_folded_rows_sum_their_steps_kept_memory():
    text = (TESTS / "data" / "basic_block.txt").read_text()
    net = convcalc.parse_network(text)
    _, full = net.training_memory((1, 8, 8, 8))
    _, folded = net.training_memory((1, 8, 8, 8), depth=1)
    assert sum(folded.kept) == sum(full.kept) == full.activation_bytes
    assert len(folded.kept) < len(full.kept)


# -- the command line -------------------------------------------------------------------------


def test_net_train_adds_the_kept_column_and_the_training_totals(cli):
    result = cli("net", LENET, "--train", "--optimizer", "momentum")
    assert result.code == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].split()[-3:] == ["kept", "for", "backward"]
    assert lines[2].split()[-2:] == ["4.0", "KiB"]  # conv 0 keeps the 1x1x32x32 input
    for label in ("kept for backward", "gradients", "optimizer state (momentum)", "peak training memory"):
        assert any(line.startswith(label) for line in lines), label


def test_net_train_json_gives_each_layer_its_kept_bytes_and_the_totals(cli):
    result = cli("net", LENET, "--train", "--json")
    assert result.code == 0 and result.stderr == ""
    data = json.loads(result.stdout)
    training = data["training"]
    assert set(training) == {"optimizer", "activation_bytes", "weight_bytes", "gradient_bytes",
                             "optimizer_state_bytes", "peak_bytes"}
    assert training["optimizer"] == "adam"  # the default
    assert [layer["kept_bytes"] for layer in data["layers"]][:2] == [4096, 6 * 28 * 28 * 4]
    assert sum(layer["kept_bytes"] for layer in data["layers"]) == training["activation_bytes"]
    assert training["gradient_bytes"] == data["totals"]["trainable_params"] * 4
    assert training["optimizer_state_bytes"] == 2 * training["gradient_bytes"]
    without = json.loads(cli("net", LENET, "--json").stdout)
    assert "training" not in without and "kept_bytes" not in without["layers"][0]


def test_net_train_csv_has_exact_kept_bytes(cli):
    result = cli("net", LENET, "--train", "--csv")
    header, first = result.stdout.splitlines()[:2]
    assert header.split(",")[-1] == "kept_for_backward" and first.split(",")[-1] == "4096"


@pytest.mark.parametrize("argv, words", [
    (("--optimizer", "sgd"), ["--optimizer sgd needs --train"]),
    (("--train", "--optimizer", "rmsprop"), ["'rmsprop'", "sgd, momentum, adam, adamw"]),
    (("--train", "--dtype", "int8"), ["--dtype int8", "floating-point tensors only", "use --dtype float32"]),
    (("--train", "--dtype", "int64", "--json"), ["--dtype int64", "use --dtype float32"]),
])
def test_bad_training_options_are_one_clean_error_line(cli, argv, words):
    cli("net", LENET, *argv).assert_one_error_line(words)


def test_train_without_an_input_shape_is_refused(cli, tmp_path):
    spec = tmp_path / "model.txt"
    spec.write_text("Conv2d(3, 8, 3)\n")
    cli("net", str(spec), "--train").assert_one_error_line(["--train needs an input shape"])


# -- each family against torch's saved tensors ------------------------------------------------

FAMILIES = [  # (the module as the spec writes it, the input shape)
    *((text, (2, 4, 8, 8)) for text in (
        "nn.Conv2d(4, 6, 3)", "nn.ConvTranspose2d(4, 6, 3, stride=2)", "nn.Linear(8, 3)", "nn.BatchNorm2d(4)",
        "nn.InstanceNorm2d(4, affine=True)", "nn.GroupNorm(2, 4)", "nn.LayerNorm(8)", "nn.LocalResponseNorm(3)",
        "nn.ReLU()", "nn.ReLU(inplace=True)", "nn.ReLU6(inplace=True)", "nn.ReLU6()", "nn.LeakyReLU(0.1, inplace=True)",
        "nn.ELU(inplace=True)", "nn.SELU()", "nn.CELU()", "nn.GELU()", "nn.SiLU(inplace=True)", "nn.Hardswish()",
        "nn.Hardsigmoid(inplace=True)", "nn.Mish()", "nn.Sigmoid()", "nn.Tanh()", "nn.Softplus()", "nn.Softsign()",
        "nn.LogSigmoid()", "nn.Tanhshrink()", "nn.Hardshrink()", "nn.Threshold(0.1, 0.0)", "nn.PReLU()", "nn.GLU()",
        "nn.Softmax(dim=1)", "nn.LogSoftmax(dim=1)", "nn.Softmin(dim=1)", "nn.Softmax2d()", "nn.MaxPool2d(2)",
        "nn.AvgPool2d(2)", "nn.LPPool2d(2, 2)", "nn.AdaptiveAvgPool2d(1)", "nn.AdaptiveAvgPool2d(3)",
        "nn.AdaptiveMaxPool2d(2)", "nn.Dropout(0.3)", "nn.Dropout2d(0.3)", "nn.AlphaDropout(0.3)",
        "nn.Upsample(scale_factor=2)", "nn.Upsample(scale_factor=2, mode='bilinear')", "nn.Flatten()",
        "nn.Identity()", "nn.ZeroPad2d(1)", "nn.ReflectionPad2d(1)", "nn.ReplicationPad2d(1)", "nn.PixelShuffle(2)")),
    ("nn.Conv1d(4, 6, 3)", (2, 4, 8)), ("nn.BatchNorm1d(4)", (2, 4, 8)), ("nn.MaxPool1d(3, stride=2)", (2, 4, 9)),
    ("nn.Dropout1d(0.3)", (2, 4, 8)), ("nn.MultiheadAttention(16, 2, batch_first=True)", (2, 5, 16)),
]


@pytest.mark.parametrize("text, shape", FAMILIES, ids=[text for text, _ in FAMILIES])
def test_what_each_layer_keeps_is_what_torch_saves(text, shape):
    torch = pytest.importorskip("torch")
    module = eval(text, {"nn": torch.nn}).train()
    x = torch.randn(shape, requires_grad=True) * 1.0  # an activation, as inside a network
    weights = {t.untyped_storage().data_ptr() for t in [*module.parameters(), *module.buffers()]}
    saved: dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        module(x, x, x) if isinstance(module, torch.nn.MultiheadAttention) else module(x)
    _, memory = convcalc.parse_network(text).training_memory(shape)
    assert memory.activation_bytes == sum(saved.values())


# -- against torch's measured training step ---------------------------------------------------

SMALL_CNN = ("nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True), "
             "nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.Dropout(0.3), "
             "nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(512, 64), nn.ReLU(), nn.Dropout(), nn.Linear(64, 10))")
ORACLE_CASES = [
    ({"torch": SMALL_CNN, "input": [8, 3, 64, 64]}, "adam"),
    ({"torch": SMALL_CNN, "input": [8, 3, 64, 64]}, "sgd"),
    ({"torchvision": "resnet18", "input": [2, 3, 64, 64]}, "adam"),
    ({"torchvision": "mobilenet_v2", "input": [2, 3, 64, 64]}, "sgd"),
    ({"torchvision": "mobilenet_v3_small", "input": [2, 3, 64, 64]}, "momentum"),
]


@pytest.mark.parametrize("spec, optimizer", ORACLE_CASES,
                         ids=[f"{s.get('torchvision', 'small_cnn')}-{o}" for s, o in ORACLE_CASES])
def test_the_estimate_matches_torchs_measured_training_step(spec, optimizer):
    pytest.importorskip("torch")
    # imported by the child only; torchvision's models import pillow
    if spec.get("torchvision") and any(importlib.util.find_spec(name) is None for name in ("torchvision", "PIL")):
        pytest.skip("needs torchvision and pillow (pip install '.[image]')")
    if not os.path.exists("/proc/self/clear_refs"):
        pytest.skip("needs Linux's /proc/self/clear_refs to reset the high-water mark")
    argument = json.dumps({**spec, "optimizer": optimizer})
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    done = subprocess.run([sys.executable, str(TESTS / "train_step.py"), argument],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    torch_step = json.loads(done.stdout)
    _, memory = convcalc.parse_network(torch_step["text"]).training_memory(tuple(spec["input"]), optimizer=optimizer)
    assert memory.activation_bytes == torch_step["kept"]
    assert memory.gradient_bytes == torch_step["grads"]
    assert memory.optimizer_state_bytes == torch_step["state"]
    assert abs(memory.peak_bytes / torch_step["peak"] - 1) <= 0.15, (memory.peak_bytes, torch_step["peak"])


# -- the README's example ---------------------------------------------------------------------

def test_readme_train_example_is_what_the_command_prints(cli):
    result = cli("net", LENET, "--train", "--optimizer", "adam")
    assert result.code == 0 and result.stderr == ""
    check_readme_block("convcalc net tests/data/lenet_lines.txt --train --optimizer adam", result.stdout)


def test_the_terminal_table_has_the_kept_column_and_the_training_totals():
    from rich.console import Console

    from convcalc.render.report import render_network
    from convcalc.render.training import training_extras

    summary, memory = convcalc.parse_network(Path(LENET).read_text()).training_memory(optimizer="adamw")
    console = Console(width=250, record=True, color_system=None)
    console.print(render_network(summary, None, training_extras(summary, memory)))
    text = console.export_text()
    assert "kept for backward" in text.splitlines()[0]
    assert "optimizer state (adamw)" in text and "peak training memory" in text


# -- a module called twice ----------------------------------------------------------------------

SHARED_FC = """class Net:
    def forward(self, x):
        return self.fc(self.act(self.fc(x)))
Net(
  (fc): Linear(in_features=512, out_features=512, bias=True)
  (act): ReLU()
)"""


def test_a_shared_module_makes_its_gradients_at_its_last_call():
    _, memory = convcalc.parse_network(SHARED_FC).training_memory((4096, 512), optimizer="sgd")
    activation, params = 4096 * 512 * 4, (512 * 512 + 512) * 4
    assert memory.activation_bytes == 2 * activation  # fc's input, and act's output (fc#2's input)
    assert memory.gradient_bytes == params  # once, however many calls
    # the backward's fullest: at fc#2 (the first step back) both activations are kept, fc#2's output
    # and input gradients are in flight, and fc's gradients are made there; plus the weights
    assert memory.peak_bytes == params + (2 * activation + params + 2 * activation)


def test_torch_makes_a_shared_modules_gradients_at_its_last_call():
    """The backward of fc's second call makes a weight-sized gradient before the backward reaches
    act; autograd holds it until fc's first call adds its own, then the sum becomes .grad."""
    torch = pytest.importorskip("torch")
    fc, act = torch.nn.Linear(8, 8), torch.nn.ReLU()
    events: list[str] = []
    act.register_full_backward_hook(lambda *_: events.append("act backward"))
    fc.weight.register_post_accumulate_grad_hook(lambda _: events.append("fc.weight.grad set"))
    out = fc(act(fc(torch.randn(2, 8, requires_grad=True))))

    def second_call_backward(grad_inputs, grad_outputs):
        if any(grad is not None and grad.numel() == fc.weight.numel() for grad in grad_inputs):
            events.append("fc#2 weight gradient")

    out.grad_fn.register_hook(second_call_backward)
    out.sum().backward()
    assert events == ["fc#2 weight gradient", "act backward", "fc.weight.grad set"]


def test_the_docs_checked_rows_are_the_cases_the_test_runs():
    doc = (TESTS.parent / "docs" / "training-memory.md").read_text()
    checked = set()
    for line in doc.splitlines():
        cell = line.split("|")[1].strip() if line.startswith("|") else ""
        if cell.endswith("✓"):
            name, shape, optimizer = (part.strip() for part in cell[:-1].rsplit(",", 2))
            name = "small_cnn" if name.startswith("small CNN") else name
            checked.add((name, tuple(int(n) for n in shape.split("×")), optimizer))
    assert checked == {(spec.get("torchvision", "small_cnn"), tuple(spec["input"]), optimizer)
                       for spec, optimizer in ORACLE_CASES}
