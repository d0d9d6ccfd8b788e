"""The lecture's numerical check, for the stepper: nudge one leaf by h, re-evaluate, rise over run.

One leaf's nudge recomputes only the leaf's cone (the nodes downstream of it), so it costs at
most one forward pass. Every leaf's nudge up front would cost a forward pass per leaf: on a deep
graph (a chain of N steps `v = v*0.999 + w`, every leaf's cone reaching the root) that is
quadratic, 18 million node visits for 12k nodes. So the page gets checks within a budget of node
visits (NUDGE_BUDGET), the leaves nearest the root first (their cones are the small ones); the
rest are marked pending and computed one at a time where a learner asks (`nudge_check`: one
leaf, linear in the graph). Total work up front: linear in the graph plus the budget.

The graph is given as the stepper indexes it: nodes in topological order (the root last), each
node's `kids` and `parents` as indices, the `rules` (the Op that made it, None for a leaf or a
hand-made node, which keeps its data), the `data`.
"""
import heapq
import math
from collections import deque

__all__ = ["NUDGE_BUDGET", "nudge_checks", "nudge_check", "nudged_roots", "Budget", "OverBudget"]

# Node visits (each: two forward evaluations of one op) spent on checks up front: about a
# second here. A graph whose every cone fits (the lecture's examples, an MLP's loss of a few
# points) is checked whole.
NUDGE_BUDGET = 400_000


class OverBudget(Exception):
    """A nudge would need more node visits than its budget has left."""


class Budget:
    """Node visits left to spend (None: no limit), and those spent; every nudge draws on it,
    failed ones too."""

    def __init__(self, visits=None):
        self.left, self.spent = visits, 0

    def spend(self):
        if self.left is not None:
            if self.left <= 0:
                raise OverBudget
            self.left -= 1
        self.spent += 1


def nudged_roots(parents, kids, rules, data, leaf, h, budget=None):
    """(root's data with the leaf moved up by h, moved down by h). Only what changes is
    recomputed: the leaf's users, then theirs, in topological order, stopping wherever a
    node's value comes out the same both ways (a dead ReLU, a sum that rounds back). Both
    nudges go in one pass. Each node recomputed spends a visit of `budget` (a Budget)."""
    up, down = {leaf: data[leaf] + h}, {leaf: data[leaf] - h}
    pop, push = heapq.heappop, heapq.heappush
    heap = sorted(set(parents[leaf]))
    queued = set(heap)
    spend = budget.spend if budget is not None else None
    while heap:
        i = pop(heap)
        rule = rules[i]
        if rule is None:                              # no Op to recompute it by: it stays
            continue
        if spend is not None:
            spend()
        u = rule.forward(*[up.get(c, data[c]) for c in kids[i]])
        d = rule.forward(*[down.get(c, data[c]) for c in kids[i]])
        same = data[i]
        if u != same or u != u:                       # changed (NaN always counts as changed)
            up[i] = u
        if d != same or d != d:
            down[i] = d
        if i in up or i in down:
            for p in parents[i]:
                if p not in queued:
                    queued.add(p)
                    push(heap, p)
    root = len(data) - 1
    return up.get(root, data[root]), down.get(root, data[root])


def _numeric(parents, kids, rules, data, leaf, h, budget=None):
    """The numerical derivative of the root by this leaf, or None where the nudge fails (a
    domain edge, an overflow). OverBudget passes through."""
    try:
        up, down = nudged_roots(parents, kids, rules, data, leaf, h, budget)
        numeric = (up - down) / (2 * h)
    except (ValueError, ZeroDivisionError, OverflowError, TypeError):
        return None
    return numeric if math.isfinite(numeric) else None


def _row(leaf, numeric, grad, fmt):
    ok = numeric is not None and math.isfinite(grad) and \
        abs(numeric - grad) <= 1e-4 + 1e-3 * abs(grad)
    return {"node": leaf, "numeric": "n/a" if numeric is None else fmt % numeric,
            "numericFull": "n/a" if numeric is None else repr(numeric),
            "grad": fmt % grad, "ok": ok}


def nudge_check(parents, kids, rules, data, grads, leaf, h, fmt="%.4f"):
    """One leaf's check row: {"node", "numeric", "numericFull", "grad", "ok"} (one nudge,
    at most a forward pass)."""
    return _row(leaf, _numeric(parents, kids, rules, data, leaf, h), grads[leaf], fmt)


def _nearest_first(kids, leaves):
    """The leaves by their shortest distance from the root (breadth first from it), ties in
    topological order."""
    n = len(kids)
    dist = [-1] * n
    dist[n - 1] = 0
    queue = deque([n - 1])
    while queue:
        i = queue.popleft()
        for c in kids[i]:
            if dist[c] < 0:
                dist[c] = dist[i] + 1
                queue.append(c)
    return sorted(leaves, key=lambda i: (dist[i], i))


def nudge_checks(parents, kids, rules, data, grads, h, budget=NUDGE_BUDGET, fmt="%.4f"):
    """(check rows for every leaf in topological order, node visits spent). Leaves are checked
    nearest the root first while the budget lasts (None: every leaf, however long it takes);
    a row it did not reach has "pending": True and empty numbers (nudge_check computes it)."""
    leaves = [i for i in range(len(kids)) if not kids[i]]
    rows, left = {}, Budget(budget)
    for leaf in _nearest_first(kids, leaves):
        try:
            if left.left is not None and left.left <= 0:
                raise OverBudget
            rows[leaf] = _row(leaf, _numeric(parents, kids, rules, data, leaf, h, left),
                              grads[leaf], fmt)
        except OverBudget:
            left.left = 0
            rows[leaf] = {"node": leaf, "numeric": "", "numericFull": "",
                          "grad": fmt % grads[leaf], "ok": False, "pending": True}
    return [rows[i] for i in leaves], left.spent
