#!/usr/bin/env bash
# Open the lecture's notebooks in JupyterLab, in the project's environment, as a user or as root.
# You work on copies in out/notebooks/ (made on the first run, never overwritten), so running and
# saving cells leaves the clone's `git status` clean; delete a copy to get the original back.
# Arguments go to `jupyter lab` (e.g. --no-browser, --port 8890).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh jupyter
source scripts/env.sh
mkdir -p out/notebooks
for nb in notebooks/*.ipynb; do
    [ -e "out/notebooks/${nb##*/}" ] || cp "$nb" out/notebooks/
done
as_root=()      # jupyter refuses to run as root unless told
[ "$(id -u)" -eq 0 ] && as_root=(--allow-root)
exec "$(micrograd_python)" -m jupyterlab "${as_root[@]}" --notebook-dir=out/notebooks "$@"
