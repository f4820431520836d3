"""lab/ stays readable: no file over 400 lines, no function over 60, and no module borrowing another module's
private (underscore) name - a shared thing is made public or gets a module of its own (lab.charts,
lab.findings.fields). Tests may reach into the private helpers of what they test."""
from __future__ import annotations

import ast
from pathlib import Path

LAB = Path(__file__).resolve().parent.parent
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60


def python_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*.py") if "__pycache__" not in path.parts)


def long_files(root: Path) -> list[str]:
    return [f"{path.relative_to(root)}: {lines} lines" for path in python_files(root)
            if (lines := len(path.read_text().splitlines())) > MAX_FILE_LINES]


def long_functions(root: Path) -> list[str]:
    found = []
    for path in python_files(root):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    found.append(f"{path.relative_to(root)}:{node.lineno} {node.name}: {lines} lines")
    return found


def borrowed_private_names(root: Path) -> list[str]:
    """`from other_module import _name` in a module that is not a test."""
    found = []
    for path in python_files(root):
        if "tests" in path.relative_to(root).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                found += [f"{path.relative_to(root)}:{node.lineno} {node.module or '.'}.{alias.name}"
                          for alias in node.names if alias.name.startswith("_")]
    return found


def test_no_file_over_400_lines() -> None:
    assert long_files(LAB) == []


def test_no_function_over_60_lines() -> None:
    assert long_functions(LAB) == []


def test_no_module_imports_a_private_name_of_another() -> None:
    assert borrowed_private_names(LAB) == []


def test_the_walks_see_what_they_look_for(tmp_path: Path) -> None:
    """Each rule must be able to fail: plant a long file, a long function and a borrowed name."""
    (tmp_path / "tests").mkdir()
    (tmp_path / "long.py").write_text("x = 1\n" * (MAX_FILE_LINES + 1))
    (tmp_path / "big.py").write_text("def big():\n" + "    pass\n" * MAX_FUNCTION_LINES)
    (tmp_path / "borrow.py").write_text("from lab.report import _png\nfrom lab.charts import pyplot as _plt\n")
    (tmp_path / "tests" / "test_x.py").write_text("from lab.report import _png\n")
    assert long_files(tmp_path) == [f"long.py: {MAX_FILE_LINES + 1} lines"]
    assert long_functions(tmp_path) == [f"big.py:1 big: {MAX_FUNCTION_LINES + 1} lines"]
    assert borrowed_private_names(tmp_path) == ["borrow.py:1 lab.report._png"]
