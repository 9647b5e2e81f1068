"""The teaching cores, as plain data: ``explain`` (one output element taken apart), ``solve``
(which kernel, stride, padding and dilation map one size to another) and ``show`` (the frames
of a sliding window).
"""
