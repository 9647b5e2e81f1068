"""Regenerate the timm reference fixtures in tests/data/timm/ (needs torch and timm 1.0.31).

For each model of ``MODELS``, built by ``timm.create_model(name, pretrained=False)`` after
``torch.manual_seed(0)``, in eval mode:

* ``<name>.txt``: ``str(model)`` and a newline, exactly what ``print(model)`` prints;
* ``reference.json``: per model, ``params`` and ``buffers`` (counts), ``input`` (batch 1 at the
  model's default size), ``output`` (the forward's shape), and ``leaves``: {name: [output shape
  of each call]} for every module without children, from forward hooks under ``torch.no_grad()``.

Usage: python scripts/timm_fixtures.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import timm
import torch

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "timm"
MODELS = ("efficientnet_b0", "efficientnet_lite0", "mobilenetv2_100", "mobilenetv3_large_100",
          "mobilenetv3_small_100", "lcnet_050", "mnasnet_100", "mobilenetv1_100", "fbnetc_100",
          "hardcorenas_a", "spnasnet_100", "mixnet_s", "tf_efficientnet_b0", "tf_mobilenetv3_small_100",
          "resnet18", "resnet50d", "resnext50_32x4d", "seresnext26d_32x4d", "ecaresnet50d")


def _reference(model: torch.nn.Module) -> dict:
    size = tuple(model.default_cfg.get("input_size", (3, 224, 224)))
    leaves: dict[str, list] = {}
    hooks = [module.register_forward_hook(lambda m, i, o, name=name: leaves.setdefault(name, []).append(list(o.shape)))
             for name, module in model.named_modules() if not list(module.children())]
    with torch.no_grad():
        output = model(torch.randn(1, *size))
    for hook in hooks:
        hook.remove()
    return {"params": sum(p.numel() for p in model.parameters()),
            "buffers": sum(b.numel() for b in model.buffers()),
            "input": [1, *size], "output": list(output.shape), "leaves": leaves}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    reference = {}
    for name in MODELS:
        torch.manual_seed(0)
        model = timm.create_model(name, pretrained=False).eval()
        (OUT / f"{name}.txt").write_text(str(model) + "\n")
        reference[name] = _reference(model)
    text = json.dumps(reference, indent=1, sort_keys=True)
    # each innermost list of ints (a shape) on one line
    text = re.sub(r"\[\n\s+(-?\d+(?:,\n\s+-?\d+)*)\n\s+\]",
                  lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text)
    (OUT / "reference.json").write_text(text + "\n")
    print(f"{len(reference)} models: {OUT}")


if __name__ == "__main__":
    main()
