#!/usr/bin/env bash
# Set up micrograd with its extras, then run the main job: the original moons demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh all
python -m micrograd demo "$@"
