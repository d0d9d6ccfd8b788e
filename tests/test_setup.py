"""The setup scripts' decisions, quickly: which Python they install into, when they make or reuse
.venv/, what they say when they cannot. Each test runs the real scripts in a copy of the clone
with a PATH of stub programs that record how they were called (dpkg, apt-get, sudo, id, a
`python3` that makes environments whose pip only records). The real install, on a fresh clone,
is .ci/run's job."""
import inspect
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
import tomllib
import venv

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
TOOLS = ["bash", "cat", "dirname", "cksum", "grep", "env"]   # what the scripts use from the system
MINOR = sys.version_info[1]
PYTHON = shlex.quote(sys.executable)

# pip in every environment the tests make: it only records its arguments.
FAKE_PIP = ('import os, sys\nline = " ".join(["pip", sys.executable, *sys.argv[1:]])\n'
            'open(os.environ["SETUP_LOG"], "a").write(line + "\\n")\n')


def make_env(prefix):
    """A real virtual environment whose pip only records."""
    venv.create(prefix, clear=True, with_pip=False, symlinks=True)
    site = next(pathlib.Path(prefix).glob("lib/python3*/site-packages"))
    (site / "pip").mkdir()
    (site / "pip" / "__init__.py").write_text("")
    (site / "pip" / "__main__.py").write_text(FAKE_PIP)
    return pathlib.Path(prefix)


def stub(bin_dir, name, body):
    path = bin_dir / name
    path.write_text("#!/bin/bash\n" + f'echo "{name} $*" >> "$SETUP_LOG"\n' + textwrap.dedent(body))
    path.chmod(0o755)


class Machine:
    """A copy of the clone's scripts and pyproject.toml, and a PATH of stubs to run them with."""

    def __init__(self, tmp_path):
        self.clone = tmp_path / "clone"
        shutil.copytree(ROOT / "scripts", self.clone / "scripts")
        shutil.copy(ROOT / "pyproject.toml", self.clone)
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        for tool in TOOLS:
            (self.bin / tool).symlink_to(shutil.which(tool))
        self.state = tmp_path / "state"       # what stubs remember between calls
        self.state.mkdir()
        self.log = tmp_path / "log"
        self.env = {"PATH": str(self.bin), "HOME": str(tmp_path), "SETUP_LOG": str(self.log),
                    "STATE": str(self.state), "STUB_UID": "1000"}
        stub(self.bin, "id", 'echo "$STUB_UID"\n')
        stub(self.bin, "dpkg", '[ ! -e "$STATE/missing-$2" ]\n')   # dpkg -s NAME
        stub(self.bin, "apt-get", """
            [ "$1" = install ] && [ "${!#}" = python3.%d-venv ] && : > "$STATE/venv-module"
            true
            """ % MINOR)
        (self.bin / "make_env.py").write_text(
            f"import pathlib, sys, venv\nFAKE_PIP = {FAKE_PIP!r}\n{inspect.getsource(make_env)}"
            "make_env(sys.argv[-1])\n")

    def python(self, name="python3", old=False, no_venv_module=False):
        """A `python` on PATH: this interpreter, except that `-m venv` makes an environment whose
        pip only records; optionally too old, or without Debian's venv module."""
        stub(self.bin, name, f"""
            case "$*" in
                *version_info\\ \\<*) {"exit 1" if old else "true"} ;;
                *"import ensurepip"*) {'[ -e "$STATE/venv-module" ]' if no_venv_module else "true"} ;;
            esac || exit 1
            [ "$1 $2" = "-m venv" ] && exec {PYTHON} "$(dirname "$0")/make_env.py" "${{!#}}"
            exec {PYTHON} "$@"
            """)
        return str(self.bin / name)

    def missing(self, *packages):
        for p in packages:
            (self.state / f"missing-{p}").touch()

    def run(self, script="setup.sh", *args, **env):
        result = subprocess.run(["bash", f"scripts/{script}", *args], cwd=self.clone,
                                env={**self.env, **env}, capture_output=True, text=True)
        self.calls = self.log.read_text().splitlines() if self.log.exists() else []
        self.log.unlink(missing_ok=True)
        return result

    def pip_installs(self):
        return [c for c in self.calls if c.startswith("pip ")]


