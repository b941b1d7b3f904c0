"""The import contracts of the layers (as napari checks that its model layer never imports Qt).

    config.py -> vae/ -> data/ -> store/ -> views/      each imports only the layers before it
    cli.py                                              the command line: everything but views/

Checked twice: statically, every import statement of every module (so an import inside a
function counts too), and at run time, in a fresh interpreter per layer, which heavy
libraries importing that layer actually loads. The pages draw only through the one chart
helper, and never build a figure themselves.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "vae_core"
LAYERS = ("config", "vae", "data", "store", "views")
THIRD_PARTY = {
    "config": set(),
    "vae": {"torch", "numpy"},
    "data": {"torch", "numpy", "sklearn", "PIL"},
    "store": {"torch", "filelock"},
    "views": {"torch", "numpy", "plotly", "sklearn"},
    "cli": {"torch"},
    "package": set(),  # vae_core/__init__.py and __main__.py
}
# Optional extras: the one module that may import each, never imported unless asked for.
OPTIONAL = {"store/ray_pool.py": {"ray"}}
# What importing a layer must not load, at run time (none may load streamlit).
NOT_LOADED = {
    "vae": {"streamlit", "plotly", "sklearn", "PIL", "filelock"},
    "data": {"streamlit", "plotly", "filelock"},
    "store": {"streamlit", "plotly", "ray"},
    "views": {"streamlit"},
    "cli": {"streamlit", "plotly", "ray"},
}


def layer_of(path: Path) -> str:
    rel = path.relative_to(CORE)
    if len(rel.parts) > 1:
        return rel.parts[0]
    return {"config.py": "config", "cli.py": "cli", "cli_text.py": "cli"}.get(rel.name, "package")


def allowed_internal(layer: str) -> set[str]:
    if layer == "cli":
        return (set(LAYERS) - {"views"}) | {"cli_text"}
    if layer == "package":
        return {"cli"}  # __main__ runs the command line; __init__ re-exports lazily, by name
    return set(LAYERS[: LAYERS.index(layer) + 1])


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def core_modules() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def test_every_module_belongs_to_a_layer():
    folders = {p.name for p in CORE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == set(LAYERS) - {"config"}, "a new folder needs a contract here"
    assert all(layer_of(p) in THIRD_PARTY for p in core_modules())


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: str(p.relative_to(CORE)))
def test_each_module_imports_only_what_its_layer_may(path):
    layer = layer_of(path)
    problems = []
    for name in imports(path):
        top = name.split(".")[0]
        if top == "vae_core":
            target = name.split(".")[1] if "." in name else "package"
            target = target.removesuffix(".py")
            if target not in allowed_internal(layer) | {layer}:
                problems.append(f"{name} (the {layer} layer may import {sorted(allowed_internal(layer))})")
        elif top in OPTIONAL.get(str(path.relative_to(CORE)), set()):
            continue
        elif top not in sys.stdlib_module_names and top != "__future__" and top not in THIRD_PARTY[layer]:
            problems.append(f"{name} (third-party; the {layer} layer may import {sorted(THIRD_PARTY[layer])})")
    assert not problems, f"{path.relative_to(ROOT)} imports " + "; ".join(problems)


@pytest.mark.parametrize("layer", sorted(NOT_LOADED))
def test_importing_a_layer_loads_none_of_the_libraries_above_it(layer):
    modules = [
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in core_modules()
        if layer_of(p) == layer and str(p.relative_to(CORE)) not in OPTIONAL
    ]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"loaded = sorted(m for m in {sorted(NOT_LOADED[layer])!r} if m in sys.modules)\n"
        "print(','.join(loaded))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert len(modules) >= 1
    assert out.stdout.strip() == "", f"importing the {layer} layer loaded {out.stdout.strip()}"


def test_the_whole_core_never_imports_streamlit():
    code = (
        "import importlib, pkgutil, sys, vae_core\n"
        "names = [m.name for m in pkgutil.walk_packages(vae_core.__path__, 'vae_core.')]\n"
        "names = [n for n in names if n not in ('vae_core.__main__', 'vae_core.store.ray_pool')]\n"
        "for name in names: importlib.import_module(name)\n"
        "assert 'streamlit' not in sys.modules, 'streamlit was imported'\n"
        "print(len(names))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert int(out.stdout) >= 25  # every submodule was imported


def page_files() -> list[Path]:
    return [ROOT / "app.py", *sorted((ROOT / "app_pages").glob("*.py"))]


@pytest.mark.parametrize("path", page_files(), ids=lambda p: p.name)
def test_pages_draw_every_chart_through_the_one_chart_helper(path):
    tree = ast.parse(path.read_text())
    helper = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "chart_ui"]  # only in common.py
    inside = {id(n) for h in helper for n in ast.walk(h)}
    calls = [
        n.lineno
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and n.func.attr == "plotly_chart"
        and id(n) not in inside
    ]
    assert not calls, f"{path.name} calls plotly_chart directly on lines {calls}: use common.chart_ui"
    assert not any(name.split(".")[0] == "plotly" for name in imports(path)), "figures are built in vae_core.views"
    assert bool(helper) == (path.name == "common.py")
