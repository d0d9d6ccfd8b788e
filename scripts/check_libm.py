"""One-off check: micrograd.site.libm's log against this machine's C library (glibc's).

    PYTHONPATH=. python scripts/check_libm.py log 1000000

compares libm.log with math.log (glibc's, here) bit for bit on N arguments: uniform
exponents over the whole range, near 1 (the separate polynomial), subnormals, powers of two and
their neighbours, huge ones. Prints how many differ (and the first few). Not a test: the tests
(tests/test_lab_session.py) run a fixed-seed sample of tens of thousands and Hypothesis.
"""
import math
import random
import struct
import sys
import time

from micrograd.site import libm


def _from_bits(b):
    return struct.unpack("<d", struct.pack("<Q", b))[0]


def log_arguments(n, seed=20261204):
    r = random.Random(seed)
    share = n // 6
    xs = [_from_bits(r.getrandbits(63)) for _ in range(share)]        # any positive double
    xs = [x for x in xs if math.isfinite(x) and x > 0]
    xs += [1.0 + r.uniform(-0.07, 0.07) for _ in range(share)]         # near 1, both sides
    xs += [1.0 + r.uniform(-1, 1) * 2.0 ** -r.randint(5, 52) for _ in range(share)]
    xs += [_from_bits(r.randrange(1, 1 << 52)) for _ in range(share)]  # subnormals
    xs += [r.uniform(0.5, 2.0) * 2.0 ** r.randint(900, 1023) for _ in range(share // 2)]
    xs += [r.uniform(0, 20) for _ in range(share // 2)]
    for e in range(-1074, 1024):                                       # powers of two
        p = math.ldexp(1.0, e)
        xs += [p, math.nextafter(p, 0.0), math.nextafter(p, math.inf)]
    xs += [math.nextafter(x, math.inf) for x in (1.0 - 2.0 ** -4, 1.0 + float.fromhex("0x1.09p-4"))]
    xs += [x for x in (math.nextafter(1.0 - 2.0 ** -4, 0), float.fromhex("0x1.09p-4") + 1.0)]
    while len(xs) < n:
        xs.append(math.exp(r.uniform(-700, 700)))
    return [x for x in xs if math.isfinite(x) and x > 0]


def main():
    what, n = sys.argv[1], int(sys.argv[2])
    if what != "log":
        raise SystemExit("usage: check_libm.py log N")
    xs = log_arguments(n)
    start = time.perf_counter()
    bad = [x for x in xs if libm.log(x) != math.log(x)]
    print(f"log: {len(xs)} arguments, {len(bad)} differ from math.log "
          f"({time.perf_counter() - start:.0f} s, math.fma: {hasattr(math, 'fma')})")
    for x in bad[:10]:
        print(f"  {x.hex()}: {libm.log(x).hex()} vs {math.log(x).hex()}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
