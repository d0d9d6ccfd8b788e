"""Building and loading the C kernels: the system's C compiler, a private per-user cache.

A kernel's source (cgen.py) is compiled once by `cc` (or `gcc`, or $CC) with
`-O2 -ffp-contract=off` (no contraction into fused multiply-adds, no -ffast-math: every
operation rounds where eager's does; see FLAGS) into a shared library, loaded with ctypes.
Libraries are cached by a hash of their source, the flags, the compiler's identity and the
CPU's, in
$MICROGRAD_CACHE_DIR, else $XDG_CACHE_HOME/micrograd/kernels, else ~/.cache/micrograd/kernels.
A library is loaded only from a directory that is ours and closed to everyone else (0700), and
only if the file is ours, a regular file and not writable by others: a library someone else
could have planted is never loaded. If the cache directory is not like that, kernels are built
in a private temporary directory instead.

No compiler (or a compiler that fails) is not an error: `CUnavailable` says why, and the
program runs on the numpy backend, with the same numbers.
"""
import ctypes
import hashlib
import os
import shutil
import stat
import subprocess
import tempfile
import threading

# -ffp-contract=off: no fused multiply-adds; no -ffast-math: no reassociation, IEEE semantics.
# -fno-builtin-pow: GCC rewrites pow(x, 2.0) as x*x and pow(x, -1.0) as 1/x, correctly rounded,
# where libm's pow (Python's x ** 2) is not, in the last bit, for about 1 x in 1000.
# -march=native and -funroll-loops only widen and unroll loops over independent elements (a
# sum keeps its order); the cache key names the CPU, so a library built for another machine's
# instructions is never loaded here.
FLAGS = ("-O2", "-march=native", "-funroll-loops", "-ffp-contract=off", "-fno-builtin-pow",
         "-std=c99", "-fPIC", "-shared")
_LOCK = threading.Lock()
_STATE = {}              # compiler path -> its identity; "tmpdir" -> a private fallback dir


class CUnavailable(Exception):
    """No C kernel for this program (no compiler, a failed build, ...): the message says why."""


def find_compiler():
    """The C compiler to use: $CC if set, else cc, else gcc, on PATH; None if there is none."""
    cc = os.environ.get("CC")
    for name in ([cc] if cc else ["cc", "gcc"]):
        path = shutil.which(name)
        if path:
            return path
    return None


def _identity(cc):
    with _LOCK:
        ident = _STATE.get(cc)
    if ident is None:
        try:
            r = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30,
                               check=False)
            ident = r.stdout.splitlines()[0] if r.returncode == 0 and r.stdout else cc
        except (OSError, subprocess.SubprocessError) as e:
            raise CUnavailable(f"the C compiler {cc} does not run ({e})") from None
        with _LOCK:
            _STATE[cc] = ident
    return ident


def _cpu():
    """The CPU's model and instruction sets (what -march=native compiles for)."""
    with _LOCK:
        cpu = _STATE.get("cpu")
    if cpu is None:
        import platform
        cpu = platform.machine()
        try:
            with open("/proc/cpuinfo") as f:
                info = f.read(65536)
            cpu += "".join(line for line in info.splitlines()
                           if line.startswith(("model name", "flags")))[:8192]
        except OSError:
            pass
        with _LOCK:
            _STATE["cpu"] = cpu
    return cpu


def _private(path):
    """Is `path` a directory (not a link) of ours that nobody else may write or read?"""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return (stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid()
            and not st.st_mode & 0o077)


def cache_dir():
    """The per-user cache directory (made 0700), or a private temporary one."""
    base = os.environ.get("MICROGRAD_CACHE_DIR")
    if not base:
        root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"),
                                                                 ".cache")
        base = os.path.join(root, "micrograd", "kernels")
    try:
        os.makedirs(base, mode=0o700, exist_ok=True)
    except OSError:
        pass
    if _private(base):
        return base
    with _LOCK:
        tmp = _STATE.get("tmpdir")
        if tmp is None or not _private(tmp):
            tmp = _STATE["tmpdir"] = tempfile.mkdtemp(prefix="micrograd-kernels-")
    return tmp


def _trusted(path):
    """A library file of ours, regular, that nobody else can write."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o022


def load(source, functions):
    """Compile `source` (or find it in the cache) and return {name: ctypes function} for
    `functions` ({name: number of pointer arguments}), each returning an int."""
    cc, folder, path = library_path(source)
    if not _trusted(path):
        _build(cc, source, folder, path)
    if not (_private(folder) and _trusted(path)):
        raise CUnavailable(f"{path} is not a private file of this user; not loaded")
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        raise CUnavailable(f"cannot load {path} ({e})") from None
    out = {}
    for name, nargs in functions.items():
        fn = getattr(lib, name)
        fn.argtypes = [ctypes.c_void_p] * nargs
        fn.restype = ctypes.c_int
        out[name] = fn
    out["_lib"] = lib
    out["_path"] = path
    return out


def library_path(source):
    """(compiler, cache folder, path of the library) for a kernel's source."""
    cc = find_compiler()
    if cc is None:
        raise CUnavailable("no C compiler found (cc, gcc or $CC on PATH)")
    key = hashlib.sha256("\0".join([_identity(cc), _cpu(), " ".join(FLAGS),
                                     source]).encode())
    folder = cache_dir()
    return cc, folder, os.path.join(folder, f"mg_{key.hexdigest()[:40]}.so")


def _build(cc, source, folder, path):
    """Compile into a temporary name in the cache folder, then rename: never half a file."""
    fd, c_path = tempfile.mkstemp(suffix=".c", dir=folder)
    so_tmp = c_path[:-2] + ".so"
    try:
        with os.fdopen(fd, "w") as f:
            f.write(source)
        try:
            r = subprocess.run([cc, *FLAGS, "-o", so_tmp, c_path, "-lm"],
                               capture_output=True, text=True, timeout=300, check=False)
        except (OSError, subprocess.SubprocessError) as e:
            raise CUnavailable(f"the C compiler {cc} failed to run ({e})") from None
        if r.returncode != 0:
            first = (r.stderr.strip().splitlines() or ["?"])[0]
            raise CUnavailable(f"the C compiler {cc} failed: {first}")
        os.chmod(so_tmp, 0o700)
        os.replace(so_tmp, path)
    finally:
        for p in (c_path, so_tmp):
            try:
                os.unlink(p)
            except OSError:
                pass


class Kernel:
    """A compiled kernel bound to its arrays: `kernel()` runs it, returns True on trouble
    (where eager would raise; the caller then asks the numpy backend)."""

    def __init__(self, source, name, tables, arrays):
        self.fn = load(source, {name: len(arrays) + 2})[name]
        self.I, self.D = tables.arrays()
        self.args = [a.ctypes.data for a in arrays] + [self.I.ctypes.data, self.D.ctypes.data]
        self.arrays = arrays          # kept alive: the kernel writes into them

    def __call__(self):
        return self.fn(*self.args) != 0
