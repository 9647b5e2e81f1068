"""Regenerate the torchvision reference fixtures in tests/data/torchvision/.

What it makes, for every model that ``torchvision.models.list_models()`` names
except the quantized ones (``torchvision.models.quantization``), 109 models
with torchvision 0.28:

* ``<model_name>.txt``: ``str(model)`` and a newline, i.e. exactly what
  ``print(model)`` prints, for the model built by
  ``torchvision.models.get_model(name, weights=None)`` (plus
  ``weights_backbone=None`` where the builder takes it, i.e. segmentation and
  detection), after ``torch.manual_seed(0)``, in ``eval()`` mode. Without
  weights some models differ from their pretrained form: googlenet and
  inception_v3 keep their aux heads, segmentation models have no
  ``aux_classifier``, the R-CNN/RetinaNet/FCOS backbones use ``BatchNorm2d``
  (parameters) rather than ``FrozenBatchNorm2d`` (buffers).
* ``reference.json``: one object per model name, keys sorted, indent=1 (each
  innermost list of ints, i.e. a shape, is kept on one line):

  - ``task``: "classification" | "segmentation" | "video" | "detection" |
    "optical_flow".
  - ``params``: ``sum(p.numel() for p in model.parameters())``.
  - ``buffers``: ``sum(b.numel() for b in model.buffers())``.
  - ``leaf_params``: {module name as in ``named_modules()`` ("" is the model
    itself): ``sum(p.numel() for p in m.parameters(recurse=False))``} for every
    module holding parameters of its own (containers too, e.g. ConvNeXt's
    CNBlock ``layer_scale``, ViT's ``encoder`` ``pos_embedding``).
  - classification, segmentation and video models only (a forward pass on
    ``torch.randn(input)``, batch 1, the size the default weights are
    evaluated at, i.e. ``get_model_weights(name).DEFAULT.transforms()``'s
    crop size: 224 unless ``CLASSIFICATION_SIZE`` says otherwise; vit_h_14 at
    224 because weights=None builds the 224 model; segmentation 520; video
    16 frames of 112 (r3d_18, mc3_18, r2plus1d_18) or 224 (the others)):

    - ``input``: the input shape.
    - ``output``: the output shape; for a dict output (segmentation) that of
      its ``"out"`` entry, and ``output_keys`` lists the dict's keys.
    - ``leaves``: {name: [output shape of each call, in call order]} for every
      module without children, from forward hooks in eval mode under
      ``torch.no_grad()``. A tuple/list output is recorded as the shape of its
      first item that is a tensor; a call whose output holds no tensor at
      that level (a dict; a tuple of lists such as the FPN's
      ``extra_blocks``) is not recorded.
    - ``not_run``: sorted names of leaves that never ran: googlenet/inception
      aux heads in eval; modules whose weights are used without calling the
      module (``nn.MultiheadAttention.out_proj``, Swin's ``attn.qkv`` and
      ``attn.proj``); EfficientNet's ``stochastic_depth`` in blocks without
      a residual; ShuffleNetV2's empty ``branch1`` in stride-1 blocks.
    - ``containers``: the same for modules with children (the model itself
      excluded: that is ``output``), for calls whose output is a tensor or a
      tuple/list holding one (``nn.MultiheadAttention`` has the child
      ``out_proj``, so it is a container here); dict outputs are not recorded.
    - ``non_tensor_outputs``: {module name: output type name} for every
      module (leaf or container) whose output is not a tensor, whether or
      not a shape was recorded for it.
    - ``macs_by_operator``: fvcore's ``FlopCountAnalysis(model, x)
      .by_operator()`` (fvcore counts one multiply-add as one "flop"), traced
      with autograd enabled so that ``nn.MultiheadAttention`` takes its
      Python path (projections counted as ``linear``) rather than the fused
      no-grad kernel fvcore cannot see. One handle is added to fvcore's
      defaults: ``aten::scaled_dot_product_attention`` (Q @ K^T and A @ V,
      L*S*(E+Ev) per batch/head), reported as
      ``scaled_dot_product_attention``; older torch ran those as ``bmm``.
    - ``macs``: the conv and linear-type work: the sum of the ``conv``,
      ``linear``, ``addmm``, ``matmul``, ``bmm``, ``mm``, ``einsum`` and
      ``scaled_dot_product_attention`` entries of ``macs_by_operator``.
    - ``macs_unsupported_ops``: {op: count} of the ops fvcore did not count
      (elementwise ops, pooling, ...), so a test can tell what is missing.

  - detection models: ``backbone``: the same input/output/leaves/not_run/
    containers/macs data for ``model.backbone`` run alone (1x3x800x800 for the
    R-CNN, RetinaNet and FCOS families, 1x3x300x300 for ssd300, 1x3x320x320
    for ssdlite); ``output`` is {key: shape} for a dict output (the FPN and SSD
    backbones return an OrderedDict of tensors), a list of shapes for a
    tuple/list output, a shape for a tensor. If the backbone fails,
    ``backbone`` is {"error": "<message>"}.
  - optical flow (raft_*): the counts above, no forward pass.

How to run it: it needs torch and torchvision (0.28; the fixtures were made
with torch 2.13.0 CPU and torchvision 0.28.0), and fvcore, in a virtual
environment of their own (convcalc itself does not depend on torch):

    python3 -m venv tvenv
    tvenv/bin/pip install torch==2.13.0
    tvenv/bin/pip download --no-deps torchvision==0.28.0 -d tvwheel
    tvenv/bin/pip install --no-deps tvwheel/*.whl
    tvenv/bin/pip install fvcore pillow
    tvenv/bin/python scripts/torchvision_fixtures.py          # all models
    tvenv/bin/python scripts/torchvision_fixtures.py resnet18 # update some

Given model names, it rewrites only their files and entries (the rest of
reference.json is kept). Without, it rewrites everything and checks that
there are 109 models. Single process, two threads; the whole run takes tens of
minutes on a two-core machine.

Why the stub at the top: a torchvision wheel installed without its matching
torch build cannot load its C extension, and ``import torchvision`` then
fails while registering the meta kernels of its detection ops
(``torchvision._meta_registrations``). Putting an empty module in its place
in ``sys.modules`` lets torchvision import; the models build and run, only the
detection ops (nms, roi_align, ...) fail when called, which is why detection
models are checked through their backbones only.
"""

