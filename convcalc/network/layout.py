"""Where a tensor's elements sit in its memory, as torch lays them out: strides, in elements.

A forward's values do not depend on it, but whether torch accepts ``x.view(...)``, and whether
``reshape``, ``flatten`` and ``contiguous()`` return a view or a copy, does: a later in-place
write reaches the tensor it was taken from only through a view. Every new tensor of a forward
whose inputs are contiguous is contiguous; a view's strides follow from its input's. Past a
layer or an element-wise operation on a non-contiguous tensor the strides are not followed
(``None``): torch keeps some inputs' memory order there, which convcalc does not model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Strides = tuple[int, ...]


def contiguous_strides(shape: Sequence[int]) -> Strides:
    """The strides of a contiguous tensor of ``shape`` (row-major; a size-0 dim counts as 1).

    >>> contiguous_strides((2, 3, 4))
    (12, 4, 1)
    """
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def is_contiguous(shape: Sequence[int], strides: Strides) -> bool:
    """torch's ``is_contiguous()``: row-major, size-1 dims placed anywhere.

    >>> is_contiguous((2, 3), (3, 1)), is_contiguous((3, 2), (1, 3)), is_contiguous((1, 3), (7, 1))
    (True, False, True)
    """
    if 0 in shape:
        return True
    expected = 1
    for size, stride in zip(reversed(shape), reversed(strides)):
        if size != 1:
            if stride != expected:
                return False
            expected *= size
    return True


def view_strides(shape: Sequence[int], strides: Strides, new_shape: Sequence[int]) -> Strides | None:
    """The strides ``x.view(new_shape)`` gives a tensor of ``shape`` and ``strides``, or None
    where torch cannot view it so (a dim of the new shape would span two runs of memory that
    are not one after the other): ``view`` then raises and ``reshape`` copies. Each run of dims
    that is contiguous within itself may be regrouped freely.

    >>> view_strides((4, 6), (6, 1), (2, 12))
    (12, 1)
    >>> view_strides((4, 6), (1, 4), (24,)) is None  # a transposed tensor
    True
    >>> view_strides((4, 6), (1, 4), (4, 2, 3))  # its last dim split: still a view
    (1, 12, 4)
    """
    if not shape:
        return (1,) * len(new_shape)
    if 0 in shape:
        return tuple(strides) if tuple(shape) == tuple(new_shape) else contiguous_strides(new_shape)
    new_strides = [0] * len(new_shape)
    view_dim = len(new_shape) - 1
    base_stride = strides[-1]  # the stride of the run of dims being matched
    run_numel = view_numel = 1
    for dim in range(len(shape) - 1, -1, -1):
        run_numel *= shape[dim]
        if dim == 0 or (shape[dim - 1] != 1 and strides[dim - 1] != run_numel * base_stride):
            while view_dim >= 0 and (view_numel < run_numel or new_shape[view_dim] == 1):
                new_strides[view_dim] = view_numel * base_stride
                view_numel *= new_shape[view_dim]
                view_dim -= 1
            if view_numel != run_numel:
                return None
            if dim > 0:
                base_stride, run_numel, view_numel = strides[dim - 1], 1, 1
    return tuple(new_strides) if view_dim == -1 else None


def probed_strides(shape: Sequence[int], strides: Strides, view: Callable[[Any], Any]) -> Strides:
    """The strides of ``view(x)`` for a NumPy ``view`` that only rearranges ``x``'s strides
    (a transpose, a slice, basic indexing, a broadcast), computed on a stand-in of one byte per
    element that is never read.

    >>> probed_strides((4, 6), (6, 1), lambda x: x[:, ::2].T)
    (2, 6)
    """
    import numpy as np

    stand_in = np.lib.stride_tricks.as_strided(np.zeros(1, np.int8), tuple(shape), tuple(strides))
    return tuple(int(stride) for stride in view(stand_in).strides)
