"""The layers stay one-way: history <- cluster <- {workloads, nemesis, checker} <- lab.

Walks every import statement (module level and inside functions) of the top-level packages, tests excluded,
and fails on an upward import or a cycle between packages. A second test proves the offline side really is
offline: importing the checkers and building the whole CLI loads no Docker client library.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("history", "cluster", "checker", "workloads", "nemesis", "lab")

# Which packages each package may import. checker may use cluster.errors only (the shared error type, which
# is pure Python); workloads and nemesis never import each other.
ALLOWED: dict[str, set[str]] = {
    "history": set(),
    "cluster": {"history"},
    "checker": {"history", "cluster"},
    "workloads": {"history", "cluster"},
    "nemesis": {"history", "cluster"},
    "lab": {"history", "cluster", "checker", "workloads", "nemesis"},
}
CHECKER_MAY_USE_FROM_CLUSTER = {"cluster.errors"}
DOCKER_MODULES = ("docker", "python_on_whales", "mistralclient")


def imports_of(package: str) -> list[tuple[Path, str]]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        if "tests" in path.relative_to(ROOT).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found += [(path, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((path, node.module))
                found += [(path, f"{node.module}.{alias.name}") for alias in node.names
                          if node.module in PACKAGES]  # `from cluster import images`
    return found


def package_edges() -> dict[tuple[str, str], list[str]]:
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for package in PACKAGES:
        for path, module in imports_of(package):
            top = module.split(".")[0]
            if top in PACKAGES and top != package:
                edges[(package, top)].append(f"{path.relative_to(ROOT)}: {module}")
    return edges


def test_no_package_imports_upward_or_sideways():
    wrong = [f"{src} -> {dst}: {where}" for (src, dst), places in package_edges().items()
             if dst not in ALLOWED[src] for where in places]
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_checker_uses_only_the_error_type_from_cluster():
    wrong = [f"{path.relative_to(ROOT)}: {module}" for path, module in imports_of("checker")
             if module.split(".")[0] == "cluster" and module != "cluster"
             and not any(module == ok or module.startswith(ok + ".") for ok in CHECKER_MAY_USE_FROM_CLUSTER)]
    assert not wrong, "checker must judge a stored run without the cluster layer:\n" + "\n".join(wrong)


def test_no_cycle_between_packages():
    graph: dict[str, set[str]] = defaultdict(set)
    for src, dst in package_edges():
        graph[src].add(dst)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})) for nxt in graph[start])

    cycles = [package for package in PACKAGES if reaches(package, package, {package})]
    assert not cycles, f"import cycles through: {cycles}"


def test_the_layer_walk_sees_a_planted_upward_import(tmp_path, monkeypatch):
    """The walk itself must be able to fail: plant `import lab` in a copy of history/ and look."""
    fake_root = tmp_path / "root"
    (fake_root / "history").mkdir(parents=True)
    (fake_root / "history" / "bad.py").write_text("from lab.run import run_test\n")
    for package in PACKAGES[1:]:
        (fake_root / package).mkdir()
    monkeypatch.setattr(sys.modules[__name__], "ROOT", fake_root)
    assert ("history", "lab") in package_edges()


def _loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(m for m in sys.modules)))"
    output = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(output.stdout.split())


def test_lower_layers_load_without_lab():
    loaded = _loaded_after("import cluster, history, checker, workloads, nemesis\n"
                           "import cluster.control, workloads.runner, nemesis.schedule, checker.run_checks")
    assert "lab" not in loaded and not [m for m in loaded if m.startswith("lab.")]


def test_a_stored_run_is_checked_without_docker():
    loaded = _loaded_after("import checker.check, checker.run_checks, checker.batch")
    assert not [m for m in DOCKER_MODULES if m in loaded], "the offline checkers import a Docker client"


def test_building_the_cli_loads_no_docker_client():
    loaded = _loaded_after("from lab.cli import _register_commands\n_register_commands()")
    assert not [m for m in DOCKER_MODULES if m in loaded], \
        "building the CLI (every command, even --help) must not import Docker or Mistral clients"