@pytest.fixture
def machine(tmp_path):
    return Machine(tmp_path)


def test_an_active_venv_is_used_and_no_project_venv_made(machine, tmp_path):
    machine.python()
    env = make_env(tmp_path / "active")
    r = machine.run("setup.sh", VIRTUAL_ENV=str(env))
    assert r.returncode == 0, r.stderr
    assert machine.pip_installs() == [
        f"pip {env}/bin/python install -q --disable-pip-version-check -e .[all]"]
    assert not any(c.startswith("python3 ") for c in machine.calls)
    assert not (machine.clone / ".venv").exists()
    assert r.stderr == f"setup.sh: installing micrograd[all] into {env}\n"


def test_an_active_conda_env_is_used(machine, tmp_path):
    env = make_env(tmp_path / "conda")
    r = machine.run("setup.sh", "dev", CONDA_PREFIX=str(env))
    assert r.returncode == 0, r.stderr
    assert machine.pip_installs() == [
        f"pip {env}/bin/python install -q --disable-pip-version-check -e .[dev]"]


def test_the_project_venv_is_made_from_python3_and_the_system_python_never_installs(machine):
    python3 = machine.python()
    r = machine.run("setup.sh")
    assert r.returncode == 0, r.stderr
    venv_python = machine.clone / ".venv" / "bin" / "python"
    assert "python3 -m venv --clear .venv" in machine.calls
    assert machine.pip_installs() == [
        f"pip {venv_python} install -q --disable-pip-version-check -e .[all]"]
    assert not any(c.startswith("python3 -m pip") for c in machine.calls)
    assert r.stderr.splitlines() == [
        f"setup.sh: making .venv/ with {python3} (Python {sys.version.split()[0]})",
        f"setup.sh: installing micrograd[all] into {machine.clone}/.venv",
        "setup.sh: the micrograd command is .venv/bin/micrograd (or: source .venv/bin/activate; micrograd)"]


def test_the_project_venv_is_reused_while_pyproject_and_extra_are_unchanged(machine):
    machine.python()
    assert machine.run("setup.sh", "dev").returncode == 0
    assert len(machine.pip_installs()) == 1
    r = machine.run("setup.sh", "dev")
    assert (r.returncode, r.stderr) == (0, "")
    assert machine.pip_installs() == [] and not any("-m venv" in c for c in machine.calls)
    machine.run("setup.sh", "all")                   # dev holds all: still current
    assert machine.pip_installs() == []
    with open(machine.clone / "pyproject.toml", "a") as f:
        f.write("\n# changed\n")
    machine.run("setup.sh", "all")
    assert [c.split()[-1] for c in machine.pip_installs()] == [".[all]"]
    assert not any("-m venv" in c for c in machine.calls)     # the environment itself is kept
    machine.run("setup.sh", "dev")                   # all does not hold dev
    assert [c.split()[-1] for c in machine.pip_installs()] == [".[dev]"]


def test_a_project_venv_without_pip_is_made_again(machine):
    machine.python()
    machine.run("setup.sh")
    shutil.rmtree(next((machine.clone / ".venv").glob("lib/python3*/site-packages/pip")))
    machine.run("setup.sh")
    assert "python3 -m venv --clear .venv" in machine.calls
    assert len(machine.pip_installs()) == 1


def test_python_is_the_fallback_for_a_missing_or_old_python3(machine):
    machine.python("python")
    r = machine.run("setup.sh")
    assert r.returncode == 0, r.stderr
    assert "python -m venv --clear .venv" in machine.calls
    shutil.rmtree(machine.clone / ".venv")
    machine.python("python3", old=True)
    r = machine.run("setup.sh")
    assert r.returncode == 0, r.stderr
    assert "python -m venv --clear .venv" in machine.calls
    assert not any(c.startswith("python3 -m") for c in machine.calls)


