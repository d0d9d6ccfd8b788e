#!/usr/bin/env bash
# Set up everything the tests need (scripts/setup.sh dev: Debian and Python packages), then run
# them with the environment's Python. Arguments go to pytest: `bash scripts/test.sh tests/test_nn.py`,
# or the fast tier: `bash scripts/test.sh -m "not slow and not browser"`
# (docs/testing.md). The tests run on every core (pytest-xdist; `auto` is one worker more than the
# cores, tests/conftest.py), a whole file per worker at a time, so that a file's Chromium,
# JupyterLab server and other fixtures start once; in the order tests/conftest.py gives (files
# with slow tests first), not xdist's biggest-file-first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
source scripts/env.sh
"$(micrograd_python)" -m pytest -q -n auto --dist loadfile --no-loadscope-reorder "$@"
