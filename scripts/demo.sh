#!/usr/bin/env bash
# Set up micrograd with its extras (scripts/setup.sh), then run the main job, the original moons
# demo, with the environment's Python. Arguments go to `micrograd demo` (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh all
source scripts/env.sh
"$(micrograd_python)" -m micrograd demo "$@"
