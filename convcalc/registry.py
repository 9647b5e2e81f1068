"""The one table of layers: it drives the CLI commands, spec parsing, help and completions.

Families live in ``convcalc.layers.<module>`` and list their classes in ``LAYERS``; adding a
family means adding its module name here.
"""

from __future__ import annotations

import difflib
import importlib
from functools import lru_cache

from .errors import ConvcalcError
from .layers.base import Layer

FAMILY_MODULES = (
    "conv", "pooling", "unpooling", "adaptive", "linear", "norm", "activation", "softmax", "dropout", "reshape",
    "shuffle", "resample", "attention",
)


@lru_cache(maxsize=None)
def layer_classes() -> dict[str, type[Layer]]:
    """Command name (lowercased torch.nn class name) -> class, in family order.

    >>> layer_classes()["conv2d"].__name__
    'Conv2d'
    """
    table: dict[str, type[Layer]] = {}
    for module in FAMILY_MODULES:
        for cls in importlib.import_module(f"convcalc.layers.{module}").LAYERS:
            table[cls.cli_name()] = cls
    return table


@lru_cache(maxsize=None)
def aliases() -> dict[str, str]:
    """Friendlier alternative command name -> command name.

    >>> aliases()["deconv2d"]
    'convtranspose2d'
    """
    return {alias: name for name, cls in layer_classes().items() for alias in cls.aliases}


def lookup(name: str) -> type[Layer]:
    """Find a layer by command name, alias or torch class name (``nn.`` prefix allowed).

    >>> lookup("nn.Conv2d").__name__
    'Conv2d'
    """
    key = name.strip().lower()
    key = key.removeprefix("torch.").removeprefix("nn.")
    table = layer_classes()
    if key in table:
        return table[key]
    if key in aliases():
        return table[aliases()[key]]
    raise ConvcalcError(f"unknown layer {name!r}{suggestion(name)}")


def torch_layer(name: str) -> type[Layer] | None:
    """The layer whose torch class is named exactly ``name`` (print(model)'s spelling), else None.

    >>> torch_layer("Conv2d").__name__, torch_layer("conv2d")
    ('Conv2d', None)
    """
    cls = layer_classes().get(name.lower())
    return cls if cls is not None and cls.__name__ == name else None


_RECURRENT = "a recurrent layer: its state runs over time steps, which convcalc does not model"
_LAZY = ("a lazy module: its parameters do not exist until its first forward; print the model after "
         "one forward pass, when it prints as the layer it became")
_PARAMETRIZED = ("a weight parametrization, which convcalc does not run (its layer's weight is computed from "
                 "other tensors); call torch.nn.utils.parametrize.remove_parametrizations(module, 'weight') "
                 "before print(model), and the layer prints as itself")
# torch.nn classes convcalc has no layer for, and why: their messages must not call them unknown.
NOT_MODELLED = {
    **dict.fromkeys(("RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"), _RECURRENT),
    **dict.fromkeys(
        [f"Lazy{kind}{d}d" for kind in ("Conv", "ConvTranspose", "BatchNorm", "InstanceNorm") for d in (1, 2, 3)]
        + ["LazyLinear"], _LAZY),
    "EmbeddingBag": "EmbeddingBag sums, averages or maxes bags of embeddings, which convcalc does not model",
    "FractionalMaxPool2d": "a fractional max pool draws its windows at random, which convcalc does not model",
    "FractionalMaxPool3d": "a fractional max pool draws its windows at random, which convcalc does not model",
    "CosineSimilarity": "it takes two inputs, which a layer of convcalc does not",
    "PairwiseDistance": "it takes two inputs, which a layer of convcalc does not",
    "RecursiveScriptModule": "a TorchScript module prints no arguments; print the model before torch.jit.script",
    **dict.fromkeys(("_WeightNorm", "_SpectralNorm"), _PARAMETRIZED),
    **dict.fromkeys(
        ("AdaptiveLogSoftmaxWithLoss", "BCELoss", "BCEWithLogitsLoss", "CTCLoss", "CosineEmbeddingLoss",
         "CrossEntropyLoss", "GaussianNLLLoss", "HingeEmbeddingLoss", "HuberLoss", "KLDivLoss", "L1Loss",
         "LinearCrossEntropyLoss", "MSELoss", "MarginRankingLoss", "MultiLabelMarginLoss",
         "MultiLabelSoftMarginLoss", "MultiMarginLoss", "NLLLoss", "NLLLoss2d", "PoissonNLLLoss", "SmoothL1Loss",
         "SoftMarginLoss", "TripletMarginLoss", "TripletMarginWithDistanceLoss"),
        "a loss takes the prediction and the target, two inputs, which a layer of convcalc does not"),
    "CrossMapLRN2d": "a legacy form of LocalResponseNorm, which convcalc models as nn.LocalResponseNorm",
}


def not_modelled(type_name: str) -> str:
    """Why a torch.nn class convcalc has no layer for is left out, or ``""`` for other names.

    >>> not_modelled("GRU").startswith("a recurrent layer"), not_modelled("MyBlock")
    (True, '')
    """
    return NOT_MODELLED.get(type_name, "")


def suggestion(name: str) -> str:
    """``"; did you mean 'conv2d'?"`` for the closest known names, or ``""``.

    >>> suggestion("comv2d").startswith("; did you mean 'conv2d'")
    True
    """
    left_out = next((key for key in NOT_MODELLED if key.lower() == name.lower().removeprefix("nn.")), None)
    if left_out is not None:  # `convcalc lstm`: say why, as a spec does
        return f"; {left_out} is a torch.nn class convcalc does not model: {NOT_MODELLED[left_out]}"
    known = list(layer_classes()) + list(aliases())
    close = difflib.get_close_matches(name.lower(), known, n=3, cutoff=0.6)
    if not close:
        return "; `convcalc layers` lists them all"
    return "; did you mean " + " or ".join(repr(c) for c in close) + "?"
