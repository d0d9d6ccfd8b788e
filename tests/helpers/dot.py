"""Graphviz input for the tests of `dot` being stopped (tests/test_viz_dot.py, also imported by
the scripts it runs in a subprocess)."""


def heavy_dot(n=20_000):
    """DOT text that keeps `dot` busy for minutes: many nodes, edges all over."""
    lines = [f"\tn{i} -> n{(i * 7919 + 13) % n}\n\tn{i} -> n{(i * 104729 + 7) % n}\n"
             for i in range(n)]
    return "digraph {\n" + "".join(lines) + "}\n"
