# Sourced by the other scripts (from the clone's root): which Python they install into and run
# with, and how they speak.
#
# That Python is a virtual environment's, never the system's: the one already active
# (VIRTUAL_ENV, or conda's CONDA_PREFIX), else the project's own .venv/, which setup.sh makes.

micrograd_python() {
    if [ -n "${VIRTUAL_ENV:-}" ]; then
        echo "$VIRTUAL_ENV/bin/python"
    elif [ -n "${CONDA_PREFIX:-}" ]; then
        echo "$CONDA_PREFIX/bin/python"
    else
        echo "$PWD/.venv/bin/python"
    fi
}

say() { echo "${0##*/}: $*" >&2; }
die() { say "$*"; exit 1; }
