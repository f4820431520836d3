"""The layers stay one-way: history <- cluster <- {workloads, nemesis, checker} <- lab.

Walks every import statement (module level and inside functions) of the top-level packages, tests excluded,
and fails on an upward import, a cycle between packages or a cycle between modules (a lazy import inside a
function counts: it hides a cycle from Python but not from the reader). A second set proves the offline side
really is offline: importing the checkers and building the whole CLI loads no Docker client library. A third
keeps every file short enough to read: at most MAX_FILE_LINES lines, tests excluded.
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
MAX_FILE_LINES = 400
SIZED = (*PACKAGES, "compose")  # compose/ ships Python too: the witness server, the witness and rpc packs


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


def module_files() -> dict[str, Path]:
    """Every module of the packages, tests excluded, by dotted name (a package by its __init__.py)."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "tests" not in parts:
                modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module a dotted name lands in: `cluster.images` itself, `cluster.images.Images` -> cluster.images."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imported_names(node: ast.AST, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:  # relative: climb from the importing module's own package
        package = module if is_package else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}".strip(".")
    # `from pkg import mod` imports the module file; `from mod import name` lands in mod via _resolve
    return [f"{base}.{alias.name}" for alias in node.names]


def module_edges() -> dict[str, dict[str, list[str]]]:
    """importer -> imported module -> where (path:line), for every import between two modules of ours."""
    modules = module_files()
    edges: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            for name in _imported_names(node, module, path.name == "__init__.py"):
                target = _resolve(name, modules)
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                if target and target != module and where not in edges[module][target]:
                    edges[module][target].append(where)
    return edges


def module_cycles() -> list[list[str]]:
    """The strongly connected groups of more than one module: each is at least one import cycle."""
    edges = module_edges()

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in edges.get(todo.pop(), {}):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    reached = {module: reach(module) for module in edges}
    return sorted({tuple(sorted(other for other in reached[module] if module in reached.get(other, ())))
                   for module in edges if module in reached[module]})


def _describe(cycle: list[str]) -> str:
    edges = module_edges()
    return "\n".join(f"  {src} -> {dst}: {', '.join(edges[src][dst])}"
                     for src in cycle for dst in cycle if dst in edges.get(src, {}))


def test_no_cycle_between_modules():
    cycles = module_cycles()
    assert not cycles, "import cycles between modules (lazy imports count):\n" + "\n".join(
        f"{' <-> '.join(cycle)}\n{_describe(cycle)}" for cycle in cycles)


def test_the_module_walk_sees_a_planted_cycle(tmp_path, monkeypatch):
    """The walk must be able to fail: a lazy `from cluster import b` in a.py against b.py's `import cluster.a`."""
    fake_root = tmp_path / "root"
    for package in PACKAGES:
        (fake_root / package).mkdir(parents=True)
        (fake_root / package / "__init__.py").write_text("")
    (fake_root / "cluster" / "a.py").write_text("def make():\n    from cluster import b\n    return b\n")
    (fake_root / "cluster" / "b.py").write_text("import cluster.a\nfrom cluster.c import X\n")
    (fake_root / "cluster" / "c.py").write_text("from . import d\nX = 1\n")
    (fake_root / "cluster" / "d.py").write_text("from .c import X\n")
    (fake_root / "cluster" / "tests").mkdir()
    (fake_root / "cluster" / "tests" / "test_a.py").write_text("import cluster.a\n")
    (fake_root / "lab" / "e.py").write_text("from cluster.a import make\n")  # one way: no cycle
    monkeypatch.setattr(sys.modules[__name__], "ROOT", fake_root)
    assert module_cycles() == [("cluster.a", "cluster.b"), ("cluster.c", "cluster.d")]
    assert "cluster/a.py:2" in _describe(["cluster.a", "cluster.b"])


def long_files(limit: int = MAX_FILE_LINES) -> list[str]:
    """The Python files of the packages and compose/, tests excluded, longer than `limit` lines."""
    found = []
    for top in SIZED:
        for path in sorted((ROOT / top).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if "tests" in relative.parts:
                continue
            lines = len(path.read_text().splitlines())
            if lines > limit:
                found.append(f"{relative}: {lines} lines")
    return found


def test_no_file_over_the_line_limit():
    found = long_files()
    assert not found, (f"files over {MAX_FILE_LINES} lines (tests excluded): split them along their seams:\n"
                       + "\n".join(found))


def test_the_size_walk_sees_a_planted_long_file(tmp_path, monkeypatch):
    """The walk must be able to fail: a 401-line file in compose/ is found; one at the limit and tests are not."""
    fake_root = tmp_path / "root"
    for top in SIZED:
        (fake_root / top).mkdir(parents=True)
    (fake_root / "compose" / "witness").mkdir()
    (fake_root / "compose" / "witness" / "big.py").write_text("x = 1\n" * (MAX_FILE_LINES + 1))
    (fake_root / "lab" / "at_the_limit.py").write_text("x = 1\n" * MAX_FILE_LINES)
    (fake_root / "lab" / "tests").mkdir()
    (fake_root / "lab" / "tests" / "test_big.py").write_text("x = 1\n" * 3 * MAX_FILE_LINES)
    monkeypatch.setattr(sys.modules[__name__], "ROOT", fake_root)
    assert long_files() == [f"compose/witness/big.py: {MAX_FILE_LINES + 1} lines"]


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