import sys
import types

# See the docstring: lets torchvision import without its C extension.
sys.modules.setdefault(
    "torchvision._meta_registrations",
    types.ModuleType("torchvision._meta_registrations"),
)

import inspect  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from math import prod  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
import torchvision  # noqa: E402
from fvcore.nn import FlopCountAnalysis  # noqa: E402
from fvcore.nn.jit_handles import get_shape  # noqa: E402
from torchvision import models as tvm  # noqa: E402

OUT_DIR = Path(__file__).resolve().parent.parent / "tests" / "data" / "torchvision"
EXPECTED_COUNT = 109

# by_operator entries that count conv and linear-type work.
MAC_OPS = (
    "conv", "linear", "addmm", "matmul", "bmm", "mm", "einsum",
    "scaled_dot_product_attention",
)

# Image size the default weights are evaluated at, where it is not 224
# (checked against get_model_weights(name).DEFAULT.transforms().crop_size).
CLASSIFICATION_SIZE = {
    "inception_v3": 299,
    "efficientnet_b1": 240,
    "efficientnet_b2": 288,
    "efficientnet_b3": 300,
    "efficientnet_b4": 380,
    "efficientnet_b5": 456,
    "efficientnet_b6": 528,
    "efficientnet_b7": 600,
    "efficientnet_v2_s": 384,
    "efficientnet_v2_m": 480,
    "efficientnet_v2_l": 480,
    "regnet_y_128gf": 384,  # default weights: IMAGENET1K_SWAG_E2E_V1
    "swin_v2_t": 256,
    "swin_v2_s": 256,
    "swin_v2_b": 256,
    # vit_h_14 stays 224: its default weights (518) need image_size=518, but
    # weights=None builds the 224 model (its pos_embedding fixes the size).
}

# Video: (frames, size).
VIDEO_SIZE = {
    "r3d_18": (16, 112),
    "mc3_18": (16, 112),
    "r2plus1d_18": (16, 112),
}


