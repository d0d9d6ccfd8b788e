#!/usr/bin/env bash
# Install what micrograd needs: `setup.sh` (or `setup.sh all`) the demo's needs, `setup.sh dev`
# the test tools too. Two steps:
#  1. Debian packages: Graphviz's `dot`, plus Chromium and fonts for the browser tests with `dev`;
#     apt-get as root, sudo otherwise, one line saying what to install where neither is possible.
#  2. Python packages, into a virtual environment and never into the system's Python (Debian's
#     python3 is "externally managed", PEP 668): the one already active (VIRTUAL_ENV, or conda's
#     CONDA_PREFIX), else the project's own .venv/, made from python3 (else python) 3.10 or newer.
#     A stamp in the environment skips the install while pyproject.toml, the extra and the clone
#     are unchanged, so the second run of a script costs nothing.
#  3. With `dev`, Pyodide for the static site's tests, from the npm registry (cached).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
extra="${1:-all}"
grep -qE "^$extra = \[" pyproject.toml || die "no extra '$extra' in pyproject.toml (try: all, dev)"

as_root=()      # empty as root, (sudo) otherwise
apt_install() {  # quiet unless it fails
    "${as_root[@]}" apt-get update -qq
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

install_debian_packages() {
    local missing=() p
    if ! command -v dpkg >/dev/null; then
        say "not a Debian system: install $* with your package manager if they are missing"
        return
    fi
    for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return
    if [ "$(id -u)" -eq 0 ]; then
        apt_install "${missing[@]}"
    elif command -v sudo >/dev/null; then
        as_root=(sudo)
        apt_install "${missing[@]}"
    else
        say "cannot install ${missing[*]} (not root, no sudo): ask an admin for apt-get install ${missing[*]}"
    fi
}

find_python() {  # python3, else python, of version 3.10 or newer
    local name
    for name in python3 python; do
        if command -v "$name" >/dev/null &&
           "$name" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
            command -v "$name"
            return
        fi
    done
    die "no Python 3.10 or newer found (looked for python3, then python): install one"
}

ensure_venv_module() {  # Debian ships venv's ensurepip apart, in python3.X-venv
    local base=$1 pkg
    "$base" -c 'import ensurepip' 2>/dev/null && return
    pkg="python3.$("$base" -c 'import sys; print(sys.version_info[1])')-venv"
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        say "installing $pkg (Python's venv module) with apt-get"
        apt_install "$pkg"
        "$base" -c 'import ensurepip' 2>/dev/null || die "$pkg did not bring ensurepip to $base"
    else
        die "$base cannot make a virtual environment: install $pkg (sudo apt-get install $pkg), or activate a virtual environment and rerun"
    fi
}

make_project_venv() {  # .venv/ in the clone, reused while its Python runs and has pip
    .venv/bin/python -c 'import pip' 2>/dev/null && return
    local base
    base=$(find_python)
    ensure_venv_module "$base"
    say "making .venv/ with $base ($("$base" --version 2>&1))"
    "$base" -m venv --clear .venv
}

refuse_externally_managed() {  # PEP 668's marker counts only outside a virtual environment
    "$1" -c '
import os, sys, sysconfig
in_env = sys.prefix != sys.base_prefix or os.path.isdir(os.path.join(sys.prefix, "conda-meta"))
marked = os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"))
sys.exit(marked and not in_env)' ||
        die "$1 is an externally managed Python (PEP 668), not a virtual environment's: deactivate it (unset VIRTUAL_ENV CONDA_PREFIX) and rerun to use .venv/"
}

debs=(graphviz)
[ "$extra" = dev ] && debs+=(chromium fonts-dejavu-core)
install_debian_packages "${debs[@]}"

[ -n "${VIRTUAL_ENV:-}${CONDA_PREFIX:-}" ] || make_project_venv
py=$(micrograd_python)
[ -x "$py" ] || die "the active environment has no $py: deactivate it, or recreate it"
refuse_externally_managed "$py"

# 3. With `dev`: Pyodide for the static site (micrograd site, tests/test_site.py), the release
#    pinned in micrograd/site/pyodide_dist.py, from the npm registry once; later runs find it in
#    the cache (~/.cache/micrograd) and cost nothing.
fetch_pyodide() {
    [ -f micrograd/site/pyodide_dist.py ] || return 0
    command -v npm >/dev/null || install_debian_packages npm
    PYTHONPATH="$PWD" "$py" -c 'from micrograd.site.pyodide_dist import main; main()' >/dev/null
}
if [ "$extra" = dev ]; then fetch_pyodide; fi

# "dev" holds every other extra, so an environment set up for it is current for any extra.
prefix=$(dirname "$(dirname "$py")")
wanted="$(cksum < pyproject.toml) $PWD"
case "$(cat "$prefix/.micrograd-setup" 2>/dev/null)" in
    "$wanted $extra" | "$wanted dev") exit 0 ;;
esac
say "installing micrograd[$extra] into $prefix"
"$py" -m pip install -q --disable-pip-version-check -e ".[$extra]"
# Jupyter's kernel "python3" (which nbclient runs) must be this environment's Python.
if "$py" -c 'import ipykernel' 2>/dev/null; then
    "$py" -m ipykernel install --sys-prefix --name python3 >/dev/null
fi
echo "$wanted $extra" > "$prefix/.micrograd-setup"
if [ "$prefix" = "$PWD/.venv" ]; then
    say "the micrograd command is .venv/bin/micrograd (or: source .venv/bin/activate; micrograd)"
fi
