"""Folders in states that are hard to reach by hand (tests/test_io.py, tests/test_cli.py)."""
import contextlib
import os
import shutil
import subprocess

import pytest


@contextlib.contextmanager
def read_only(folder):
    """A folder nobody can create files in: chmod for a user; root ignores permission bits,
    so for root the folder is made immutable (chattr +i, ext4 and most Linux filesystems)."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        undo = ["chmod", "755", str(folder)]
    else:
        if shutil.which("chattr") is None or \
                subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
            pytest.skip("cannot make a folder read-only for root here (no chattr +i)")
        undo = ["chattr", "-i", str(folder)]
    try:
        yield folder
    finally:
        subprocess.run(undo, check=True)
