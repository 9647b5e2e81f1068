"""NumPy forward kernels: pure functions on arrays, imported only on the forward path.

Each kernel takes batched arrays (N, C, *spatial) and explicit, already-validated layer
arguments, and computes what the matching ``torch.nn.functional`` call computes. The layer
classes check configurations and shapes; the kernels assume they are valid.
"""
