"""Tensors for the forward pass, one responsibility a module; import the one you need.

- ``fill``: fill rules (``--fill``), random generators, made-up tensors and parameters
  with torch's default initialisation.
- ``files``: input tensors and state_dict weights read from .npy, .npz, text/CSV and images.
- ``params``: state_dict arrays checked against the shapes a layer or network expects.
- ``memory``: memory sizes (``--max-memory``), estimates, and the limit check.
- ``save``: arrays written to .npy/.npz atomically.
- ``arrays``: the float dtypes of the forward pass, array summaries, and arrays as JSON.

Every submodule is pure: none prints; warnings a user should see (integers converted, NaN
found) are returned with the result for the caller to show. This ``__init__`` imports nothing,
so ``params`` stays free of NumPy while the others import it at module level (only
forward-pass paths import them).
"""