def task_of():
    tasks = {}
    for task, module in (
        ("segmentation", tvm.segmentation),
        ("video", tvm.video),
        ("detection", tvm.detection),
        ("optical_flow", tvm.optical_flow),
    ):
        for name in tvm.list_models(module=module):
            tasks[name] = task
    quantized = set(tvm.list_models(module=tvm.quantization))
    out = {}
    for name in sorted(tvm.list_models()):
        if name in quantized:
            continue
        out[name] = tasks.get(name, "classification")
    return out


def input_shape(name, task):
    if task == "classification":
        s = CLASSIFICATION_SIZE.get(name, 224)
        return [1, 3, s, s]
    if task == "segmentation":
        return [1, 3, 520, 520]
    if task == "video":
        t, s = VIDEO_SIZE.get(name, (16, 224))
        return [1, 3, t, s, s]
    raise ValueError(task)


def backbone_input_shape(name):
    if name.startswith("ssd300"):
        return [1, 3, 300, 300]
    if name.startswith("ssdlite"):
        return [1, 3, 320, 320]
    return [1, 3, 800, 800]


def build(name):
    kwargs = {"weights": None}
    builder = tvm.get_model_builder(name)
    if "weights_backbone" in inspect.signature(builder).parameters:
        kwargs["weights_backbone"] = None
    torch.manual_seed(0)
    model = tvm.get_model(name, **kwargs)
    model.eval()
    return model


def shape(t):
    return [int(d) for d in t.shape]


