"""Measure one torch training step's memory; run as a fresh process by tests/test_training.py.

    MALLOC_MMAP_THRESHOLD_=65536 python tests/train_step.py '{"torchvision": "resnet18",
        "input": [2, 3, 64, 64], "optimizer": "adam"}'

prints JSON: ``text`` (print(model), which convcalc reads), ``kept`` (the bytes of every
tensor autograd saved for the backward pass, each storage once, the weights left out: summed
by ``torch.autograd.graph.saved_tensors_hooks``), ``weights``, ``grads`` and ``state`` (the
optimizer's tensors), and ``peak``: the resident-memory high-water mark of a steady-state step
(forward, cross-entropy-free ``mean`` loss, backward, optimizer step, gradients set to None)
over the resident memory before it, plus the weights and optimizer state held before it. The
environment's mmap threshold makes large buffers their own mappings, returned when freed, so
that the high-water mark sees tensors come and go.
"""

import gc
import json
import sys
import types

# The torchvision wheel beside the CPU torch cannot load its compiled operators; the models
# need none of them (see tests/test_torchvision_run.py).
sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))

import torch  # noqa: E402
from torch import nn  # noqa: E402

OPTIMIZERS = {
    "sgd": lambda params: torch.optim.SGD(params, lr=0.01),
    "momentum": lambda params: torch.optim.SGD(params, lr=0.01, momentum=0.9),
    "adam": lambda params: torch.optim.Adam(params, foreach=False),  # the CPU default, explicitly
    "adamw": lambda params: torch.optim.AdamW(params, foreach=False),
}


def resident(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def build(spec: dict) -> nn.Module:
    torch.manual_seed(0)
    if "torchvision" in spec:
        import torchvision

        return torchvision.models.get_model(spec["torchvision"], weights=None)
    return eval(spec["torch"], {"nn": nn})  # a test's own nn.Sequential(...) expression


def main() -> None:
    spec = json.loads(sys.argv[1])
    torch.set_num_threads(1)
    model = build(spec).train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = OPTIMIZERS[spec["optimizer"]](params)

    def step(pack=None) -> None:
        x = torch.randn(spec["input"])
        if pack is None:
            out = model(x)
        else:
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
                out = model(x)
        out.mean().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()  # the optimizer makes its state; libraries settle
    weights = [*model.parameters(), *model.buffers()]
    weight_storages = {t.untyped_storage().data_ptr() for t in weights}
    kept: dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weight_storages:
            kept[storage.data_ptr()] = storage.nbytes()
        return tensor

    step(pack)
    gc.collect()
    weight_bytes = sum(t.numel() * t.element_size() for t in weights)
    state_bytes = sum(value.numel() * value.element_size() for state in optimizer.state.values()
                      for value in state.values() if torch.is_tensor(value) and value.dim() > 0)
    before = resident("VmRSS")
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # the high-water mark starts again from what is resident now
    step()
    peak = resident("VmHWM") - before + weight_bytes + state_bytes
    print(json.dumps({"text": str(model), "kept": sum(kept.values()), "weights": weight_bytes,
                      "grads": sum(p.numel() * p.element_size() for p in params), "state": state_bytes,
                      "peak": peak}))


if __name__ == "__main__":
    main()
