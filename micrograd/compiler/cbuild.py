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

A big program (more groups than cgen.MAX_GROUPS, compiled on request) is built at -Og
(QUICK_FLAGS), possibly in the background (`start`, then `load(..., build=...)` or
`Kernel(..., background=True)`), and a source cut into translation units (UNIT_MARK) is
compiled one C compiler per unit at once, then linked. Builds happen in a private temporary
folder inside the cache folder; only a finished library is renamed into place.

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
# A big program (more groups than cgen.MAX_GROUPS, compiled because it is replayed many times,
# as a GPT's training step) is built at -Og: about a seventh of -O2's compile time for about
# twice its run time, the better bargain over a thousand steps. The same bits: no optimization
# level changes IEEE semantics without -ffast-math.
QUICK_FLAGS = ("-Og",) + FLAGS[1:2] + FLAGS[3:]
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


def load(source, functions, quick=False, build=None):
    """Compile `source` (or find it in the cache) and return {name: ctypes function} for
    `functions` ({name: number of pointer arguments}), each returning an int. quick: built
    with QUICK_FLAGS. build: a started build (`start`) of this source, to wait for."""
    flags = QUICK_FLAGS if quick else FLAGS
    cc, folder, path = library_path(source, flags)
    if build is not None:
        build.wait()
    if not _trusted(path):
        _build(cc, source, folder, path, flags)
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


def library_path(source, flags=FLAGS):
    """(compiler, cache folder, path of the library) for a kernel's source."""
    cc = find_compiler()
    if cc is None:
        raise CUnavailable("no C compiler found (cc, gcc or $CC on PATH)")
    key = hashlib.sha256("\0".join([_identity(cc), _cpu(), " ".join(flags),
                                     source]).encode())
    folder = cache_dir()
    return cc, folder, os.path.join(folder, f"mg_{key.hexdigest()[:40]}.so")


def _build(cc, source, folder, path, flags=FLAGS):
    """Compile into a temporary name in the cache folder, then rename: never half a file."""
    _Build(cc, source, folder, path, flags).wait(raise_errors=True)


# Between the translation units of one library's source (cgen cuts a big program's kernel so):
# they are compiled at once, one C compiler each, then linked.
UNIT_MARK = "\n/* micrograd: next translation unit */\n"


class _Build:
    """A running build of one library (the C compiler as child processes, one per translation
    unit of the source, then a link): `wait()`."""

    def __init__(self, cc, source, folder, path, flags):
        self.cc, self.path, self.flags, self.error = cc, path, flags, None
        self.work = tempfile.mkdtemp(prefix="build-", dir=folder)
        self.so_tmp = os.path.join(self.work, "lib.so")
        self.procs, self.objects = [], []
        units = source.split(UNIT_MARK)
        try:
            for k, unit in enumerate(units):
                c_path = os.path.join(self.work, f"u{k}.c")
                with open(c_path, "w") as f:
                    f.write(unit)
                if len(units) == 1:         # one unit: compile and link in one go
                    cmd = [cc, *flags, "-o", self.so_tmp, c_path, "-lm"]
                else:
                    obj = os.path.join(self.work, f"u{k}.o")
                    self.objects.append(obj)
                    cmd = [cc, *[f for f in flags if f != "-shared"], "-c", "-o", obj, c_path]
                self.procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                                   stderr=subprocess.PIPE, text=True))
        except OSError as e:
            self.error = f"the C compiler {cc} failed to run ({e})"
            self._stop()

    def wait(self, raise_errors=False):
        """Wait for the build; put the library in place. CUnavailable if asked to raise."""
        if self.procs:
            procs, self.procs = self.procs, []
            try:
                for proc in procs:
                    _, err = proc.communicate(timeout=300)
                    if proc.returncode != 0 and self.error is None:
                        first = (err.strip().splitlines() or ["?"])[0]
                        self.error = f"the C compiler {self.cc} failed: {first}"
                if self.error is None and self.objects:
                    r = subprocess.run([self.cc, *self.flags, "-o", self.so_tmp,
                                        *self.objects, "-lm"], capture_output=True, text=True,
                                       timeout=300, check=False)
                    if r.returncode != 0:
                        first = (r.stderr.strip().splitlines() or ["?"])[0]
                        self.error = f"the C compiler {self.cc} failed: {first}"
                if self.error is None:
                    os.chmod(self.so_tmp, 0o700)
                    os.replace(self.so_tmp, self.path)
            except (OSError, subprocess.SubprocessError) as e:
                self.error = f"the C compiler {self.cc} failed to run ({e})"
                self.procs = procs
                self._stop()
            finally:
                shutil.rmtree(self.work, ignore_errors=True)
        if self.error and raise_errors:
            raise CUnavailable(self.error)

    def _stop(self):
        for proc in self.procs:
            proc.kill()
            proc.wait()
        self.procs = []
        shutil.rmtree(self.work, ignore_errors=True)

    def __del__(self):          # never waited for (its program dropped): finish, tidy up
        try:
            self.wait()
        except Exception:           # pragma: no cover (interpreter shutdown)
            pass


def start(source, quick=False):
    """Start building `source` in the background (a child process) unless it is cached:
    a handle for load(..., build=handle), or None."""
    flags = QUICK_FLAGS if quick else FLAGS
    cc, folder, path = library_path(source, flags)
    if _trusted(path):
        return None
    return _Build(cc, source, folder, path, flags)


class Kernel:
    """A compiled kernel bound to its arrays: `kernel()` runs it, returns True on trouble
    (where eager would raise; the caller then asks the numpy backend).

    background=True: the C compiler runs while Python goes on (a big program's forward
    builds while its backward is generated and built); the first call waits for it, and if
    the build failed, every call returns True (the numpy backend then runs, same numbers)."""

    def __init__(self, source, name, tables, arrays, quick=False, background=False):
        self.name, self.nargs, self.quick = name, len(arrays) + 2, quick
        self.I, self.D = tables.arrays()
        self.args = [a.ctypes.data for a in arrays] + [self.I.ctypes.data, self.D.ctypes.data]
        self.arrays = arrays          # kept alive: the kernel writes into them
        self.fn = None
        self.failed = None            # why a background build failed
        if background:
            self._pending = (source, start(source, quick))
        else:
            self._pending = None
            self.fn = load(source, {name: self.nargs}, quick)[name]

    def ready(self):
        """Wait for a background build: True if the kernel can run."""
        if self._pending is not None:
            (source, build), self._pending = self._pending, None
            try:
                self.fn = load(source, {self.name: self.nargs}, self.quick, build)[self.name]
            except CUnavailable as e:
                self.failed = str(e)
        return self.fn is not None

    def __call__(self):
        if self.fn is None and not self.ready():
            return True
        return self.fn(*self.args) != 0
