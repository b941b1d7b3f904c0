"""The shape of the code: files over 300 lines and functions over 40 lines (STYLE.md's sizes).

    python bench/code_shape.py            # vae_core/, app_pages/ and app.py
    python bench/code_shape.py --json     # one JSON object, for comparing two trees

A function's length is its ``def`` line to its last line, docstring and comments included
(what a reader scrolls through). Nested functions count on their own and inside their parent.
"""

from __future__ import annotations

import argparse
import ast
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILE_LINES, FUNCTION_LINES = 300, 40


def python_files(root: Path) -> list[Path]:
    files = [root / "app.py", *sorted((root / "vae_core").rglob("*.py")), *sorted((root / "app_pages").rglob("*.py"))]
    return [f for f in files if f.is_file()]


def long_functions(path: Path, limit: int = FUNCTION_LINES) -> list[tuple[str, int, int]]:
    """(qualified name, first line, length) of every function longer than ``limit`` lines."""
    tree = ast.parse(path.read_text())
    found: list[tuple[str, int, int]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    length = child.end_lineno - child.lineno + 1
                    if length > limit:
                        found.append((name, child.lineno, length))
                visit(child, name + ".")

    visit(tree, "")
    return found


def shape(root: Path = ROOT) -> dict[str, object]:
    files = python_files(root)
    long_files = {}
    functions = []
    for f in files:
        rel = str(f.relative_to(root))
        lines = len(f.read_text().splitlines())
        if lines > FILE_LINES:
            long_files[rel] = lines
        functions += [{"file": rel, "function": n, "line": a, "lines": b} for n, a, b in long_functions(f)]
    return {"files": len(files), "long_files": long_files, "long_functions": functions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--root", type=Path, default=ROOT, help="the project folder (default: this checkout)")
    args = parser.parse_args()
    result = shape(args.root)
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['files']} Python files under vae_core/, app_pages/ and app.py")
    print(f"files over {FILE_LINES} lines: {len(result['long_files'])}")
    for name, lines in result["long_files"].items():
        print(f"  {name:40s} {lines:5d}")
    print(f"functions over {FUNCTION_LINES} lines: {len(result['long_functions'])}")
    for f in result["long_functions"]:
        print(f"  {f['file']}:{f['line']:<5d} {f['function']:32s} {f['lines']:5d}")


if __name__ == "__main__":
    main()
