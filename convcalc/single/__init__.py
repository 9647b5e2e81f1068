"""One layer on its own: what the layer commands answer (``report``) and its forward pass on
made-up or file tensors (``run``), which ``explain`` also uses.
"""