def test_no_python_at_all_is_one_line(machine):
    machine.python("python3", old=True)
    r = machine.run("setup.sh")
    assert r.returncode == 1
    assert r.stderr == ("setup.sh: no Python 3.10 or newer found (looked for python3, then python):"
                        " install one\n")


def test_a_missing_venv_module_is_one_line_when_not_root(machine):
    python3 = machine.python(no_venv_module=True)
    r = machine.run("setup.sh")
    assert r.returncode == 1
    pkg = f"python3.{MINOR}-venv"
    assert r.stderr == (f"setup.sh: {python3} cannot make a virtual environment: install {pkg}"
                        f" (sudo apt-get install {pkg}), or activate a virtual environment and rerun\n")
    assert not any(c.startswith(("apt-get", "sudo", "pip")) for c in machine.calls)


def test_a_missing_venv_module_is_installed_with_apt_get_as_root(machine):
    machine.python(no_venv_module=True)
    r = machine.run("setup.sh", STUB_UID="0")
    assert r.returncode == 0, r.stderr
    pkg = f"python3.{MINOR}-venv"
    apt = [c for c in machine.calls if c.startswith("apt-get")]
    assert apt == ["apt-get update -qq", f"apt-get install -y -qq --no-install-recommends {pkg}"]
    assert machine.calls.index(apt[-1]) < machine.calls.index("python3 -m venv --clear .venv")
    assert len(machine.pip_installs()) == 1


def debian_python():
    """Debian's python3, externally managed (PEP 668)."""
    python = "/usr/bin/python3"
    if os.path.exists(python):
        stdlib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
                                capture_output=True, text=True).stdout.strip()
        if (pathlib.Path(stdlib) / "EXTERNALLY-MANAGED").exists():
            return python
    pytest.skip("no externally managed /usr/bin/python3 on this machine")


def test_an_externally_managed_python_posing_as_the_active_env_is_refused(machine, tmp_path):
    system = debian_python()
    fake = tmp_path / "not-a-venv"
    (fake / "bin").mkdir(parents=True)
    (fake / "bin" / "python").symlink_to(system)
    r = machine.run("setup.sh", VIRTUAL_ENV=str(fake))
    assert r.returncode == 1
    assert r.stderr == (f"setup.sh: {fake}/bin/python is an externally managed Python (PEP 668), not a"
                        " virtual environment's: deactivate it (unset VIRTUAL_ENV CONDA_PREFIX) and"
                        " rerun to use .venv/\n")
    assert machine.pip_installs() == []


def test_an_active_env_without_python_is_one_line(machine, tmp_path):
    r = machine.run("setup.sh", VIRTUAL_ENV=str(tmp_path / "gone"))
    assert r.returncode == 1
    assert r.stderr == (f"setup.sh: the active environment has no {tmp_path}/gone/bin/python:"
                        " deactivate it, or recreate it\n")


def test_an_unknown_extra_is_one_line(machine):
    r = machine.run("setup.sh", "everything")
    assert (r.returncode, r.stderr) == (1, "setup.sh: no extra 'everything' in pyproject.toml (try: all, dev)\n")


@pytest.mark.parametrize("uid, sudo, expected", [
    ("0", False, ["apt-get update -qq",
                  "apt-get install -y -qq --no-install-recommends graphviz chromium"]),
    ("1000", True, ["sudo apt-get update -qq",
                    "sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq"
                    " --no-install-recommends graphviz chromium"]),
])
def test_missing_debian_packages_are_installed_as_root_or_with_sudo(machine, tmp_path, uid, sudo,
                                                                    expected):
    if sudo:
        stub(machine.bin, "sudo", "")          # records; what it would run is in its arguments
    machine.missing("graphviz", "chromium")
    env = make_env(tmp_path / "active")
    r = machine.run("setup.sh", "dev", STUB_UID=uid, VIRTUAL_ENV=str(env))
    assert r.returncode == 0, r.stderr
    assert [c for c in machine.calls if c.startswith(("apt-get", "sudo"))] == expected
    assert "dpkg -s fonts-dejavu-core" in machine.calls   # checked, present, not installed


