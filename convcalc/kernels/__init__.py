"""NumPy forward kernels: pure functions computing what torch.nn.functional computes."""
