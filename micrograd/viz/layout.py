"""The stepper's layout: layered, left to right, the root at the right (as Graphviz's
rankdir=LR draws it), computed in Python so that the page needs neither Graphviz nor a network.

A node's column is its longest distance from the root, mirrored (leaves drift right, next to
their use); each column's order starts depth-first from the root, then barycenter sweeps
reduce crossings and pull each card towards its neighbours (least squares under the order,
by pool-adjacent-violators). Work is linear in the graph per sweep; a big graph gets fewer.
"""

__all__ = ["layered_layout", "CARD_H", "MARGIN"]

BIG_LAYOUT = 3000     # above this many nodes the layout makes fewer passes

# pixels
CARD_H = 62
ROW_GAP = 22
COL_GAP = 56
OP_GAP = 18
MARGIN = 24


def _isotonic(targets):
    """Nondecreasing sequence closest (least squares) to `targets`: pool adjacent violators."""
    blocks = []                                   # [sum, count]
    for t in targets:
        blocks.append([t, 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            s, c = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += c
    out = []
    for s, c in blocks:
        out += [s / c] * c
    return out


def layered_layout(kids, parents, card_w, op_w):
    """(xs, ys, width, height): each node's card's top-left corner and the picture's size.
    kids[i], parents[i]: node i's inputs and users (indices, the root last); card_w[i] its
    card's width, op_w[i] its op pill's (0 for none)."""
    n = len(kids)
    # column: longest distance from the root, mirrored (leaves drift right, next to their use)
    dist = [0] * n
    for i in range(n - 1, -1, -1):                # parents before children
        for c in kids[i]:
            if dist[c] < dist[i] + 1:
                dist[c] = dist[i] + 1
    depth = max(dist)
    col = [depth - d for d in dist]
    # first order in each column: depth-first from the root, inputs in order (first on top)
    pre, seen, stack = [0] * n, [False] * n, [n - 1]
    k = 0
    while stack:
        i = stack.pop()
        if seen[i]:
            continue
        seen[i] = True
        pre[i] = k
        k += 1
        stack.extend(reversed(kids[i]))
    cols = [[] for _ in range(depth + 1)]
    for i in sorted(range(n), key=pre.__getitem__):
        cols[col[i]].append(i)
    slot = CARD_H + ROW_GAP
    y = [0.0] * n

    def stack_column(c):
        m = len(cols[c])
        for r, i in enumerate(cols[c]):
            y[i] = (r - (m - 1) / 2) * slot

    for c in range(len(cols)):
        stack_column(c)

    both = [parents[i] + list(kids[i]) for i in range(n)]
    neighbours = {"parents": parents, "kids": kids, "both": both}
    at = y.__getitem__

    def sweep(order_cols, which, reorder):
        near = neighbours[which]
        for c in order_cols:
            ids = cols[c]
            targets = [sum(map(at, near[i])) / len(near[i]) if near[i] else y[i] for i in ids]
            if reorder:                           # a stable sort: ties keep their order
                ranked = sorted(range(len(ids)), key=targets.__getitem__)
                cols[c] = [ids[r] for r in ranked]
                stack_column(c)
            else:
                z = _isotonic([t - r * slot for r, t in enumerate(targets)])
                for r, i in enumerate(ids):
                    y[i] = z[r] + r * slot

    right_to_left = list(range(len(cols) - 2, -1, -1))
    left_to_right = list(range(1, len(cols)))
    # A big graph gets fewer sweeps (the picture settles early, the time is linear in them).
    crossing, positions = (4, 6) if n <= BIG_LAYOUT else (2, 2)
    for _ in range(crossing):                     # crossing reduction: barycenters
        sweep(right_to_left, "parents", True)
        sweep(left_to_right, "kids", True)
    for _ in range(positions):                    # then positions: near the neighbours' mean
        sweep(right_to_left, "parents", False)
        sweep(left_to_right, "kids", False)
        sweep(range(len(cols)), "both", False)
    # x: columns side by side; each card has its op pill on its left
    xs = [0.0] * n
    x = MARGIN
    for c in range(len(cols)):
        ids = cols[c]
        pill = max((op_w[i] for i in ids if op_w[i]), default=0)
        left = x + (pill + OP_GAP if pill else 0)
        for i in ids:
            xs[i] = left
        x = left + max(card_w[i] for i in ids) + COL_GAP
    top = min(y) - CARD_H / 2
    ys = [yi - top - CARD_H / 2 + MARGIN for yi in y]
    width = x - COL_GAP + MARGIN
    height = max(ys) + CARD_H + MARGIN
    return xs, ys, width, height