def first_tensor(out):
    """out itself if a tensor, else the first tensor item of a tuple/list (not nested)."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)):
        for item in out:
            if isinstance(item, torch.Tensor):
                return item
    return None


def shapes_of_output(out):
    """Output as data: a shape, {key: shape} or [shape, ...]."""
    if isinstance(out, torch.Tensor):
        return shape(out)
    if isinstance(out, dict):
        return {str(k): shapes_of_output(v) for k, v in out.items()}
    if isinstance(out, (tuple, list)):
        return [shapes_of_output(v) for v in out]
    return repr(type(out).__name__)


def sdpa_flop_jit(inputs, outputs):
    """aten::scaled_dot_product_attention: Q @ K^T and A @ V multiply-adds."""
    q, k, v = (get_shape(x) for x in inputs[:3])
    batch = prod(q[:-2])
    length, e = q[-2], q[-1]
    s, ev = k[-2], v[-1]
    return Counter({"scaled_dot_product_attention": batch * length * s * (e + ev)})


def count_macs(module, x):
    flops = FlopCountAnalysis(module, (x,))
    flops.set_op_handle("aten::scaled_dot_product_attention", sdpa_flop_jit)
    flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    with torch.enable_grad():
        by_op = {k: int(v) for k, v in sorted(flops.by_operator().items())}
        unsupported = {k: int(v) for k, v in sorted(flops.unsupported_ops().items())}
    macs = sum(v for k, v in by_op.items() if k in MAC_OPS)
    return macs, by_op, unsupported


def trace_shapes(module, x):
    """Run module(x) under no_grad with hooks.

    Returns (out, leaves, containers, not_run, odd); odd is {name: type} for
    the modules whose output is not a tensor.
    """
    leaves, containers, odd = {}, {}, {}
    leaf_names, ran = [], set()
    hooks = []

    def make_hook(name, is_leaf):
        def hook(_m, _inp, out):
            ran.add(name)
            if not isinstance(out, torch.Tensor):
                odd[name] = type(out).__name__
            t = first_tensor(out)
            if t is None:
                return
            (leaves if is_leaf else containers).setdefault(name, []).append(shape(t))
        return hook

    for name, m in module.named_modules():
        if name == "":
            continue
        is_leaf = len(list(m.children())) == 0
        if is_leaf:
            leaf_names.append(name)
        hooks.append(m.register_forward_hook(make_hook(name, is_leaf)))
    try:
        with torch.no_grad():
            out = module(x)
    finally:
        for h in hooks:
            h.remove()
    not_run = sorted(n for n in leaf_names if n not in ran)
    return out, leaves, containers, not_run, dict(sorted(odd.items()))


def forward_data(module, in_shape, dict_out_key=None):
    torch.manual_seed(0)
    x = torch.randn(*in_shape)
    out, leaves, containers, not_run, odd = trace_shapes(module, x)
    data = {
        "input": list(in_shape),
        "leaves": leaves,
        "containers": containers,
        "not_run": not_run,
        "non_tensor_outputs": odd,
    }
    if dict_out_key is not None and isinstance(out, dict):
        data["output"] = shape(out[dict_out_key])
        data["output_keys"] = [str(k) for k in out.keys()]
    else:
        data["output"] = shapes_of_output(out)
    macs, by_op, unsupported = count_macs(module, x)
    data["macs"] = macs
    data["macs_by_operator"] = by_op
    data["macs_unsupported_ops"] = unsupported
    return data, out, odd


def model_entry(name, task, model):
    entry = {
        "task": task,
        "params": sum(p.numel() for p in model.parameters()),
        "buffers": sum(b.numel() for b in model.buffers()),
        "leaf_params": {
            n: sum(p.numel() for p in m.parameters(recurse=False))
            for n, m in model.named_modules()
            if any(True for _ in m.parameters(recurse=False))
        },
    }
    notes = []
    if task in ("classification", "segmentation", "video"):
        data, out, odd = forward_data(model, input_shape(name, task), dict_out_key="out")
        if not isinstance(out, (torch.Tensor, dict)):
            notes.append(f"output is {type(out).__name__}")
        entry.update(data)
        if odd:
            notes.append("non-tensor outputs: " + ", ".join(f"{k}:{v}" for k, v in odd.items()))
    elif task == "detection":
        try:
            data, _out, odd = forward_data(model.backbone, backbone_input_shape(name))
            if odd:
                notes.append("backbone non-tensor outputs: "
                             + ", ".join(f"{k}:{v}" for k, v in odd.items()))
        except Exception as exc:  # recorded, not fatal
            data = {"error": f"{type(exc).__name__}: {exc}"}
            notes.append("backbone failed: " + data["error"])
        entry["backbone"] = data
    return entry, notes


_SHAPE_LIST = re.compile(r"\[\s*(-?\d+(?:,\s*-?\d+)*)\s*\]")


def dump_json(obj):
    text = json.dumps(obj, indent=1, sort_keys=True)
    # One line per shape ([1, 64, 56, 56]) instead of one line per number.
    text = _SHAPE_LIST.sub(
        lambda m: "[" + ", ".join(m.group(1).replace(",", " ").split()) + "]", text
    )
    return text + "\n"


def main(argv):
    torch.set_num_threads(2)
    tasks = task_of()
    names = argv or list(tasks)
    unknown = [n for n in names if n not in tasks]
    if unknown:
        raise SystemExit(f"not a (non-quantized) torchvision model: {', '.join(unknown)}")
    if not argv:
        per_task = Counter(tasks.values())
        print(f"torch {torch.__version__}, torchvision {torchvision.__version__}: "
              f"{len(tasks)} models ({', '.join(f'{t} {c}' for t, c in sorted(per_task.items()))})")
        if len(tasks) != EXPECTED_COUNT:
            raise SystemExit(f"expected {EXPECTED_COUNT} models, found {len(tasks)}")

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    ref_path = OUT_DIR / "reference.json"
    reference = {}
    if argv and ref_path.exists():
        reference = json.loads(ref_path.read_text())

    start = time.time()
    for name in names:
        t0 = time.time()
        task = tasks[name]
        model = build(name)
        (OUT_DIR / f"{name}.txt").write_text(str(model) + "\n")
        entry, notes = model_entry(name, task, model)
        reference[name] = entry
        del model
        out = entry.get("output", entry.get("backbone", {}).get("output", "-"))
        macs = entry.get("macs", entry.get("backbone", {}).get("macs"))
        macs_s = f"{macs / 1e9:.3f}G" if macs is not None else "-"
        n_leaves = len(entry.get("leaves", entry.get("backbone", {}).get("leaves", {})))
        print(f"{name:40s} {task:14s} params={entry['params']:>11d} macs={macs_s:>10s} "
              f"leaves={n_leaves:4d} out={json.dumps(out, separators=(',', ':'))} "
              f"{time.time() - t0:.1f}s" + ("  [" + "; ".join(notes) + "]" if notes else ""),
              flush=True)
        # Written after each model so a long run can be followed and resumed.
        ref_path.write_text(dump_json(dict(sorted(reference.items()))))

    ref_path.write_text(dump_json(dict(sorted(reference.items()))))
    print(f"{len(names)} models in {time.time() - start:.0f}s -> {OUT_DIR}")


if __name__ == "__main__":
    main(sys.argv[1:])
