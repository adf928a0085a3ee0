"""The wheel a Flask team installs: the configsvc package only, working outside this checkout.

It is built from pyproject.toml, installed into a fresh virtual environment without the network (its
dependencies come from this environment's site-packages, added as a plain path, so nothing of the
checkout is importable there), and used from a neutral folder.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.support.reference import PROJECT

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.xdist_group("wheel")]  # one wheel and one venv for the file

APP = '''\
from flask import Flask
from configsvc.flask import ConfigService

config = ConfigService(env_prefix="SHOP_", schema={"shelves": int})


def create_app():
    app = Flask(__name__)
    config.init_app(app)
    return app
'''


def run(*command: str | Path, cwd: Path, **environ: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(part) for part in command], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={"PATH": "/usr/bin:/bin", "HOME": str(cwd), **environ})


@pytest.fixture(scope="session")  # one per test process: its group runs there, in one go or not
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    # Built from a copy of the sources: setuptools builds in the source folder (build/, *.egg-info), and
    # the checkout is not the test's to write in (a build left half done there fails the next one).
    source = tmp_path_factory.mktemp("source") / "configsvc"
    shutil.copytree(PROJECT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", "instance", ".*_cache", ".hypothesis",
        "_build", "_generated"))
    done = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
               "-w", dist, source, cwd=dist)
    assert done.returncode == 0, done.stderr[-3000:]
    (built,) = dist.glob("configsvc-*.whl")
    return built


@pytest.fixture(scope="session")  # one per test process: its group runs there, in one go or not
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("venv")
    assert run(sys.executable, "-m", "venv", folder, cwd=folder).returncode == 0
    done = run(folder / "bin" / "python", "-m", "pip", "install", "--no-index", "--no-deps", wheel,
               cwd=folder)
    assert done.returncode == 0, done.stderr[-3000:]
    site = run(folder / "bin" / "python", "-c", "import site; print(site.getsitepackages()[0])",
               cwd=folder).stdout.strip()
    # The dependencies (Flask, Celery, ...) from this environment, as a plain path: the .pth files there
    # (the checkout's) are not processed, so app, worker_entry and tests stay out of reach.
    Path(site, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return folder


def test_the_wheel_holds_the_library_only(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"configsvc", wheel.name.split("-py3")[0] + ".dist-info"}
    assert "configsvc/defaults.yaml" in names and "configsvc/py.typed" in names
    assert "configsvc/flask/extension.py" in names and "configsvc/celery/placeholder.py" in names
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt")))
    assert b"[flask.commands]\nconfigsvc = configsvc.commands.cli:flask_group" in entry_points
    assert b"[pytest11]\nconfigsvc = configsvc.testing" in entry_points


def test_the_wheel_metadata_is_ready_to_publish(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    metadata = archive.read(next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    headers, _, description = metadata.partition("\n\n")
    assert "License-Expression: BSD-3-Clause" in headers
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in archive.namelist())
    assert f"Version: {wheel.name.split('-')[1]}" in headers
    for minor in (11, 12, 13, 14):
        assert f"Classifier: Programming Language :: Python :: 3.{minor}" in headers
    requirements = [line for line in headers.splitlines() if line.startswith("Requires-Dist:")]
    library = [line for line in requirements if "extra ==" not in line]
    assert not any("gunicorn" in line for line in library)  # the reference app's server, not the library's
    assert any("pytest" in line and 'extra == "testing"' in line for line in requirements)
    # Its own description: the library for someone who installs it, not this checkout's `make run`.
    assert description.startswith("# configsvc") and "pip install configsvc" in description
    assert "make run" not in description


def test_installed_configsvc_works_outside_the_checkout(deployment_file, venv: Path, tmp_path: Path) -> None:
    python = venv / "bin" / "python"
    where = run(python, "-c", "import configsvc; print(configsvc.__file__)", cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    assert where.stdout.startswith(str(venv))
    for module in ("app", "worker_entry", "tests"):
        done = run(python, "-c", f"import {module}", cwd=tmp_path)
        assert done.returncode == 1 and "ModuleNotFoundError" in done.stderr, module

    check = run(venv / "bin" / "configsvc", "--verbose", "check", cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert "resolving with configsvc's default options" in check.stderr
    show = run(venv / "bin" / "configsvc", "show", "--json", cwd=tmp_path)
    assert '"source": "configsvc defaults"' in show.stdout
    assert str(venv) in show.stdout  # configsvc's own defaults file, from the installed package

    deployment_file(APP, name="app.py")
    deployment_file("default:\n  shelves: 12\n", name="defaults.yaml")
    found = run(venv / "bin" / "configsvc", "explain", "shelves", cwd=tmp_path)
    assert found.returncode == 0, found.stderr
    assert found.stdout.splitlines()[-1] == "= 12  (from defaults)"
    flask = run(python, "-m", "flask", "--app", "app", "configsvc", "check", cwd=tmp_path)
    assert flask.returncode == 0, flask.stderr
    bad = run(venv / "bin" / "configsvc", "check", cwd=tmp_path, SHOP_SHELVES="many")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "environment variable SHOP_SHELVES: shelves: expected an integer" in bad.stderr


def test_installed_configsvc_reads_a_sops_file_with_no_sops_binary(
        deployment_file, venv: Path, tmp_path: Path) -> None:
    """A team's existing SOPS + age setup: the file made by the real sops elsewhere, read where no sops
    binary is installed (not in the fresh venv, not on its PATH)."""
    import shutil

    from tests.support.sops import AgeKey, SopsTool

    key = AgeKey.generate()
    made = SopsTool(tmp_path / "made").encrypt("secret_key: from-sops\nshelves: 12\n", "api-config.yaml",
                                               [key])
    assert shutil.which("sops", path="/usr/bin:/bin") is None and not (venv / "bin" / "sops").exists()
    deployment_file(APP, name="app.py")
    identities = key.write(tmp_path / "age" / "keys.txt")
    done = run(venv / "bin" / "configsvc", "show", "--json", cwd=tmp_path, FLASK_CONFIG=str(made),
               SOPS_AGE_KEY_FILE=str(identities))
    assert done.returncode == 0, done.stderr
    assert '"source": "deployment file (SOPS)"' in done.stdout and "from-sops" not in done.stdout
    revealed = run(venv / "bin" / "configsvc", "show", "--reveal", "--json", cwd=tmp_path,
                   FLASK_CONFIG=str(made), SOPS_AGE_KEY_FILE=str(identities))
    assert "from-sops" in revealed.stdout and '"value": 12' in revealed.stdout
