"""Bridges between micrograd models and other libraries.

Each bridge lives in its own submodule and imports its library only when you import it, so
`import micrograd.bridge` costs nothing:

    from micrograd.bridge.torch import to_torch, from_torch     # needs PyTorch
"""
