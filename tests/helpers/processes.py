"""Commands run as a person runs them: a real process, a real Ctrl-C."""
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def ctrl_c_after(args, marker=b"loss=", times=1, timeout=120):
    """Run `python -m micrograd ARGS`, press Ctrl-C (SIGINT) once its stderr has shown `marker`
    `times` times (a progress bar's loss: training has begun), and return (returncode, stderr)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "micrograd", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err, deadline = b"", time.monotonic() + timeout
    try:
        while err.count(marker) < times and time.monotonic() < deadline:
            if select.select([proc.stderr], [], [], 1.0)[0]:
                chunk = os.read(proc.stderr.fileno(), 4096)
                if not chunk:
                    break
                err += chunk
        assert marker in err, err.decode()
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, (err + rest).decode()


def ctrl_c_once_running(args, delay):
    """Run `python -m micrograd ARGS` and press Ctrl-C `delay` seconds after its command code
    starts (the first micrograd.cli module imported: -X importtime says so on stderr); return
    (returncode, stdout, stderr without the import-time lines)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-X", "importtime", "-m", "micrograd",
                             *map(str, args)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        if "micrograd.cli" in line:
            break
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    err = "".join(line + "\n" for line in err.splitlines() if not line.startswith("import time:"))
    return proc.returncode, out, err