def test_debian_packages_without_root_or_sudo_are_one_line_and_setup_goes_on(machine, tmp_path):
    machine.missing("graphviz")
    env = make_env(tmp_path / "active")
    r = machine.run("setup.sh", VIRTUAL_ENV=str(env))
    assert r.returncode == 0
    assert r.stderr.splitlines()[0] == ("setup.sh: cannot install graphviz (not root, no sudo):"
                                        " ask an admin for apt-get install graphviz")
    assert len(machine.pip_installs()) == 1


def test_without_dpkg_the_debian_packages_are_one_line(machine, tmp_path):
    (machine.bin / "dpkg").unlink()
    env = make_env(tmp_path / "active")
    r = machine.run("setup.sh", "dev", VIRTUAL_ENV=str(env))
    assert r.returncode == 0
    assert r.stderr.splitlines()[0] == ("setup.sh: not a Debian system: install graphviz chromium"
                                        " fonts-dejavu-core with your package manager if they are missing")


def test_demo_and_test_scripts_run_the_environments_python_with_their_arguments(machine, tmp_path):
    # Stand-ins for the package and pytest in the clone, where `python -m` finds them first.
    for module in ("micrograd", "pytest"):
        (machine.clone / module).mkdir()
        (machine.clone / module / "__init__.py").write_text("")
        (machine.clone / module / "__main__.py").write_text(
            FAKE_PIP.replace('"pip"', f'"{module}"'))
    env = make_env(tmp_path / "active")
    r = machine.run("demo.sh", "--steps", "3", "--out", "a b", VIRTUAL_ENV=str(env))
    assert r.returncode == 0, r.stderr
    assert machine.calls[-1] == f"micrograd {env}/bin/python demo --steps 3 --out a b"
    r = machine.run("test.sh", "tests/test_nn.py", "-k", "relu", VIRTUAL_ENV=str(env))
    assert r.returncode == 0, r.stderr
    assert machine.pip_installs() == [
        f"pip {env}/bin/python install -q --disable-pip-version-check -e .[dev]"]
    assert machine.calls[-1] == (f"pytest {env}/bin/python -q -n auto --dist loadfile "
                                 "--no-loadscope-reorder tests/test_nn.py -k relu")


def test_dev_holds_every_other_extra():
    """setup.sh takes an environment set up for dev as current for any extra."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]

    def expand(name):
        out = set()
        for req in extras[name]:
            inner = re.fullmatch(r"micrograd\[(.*)\]", req)
            out |= set().union(*(expand(e) for e in inner[1].split(","))) if inner else {req}
        return out

    for name in extras:
        assert expand(name) <= expand("dev"), name


def readme_commands():
    block = re.search(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)[1]
    return [line.split("#")[0].strip() for line in block.splitlines()]


def test_the_readme_gives_two_commands_and_ci_runs_both_as_given():
    assert readme_commands() == ["bash scripts/demo.sh", "bash scripts/test.sh"]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert "set -euo pipefail" in ci
    assert "bash scripts/test.sh" in ci
    assert ("env -u VIRTUAL_ENV -u CONDA_PREFIX -u PYTHONPATH PATH=/usr/local/bin:/usr/bin:/bin"
            " bash scripts/demo.sh") in ci
    assert any(line.startswith("git clone -q . ") for line in ci)


def test_the_project_venv_is_gitignored():
    assert "/.venv/" in (ROOT / ".gitignore").read_text().splitlines()
