"""Convolution and transposed convolution forward passes, written once for any number of dims.

``conv_nd`` computes what ``torch.nn.functional.conv{1,2,3}d`` computes (after ``F.pad`` for the
non-zero padding modes); ``conv_transpose_nd`` what ``F.conv_transpose{1,2,3}d`` computes. Both
take batched arrays (N, C, *spatial) and already-validated arguments.

Where things are:

- ``dispatch``: ``conv_nd`` itself, and ``prepared_conv``, which does everything but the
  kernels once for inputs of one shape (a network's plan keeps it; ``conv_nd`` makes one a
  call): the argument checks, the choice of method for "auto" (``choose_method``), the weight
  laid out for it, the chunks per thread count, and the loop over chunks.
- ``chunks``: how a call is cut into chunks of images, groups and output rows whose scratch
  fits the bound, and each method's scratch formula.
- ``geometry``: the sizes of a convolution (``ConvGeometry``) and its per-dim arguments.
- ``padding``: the padded input a chunk reads (``padded_slab``) and torch's padding modes.
- ``grid``: tap offsets in a flattened slab, the *wide* grid the stride-1 methods compute on,
  and storing a result with its bias.
- ``scratch``: the per-thread scratch buffers kept between calls (``release_scratch``).
- One module per method (``method=``):

  - ``gemm``: im2col then GEMM; any stride and dilation.
  - ``rows``: stride 1, im2col along the first spatial dim only, then a shifted tap sum; on
    the input's own (*narrow*) grid for "same" zero padding. "auto" picks it for most stride-1
    2-D convs.
  - ``taps``: stride 1, a GEMM per kernel tap on shifted runs of the input; thin groups.
  - ``depthwise``: one input channel per group, any stride: a column matrix per channel (from
    the input's stride phases) and its product with the channel's taps.
  - ``winograd``: F(2, 3) for kernels of size 3, on request only.

- ``transposed``: ``conv_transpose_nd``, the col2im scatter of one GEMM.

Threads (``convcalc.kernels.threads``): with more than one, a call's chunks run on the thread
pool, cut so that each thread gets at least one (no chunk under ``least_chunk_bytes``), each
chunk with its thread's own scratch and BLAS single-threaded; a call too small to share runs
inline, its GEMM on BLAS's threads. One thread runs the chunks in a plain loop.
"""

from .dispatch import METHODS, Method, conv_nd, prepared_conv
from .padding import PADDING_MODES
from .scratch import release_scratch
from .transposed import conv_transpose_nd

__all__ = ["METHODS", "Method", "PADDING_MODES", "conv_nd", "conv_transpose_nd", "prepared_conv", "release_scratch"]
