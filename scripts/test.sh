#!/usr/bin/env bash
# Set up everything the tests need on a fresh machine (Debian packages, Python packages), then run them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
python -m pytest -q
