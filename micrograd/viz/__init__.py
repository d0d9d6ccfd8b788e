"""Pictures of the graph: Graphviz drawings (draw_dot, render) and the backprop stepper.

    from micrograd.viz import draw_dot, render, write_stepper
    draw_dot(L)                      # shows inline in Jupyter (needs the graphviz package)
    render(L, "L.svg")               # svg/png/pdf through Graphviz's `dot` program
    write_stepper(L, "L.html")       # one self-contained page: step through backward()
    show_stepper(L)                  # the same page inline in a notebook

Importing this package needs nothing beyond the standard library: the graphviz package is
imported by draw_dot when it is called, and the stepper and dot_source need neither it nor
Graphviz's `dot` program.
"""
from micrograd.viz.dot import (GraphvizNotFound, INSTALL_HINT, RenderTimeout, dot_available,
                               dot_source, draw_dot, render)
from micrograd.viz.notebook import show_stepper
from micrograd.viz.stepper import stepper_data, stepper_html, write_stepper

__all__ = ["draw_dot", "dot_source", "render", "dot_available", "GraphvizNotFound",
           "RenderTimeout", "INSTALL_HINT", "stepper_html", "write_stepper", "stepper_data",
           "show_stepper"]
