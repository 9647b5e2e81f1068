"""How a torch argument is written on the command line and described in help: the documented
short flags, one line of help per argument name that several layers share (a layer's own
arguments are described by its ``_arg_help``), and the one message for a flag given a value
as a separate word.

>>> SHORT_FLAGS["kernel_size"], ARG_HELP["groups"]
('-k', 'split channels into this many independent groups')
"""

# torch argument name -> short CLI flag (the documented short forms); long flags are kebab-case names.
SHORT_FLAGS = {
    "in_channels": "--in",
    "in_features": "--in",
    "out_channels": "--out",
    "out_features": "--out",
    "kernel_size": "-k",
    "stride": "-s",
    "padding": "-p",
    "dilation": "-d",
    "groups": "-g",
}

# One-line help per torch argument name, shared by every layer that takes it.
ARG_HELP = {
    "in_channels": "channels of the input (inferred from --input when left out)",
    "out_channels": "channels the layer produces",
    "in_features": "size of the input's last dim (inferred from --input when left out)",
    "out_features": "size of the output's last dim",
    "kernel_size": "window size: 3, 3x5 or 3,5",
    "stride": "step between windows: 2 or 2x1",
    "padding": "implicit padding per side: 1 or 1x2",
    "dilation": "spacing between kernel taps",
    "groups": "split channels into this many independent groups",
    "bias": "add a learnable bias",
    "padding_mode": "how padded cells are filled",
    "output_padding": "extra size added to one side of the output",
    "ceil_mode": "round the output size up instead of down",
    "count_include_pad": "count padded cells in the average's divisor",
    "divisor_override": "divide every window's sum by this instead",
    "return_indices": "also return the max positions (for MaxUnpool)",
    "num_features": "channels C of the input (inferred from --input when left out)",
    "eps": "added to the variance for numerical stability",
    "momentum": "running-statistics update factor (training only)",
    "affine": "learnable per-channel scale and shift",
    "track_running_stats": "keep running mean and variance buffers",
}

FORWARD_ARG_HELP = {
    "output_size": "the exact output size wanted (transposed conv, max-unpool)",
}


# Words that, after a flag, were meant as its value: ``--bias true`` for ``--bias=true``.
BOOLEAN_WORDS = frozenset({"true", "false", "yes", "no"})


def flag_takes_no_value(option: str, given: str) -> str:
    """The message for a flag followed by a word of BOOLEAN_WORDS; a ``--no-`` flag's value
    goes on its positive spelling.

    >>> flag_takes_no_value("--bias", "--bias false")
    "--bias is a flag and takes no value (got '--bias false'); write --bias alone, or --bias=true / --bias=false"
    >>> flag_takes_no_value("--no-bias", "--no-bias no").split("; ")[1]
    'write --no-bias alone, or --bias=true / --bias=false'
    """
    positive = "--" + option[len("--no-") :] if option.startswith("--no-") else option
    return f"{option} is a flag and takes no value (got {given!r}); write {option} alone, or {positive}=true / {positive}=false"
