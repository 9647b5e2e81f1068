"""Convolution and transposed convolution forward passes, written once for any number of dims.

``conv_nd`` computes what ``torch.nn.functional.conv{1,2,3}d`` computes (after ``F.pad`` for the
non-zero padding modes); ``conv_transpose_nd`` what ``F.conv_transpose{1,2,3}d`` computes. Both
take batched arrays (N, C, *spatial) and already-validated arguments.

Where things are:

- ``dispatch``: ``conv_nd`` itself, its argument checks, the choice of method for "auto"
  (``choose_method``) and the loop over chunks.
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
  - ``fma``: depthwise convs, a multiply-add per kernel tap.
  - ``winograd``: F(2, 3) for kernels of size 3, on request only.

- ``transposed``: ``conv_transpose_nd``, the col2im scatter of one GEMM.

BLAS uses every core in the GEMMs; NumPy's own passes run on one. (Python threads over
cache-sized chunks, or over halves of single big passes, were tried on the 2-core benchmark
machine: no faster, and slower under load, so the kernels stay single-threaded outside BLAS.
Two threads each running "rows" on half the channels of a depthwise conv took longer than one
thread doing both halves: their small GEMMs contend inside OpenBLAS and their passes share the
L3 cache.)
"""

from .dispatch import METHODS, Method, conv_nd
from .padding import PADDING_MODES
from .scratch import release_scratch
from .transposed import conv_transpose_nd

__all__ = ["METHODS", "Method", "PADDING_MODES", "conv_nd", "conv_transpose_nd", "release_scratch"]
