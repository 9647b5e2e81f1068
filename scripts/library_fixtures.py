"""Regenerate the reference fixtures of other libraries' models: tests/data/timm/ (needs torch and
timm 1.0.31) and tests/data/efficientnet_pytorch/ (needs efficientnet_pytorch 0.7.1).

For each model of ``MODELS``, built after ``torch.manual_seed(0)`` in eval mode (timm's by
``timm.create_model(name, pretrained=False)``, efficientnet_pytorch's by
``EfficientNet.from_name(name)``, ``<name>-notop`` with ``include_top=False``):

* ``<name>.txt``: ``str(model)`` and a newline, exactly what ``print(model)`` prints;
* ``reference.json``: per model, ``params`` and ``buffers`` (counts), ``input`` (batch 1 at the
  model's default size), ``output`` (the forward's shape), and ``leaves``: {name: [output shape
  of each call]} for every module without children, from forward hooks under ``torch.no_grad()``.

Usage: python scripts/library_fixtures.py [timm|efficientnet_pytorch]
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import torch

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
MODELS = {
    "timm": ("efficientnet_b0", "efficientnet_lite0", "mobilenetv2_100", "mobilenetv3_large_100",
             "mobilenetv3_small_100", "lcnet_050", "mnasnet_100", "mobilenetv1_100", "fbnetc_100",
             "hardcorenas_a", "spnasnet_100", "mixnet_s", "tf_efficientnet_b0", "tf_mobilenetv3_small_100",
             "resnet18", "resnet50d", "resnext50_32x4d", "seresnext26d_32x4d", "ecaresnet50d",
             "vit_tiny_patch16_224", "deit_tiny_patch16_224", "vit_medium_patch16_gap_256", "convnext_atto",
             "convnext_tiny", "efficientnetv2_rw_t", "tf_efficientnetv2_b0"),
    "efficientnet_pytorch": ("efficientnet-b0", "efficientnet-b3", "efficientnet-b0-notop"),
}


def _build(library: str, name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if library == "timm":
        import timm

        return timm.create_model(name, pretrained=False).eval()
    from efficientnet_pytorch import EfficientNet

    top = not name.endswith("-notop")
    return EfficientNet.from_name(name.removesuffix("-notop"), include_top=top).eval()


def _reference(model: torch.nn.Module) -> dict:
    size = tuple(getattr(model, "default_cfg", {}).get("input_size", (3, 224, 224)))
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
    for library in sys.argv[1:] or MODELS:
        out = DATA / library
        out.mkdir(parents=True, exist_ok=True)
        reference = {}
        for name in MODELS[library]:
            model = _build(library, name)
            (out / f"{name}.txt").write_text(str(model) + "\n")
            reference[name] = _reference(model)
        text = json.dumps(reference, indent=1, sort_keys=True)
        # each innermost list of ints (a shape) on one line
        text = re.sub(r"\[\n\s+(-?\d+(?:,\n\s+-?\d+)*)\n\s+\]",
                      lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text)
        (out / "reference.json").write_text(text + "\n")
        print(f"{library}: {len(reference)} models in {out}")


if __name__ == "__main__":
    main()
