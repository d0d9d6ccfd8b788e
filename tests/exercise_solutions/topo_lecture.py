"""build_topo and backward as the lecture writes them (inside Value.backward), as functions
of micrograd's Value."""


def build_topo(root):
    topo = []
    visited = set()

    def build(v):
        if v not in visited:
            visited.add(v)
            for child in v._prev:
                build(child)
            topo.append(v)
    build(root)
    return topo


def backward(root):
    root.grad = 1.0
    for node in reversed(build_topo(root)):
        node._backward()
