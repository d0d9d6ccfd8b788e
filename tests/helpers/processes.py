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
