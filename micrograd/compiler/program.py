"""One traced structure as a program: its value array, forward instructions, and one backward
program per output it is asked to differentiate (built on first use).

Backends: "c" (generated C, cgen.py, built by the system's C compiler, cbuild.py) where a
compiler is found and every operation has a C kernel, else "numpy" (forward.py, backward.py).
Both give eager's numbers bit for bit; where eager raises, the C kernel hands over to numpy,
which raises eager's error."""
import threading
import time
from operator import attrgetter

import numpy as np

from micrograd.compiler import cgen
from micrograd.compiler.backward import Backward
from micrograd.compiler.cbuild import CUnavailable, Kernel, find_compiler
from micrograd.compiler.errors import CompileError
from micrograd.compiler.forward import compile_forward, set_shapes
from micrograd.compiler.schedule import Slots, make_groups
from micrograd.compiler.trace import Graph

_getdata = attrgetter("data")


class Program:
    """graph (trace.Graph), groups (schedule.Group), the slots (schedule.Slots: `val`, `p0`,
    `np_`, `params`, ...), `fwd`: the numpy forward instructions (built when needed),
    `cfwd`: the C forward kernel (None on the numpy backend); `backend` is "c" or "numpy",
    `backend_note` why. `gen` counts the calls: a result may run backward only while it is
    the latest call's."""

    def __init__(self, out_values, tree, inputs, exact=True, lock=None, backend="auto"):
        self.tree = tree
        self.wanted = backend
        self.lock = lock or threading.RLock()     # the compiled function's: one call at a time
        self.exact = exact
        self.info = {"backward_compile_s": {}}
        self.gen = 0
        self._bwd = {}
        self.graph = graph = Graph(out_values, inputs)
        self.n_nodes, self.n_in = graph.n_nodes, graph.n_in
        # the ops' rows as traced: a row replaced later makes this program stale
        self.rows = [(r, r.forward, r.local_grads) for r in graph.ops]
        self.groups = make_groups(graph)
        # more groups than C pays for on one call: compiled only when asked (backend="c", a
        # program replayed many times), quickly (cbuild.QUICK_FLAGS), its forward in the
        # background while the backward is generated
        self.quick = len(self.groups) > cgen.MAX_GROUPS
        s = Slots(graph, self.groups, rows_first=self._c_wanted(backend))
        self.slots = s
        self.val, self.need, self.n_slots = s.val, s.need, s.n_slots
        self.p0, self.np_, self.params = s.p0, s.np_, s.params
        self.out_slots = s.out_slots
        set_shapes(self.groups)
        self.fwd = self.cfwd = None
        self.backend, self.backend_note = self._choose_backend(backend)
        if self.cfwd is None:
            self.numpy_forward()

    def _c_wanted(self, wanted):
        """Will the C backend be tried? (It lays the parameters out for its loops.)"""
        return (wanted != "numpy" and self.exact
                and cgen.supports(self.groups, wanted == "c")[0]
                and find_compiler() is not None)

    def _choose_backend(self, wanted):
        """("c", note) with self.cfwd built, or ("numpy", why); backend="c" insists."""
        if wanted == "numpy":
            return "numpy", "asked for"
        if not self.exact:
            why = "exact=False uses numpy's BLAS products and exp/log"
        else:
            ok, why = cgen.supports(self.groups, wanted == "c")
            if ok:
                try:
                    src, tables = cgen.forward_source(self.groups)
                    self.cfwd = Kernel(src, "fwd", tables, [self.val], quick=self.quick,
                                       background=self.quick)
                    return "c", "generated C"
                except (CUnavailable, OverflowError) as e:
                    why = str(e)
        if wanted == "c":
            raise CompileError(f"backend='c' is not available: {why}")
        return "numpy", why

    def _c_failed(self, why):
        """The forward's C kernel could not be built after all: numpy from now on (the same
        numbers), or CompileError if backend="c" was asked for."""
        self.cfwd = None
        self.backend, self.backend_note = "numpy", why
        self.info.update(backend="numpy", backend_note=why)
        if self.wanted == "c":
            raise CompileError(f"backend='c' is not available: {why}")

    def rows_current(self):
        """Are the ops' rows still those this program was made from?"""
        for r, f, df in self.rows:
            if r.forward is not f or r.local_grads is not df:
                return False
        return True

    def numpy_forward(self):
        """The numpy forward instructions (the numpy backend; the C one's fallback)."""
        if self.fwd is None:
            self.fwd = compile_forward(self.groups, self.val, self.exact)
        return self.fwd

    # --------------------------------------------------------------------------- replay ----
    def load(self, flat):
        """Copy the call's numbers and the parameters' current .data into the value array."""
        val = self.val
        self.put_inputs(flat)
        if self.np_:
            val[self.p0:self.p0 + self.np_] = np.fromiter(map(_getdata, self.params),
                                                           dtype=np.float64, count=self.np_)

    def put_inputs(self, flat):
        """The call's numbers into the first slots: one float64 array, or a list of them (in
        order) that fill the slots one after the other."""
        if isinstance(flat, list):
            val, o = self.val, 0
            for part in flat:
                n = part.shape[0]
                val[o:o + n] = part
                o += n
            return
        if flat.shape[0] != self.n_in:                    # pragma: no cover (key guards it)
            raise CompileError(f"expected {self.n_in} numbers, got {flat.shape[0]}")
        self.val[:self.n_in] = flat

    def forward(self):
        """Run the forward instructions; a new generation of results. Returns the outputs."""
        self.gen += 1
        if self.cfwd is not None and self.cfwd.fn is None and not self.cfwd.ready():
            self._c_failed(self.cfwd.failed)        # its build ran in the background
        if self.cfwd is None or self.cfwd():
            # numpy's forward; after the C kernel, where eager would raise: numpy raises
            # eager's error (or, if nothing fails there, gives the same numbers)
            with np.errstate(all="ignore"):
                for f in self.numpy_forward():
                    f()
        return self.val[self.out_slots].tolist()

    def run(self, flat):
        self.load(flat)
        return self.forward()

    def backward(self, k, gen):
        """Add d(output k)/d(p) into p.grad of every parameter, as eager's backward() does."""
        with self.lock:
            if gen != self.gen:
                raise RuntimeError("this Result comes from an earlier call of the compiled "
                                   "function, whose buffers have been reused by a later call "
                                   "with the same argument structure (in this thread or "
                                   "another); call backward() before calling it again")
            bwd = self.backward_program(k)
            with np.errstate(all="ignore"):
                bwd.run()

    def backward_program(self, k, fresh=False):
        """The backward program of output k (fresh: gradients from 0.0, see Backward), built
        on first use."""
        bwd = self._bwd.get((k, fresh))
        if bwd is None:
            t = time.perf_counter()
            bwd = self._bwd[(k, fresh)] = Backward(self, k, fresh)
            self.info["backward_compile_s"][k] = time.perf_counter() - t
        return bwd

    # ---------------------------------------------------------------------------- trace ----
    def check_against_trace(self):
        """Compare the replay's forward values with the traced ones, node by node."""
        slot, graph = self.slots.slot, self.graph
        alive = slot >= 0
        got = self.val[slot[alive]]
        want = graph.datas[alive]
        close = (got == want) if self.exact else np.isclose(got, want, rtol=1e-9, atol=0.0)
        same = close | (np.isnan(got) & np.isnan(want))
        if not same.all():
            i = int(np.flatnonzero(alive)[np.flatnonzero(~same)[0]])
            raise AssertionError(f"compiled forward differs from the trace at node {i} "
                                 f"({graph.order[i]._op}): {got[~same][0]!r} vs "
                                 f"{want[~same][0]!r}")

    def drop_trace(self):
        """Forget the traced Values (only the parameters are kept)."""
        self.graph.drop_trace()
