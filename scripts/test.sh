#!/usr/bin/env bash
# Set up everything the tests need (scripts/setup.sh dev: Debian and Python packages), then run
# them with the environment's Python. Arguments go to pytest: `bash scripts/test.sh tests/test_nn.py`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
source scripts/env.sh
"$(micrograd_python)" -m pytest -q "$@"
