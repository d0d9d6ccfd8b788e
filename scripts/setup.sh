#!/usr/bin/env bash
# Install what micrograd needs. `setup.sh` installs the demo's needs; `setup.sh dev` adds the
# test tools: PyTorch (pinned), Graphviz's `dot`, and Chromium for the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-all}"
debs="graphviz"
[ "$extra" = dev ] && debs="$debs chromium fonts-dejavu-core"
missing=""
for p in $debs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
python -m pip install -q --disable-pip-version-check -e ".[$extra]"
