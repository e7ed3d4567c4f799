"""The import rules of docs/architecture.md §Which module may import which, read from the source.

Every module's import statements (at module level and inside functions) are parsed with ``ast`` and
resolved to ffrflow module names; nothing is imported, so the test sees imports that a run would
only reach on some paths. One test imports ``ffrflow`` in a subprocess, to see that it stays light.
"""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "ffrflow"

#: What the physics (cfd) and the kernels must never import: the layers above them.
FORBIDDEN_BELOW = ("ffrflow.formats", "ffrflow.plots", "ffrflow.meshing", "ffrflow.phantoms", "ffrflow.batch",
                   "ffrflow.batch_graph", "ffrflow.api", "ffrflow.report")

#: The top layer: the pictures (ffrflow.plots) never import it; uncertainty's figures take its results
#: as arguments.
TOP = ("ffrflow.api", "ffrflow.uncertainty", "ffrflow.batch", "ffrflow.batch_graph", "ffrflow.cli")

#: (importing module, imported module) pairs allowed as function-local imports only, with the reason.
ALLOWED_LOCAL = {
    ("ffrflow.cfd.result", "ffrflow.plots"):
        "Result.plot(), plot_pullback() and surface_with_ffr() are thin notebook conveniences that call into "
        "plots; cfd never imports plots at module level (docs/architecture.md §Which module may import which)",
    ("ffrflow.cfd.result", "ffrflow.report.case"):
        "Result.to_html() is the notebook's thin call into the case report; cfd never imports report at "
        "module level (docs/architecture.md §Which module may import which)",
}


#: Heavy or optional libraries: imported inside the functions that use them, never by ``import ffrflow``.
HEAVY = ("vtkmodules", "vtk", "matplotlib", "numba", "cupy", "dask", "distributed", "dask_cuda", "gmsh",
         "SimpleITK", "nibabel", "kimimaro", "cc3d", "edt", "pandas", "pyarrow", "PIL", "playwright")

#: Function-local imports of sibling modules that stay inside functions, with the reason
#: (docs/architecture.md §Which module may import which).
LOCAL_REASONS = {
    ("ffrflow.batch", "ffrflow.batch_graph"):
        "batch_graph builds on batch (case specs, failures, the worker set-up); batch calls it only for --gpu",
    ("ffrflow.anatomy", "ffrflow.meshing.compare"):
        "anatomy is used by cfd.result, which must not reach meshing; only naming_accuracy compares with a mesh",
    ("ffrflow.cfd.result", "ffrflow.anatomy"):
        "the names are a layer above the physics (they project onto meshed networks); Result.anatomy asks for "
        "them on demand",
    ("ffrflow.kernels.reference", "ffrflow.cfd.lesion"):
        "the NumPy oracle of the ensemble kernel evaluates cfd's lesion law; at module level kernels would "
        "depend on cfd",
    ("ffrflow.kernels.backend", "ffrflow.kernels.reference"):
        "one lookup for the three backends, whose cpu and gpu modules import Numba and CuPy",
    ("ffrflow.formats", "ffrflow.formats.svzerod"):
        "formats/__init__ imports its submodules at its end, after the detection helpers they use",
    ("ffrflow.meshing", "ffrflow.meshing.stenosis"):
        "the lesion-detection hook is looked up at call time, so that tests can replace it",
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


MODULES = _modules()


def _resolve(module: str, path: Path, node: ast.ImportFrom | ast.Import) -> list[str]:
    """The ffrflow modules an import statement names (a ``from pkg import sub`` names the submodule)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "ffrflow"]
    if node.level == 0:
        base = node.module or ""
        if base.split(".")[0] != "ffrflow":
            return []
    else:
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        parts = package.split(".")
        if node.level > 1:
            parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join(parts + ([node.module] if node.module else []))
    out = []
    for a in node.names:
        sub = f"{base}.{a.name}"
        out.append(sub if sub in MODULES else base)
    return out


def _imports(module: str, path: Path) -> list[tuple[str, bool, int]]:
    """``(imported module, function_local, line)`` for every import of an ffrflow module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: list[tuple[str, bool, int]] = []

    def visit(node, local: bool):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.extend((m, local, child.lineno) for m in _resolve(module, path, child))
            visit(child, local or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, False)
    return found


IMPORTS = {m: _imports(m, p) for m, p in MODULES.items()}


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_the_parser_sees_the_package():
    assert "ffrflow.cfd.steady" in MODULES and "ffrflow.kernels.backend" in MODULES
    assert ("ffrflow.kernels", False) in {(m, loc) for m, loc, _ in IMPORTS["ffrflow.cfd.steady"]}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _under(m, "ffrflow.cfd") or _under(m, "ffrflow.kernels")))
def test_physics_and_kernels_do_not_import_the_layers_above(module):
    bad = []
    for target, local, line in IMPORTS[module]:
        if not any(_under(target, f) for f in FORBIDDEN_BELOW):
            continue
        if local and (module, target) in ALLOWED_LOCAL:
            continue
        bad.append(f"{MODULES[module].relative_to(PACKAGE.parent)}:{line}: imports {target}"
                   f"{' (inside a function)' if local else ''}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _under(m, "ffrflow.plots")))
def test_plots_do_not_import_the_top_layer(module):
    bad = [f"{MODULES[module].relative_to(PACKAGE.parent)}:{line}: imports {target}"
           for target, _, line in IMPORTS[module] if any(_under(target, t) for t in TOP)]
    assert not bad, "\n".join(bad)


def test_import_ffrflow_loads_no_heavy_library():
    """``import ffrflow`` (the API, the solvers, meshing and formats, all imported at module level)
    loads none of the heavy or optional libraries: they are imported by the functions that use them."""
    code = ("import sys, ffrflow; print(sorted(m for m in %r if m in sys.modules))" % (HEAVY,))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PACKAGE.parent, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def _module_level(tree: ast.AST):
    """The statements that run at import: the module body, into ``try``/``if``/``with`` blocks, not
    into functions or classes."""
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, (ast.Try, ast.If, ast.With)):
            todo += node.body + getattr(node, "orelse", []) + getattr(node, "finalbody", [])
            todo += [s for h in getattr(node, "handlers", []) for s in h.body]


@functools.lru_cache(maxsize=None)
def _heavy_at_module_level(module: str) -> bool:
    """True when importing ``module`` loads a heavy library (directly, or through the ffrflow modules it
    imports at module level, in a ``try`` too): a reason to import it late. (The module-level graph
    has no cycle: test_module_level_imports_form_no_cycle.)"""
    for node in _module_level(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] in HEAVY for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] in HEAVY:
            return True
    return any(_heavy_at_module_level(t) for t, local, _ in IMPORTS[module] if not local and t != module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_function_local_imports_are_for_heavy_libraries_or_named(module):
    """Inside functions: heavy or optional libraries and the ffrflow modules that import one at module
    level; a sibling module only where LOCAL_REASONS says why; the standard library never."""
    bad = []
    tree = ast.parse(MODULES[module].read_text())
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(fn):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            where = f"{MODULES[module].relative_to(PACKAGE.parent)}:{node.lineno}"
            if isinstance(node, ast.Import) or node.level == 0:
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                bad += [f"{where}: the standard library's {n} inside a function" for n in names
                        if n.split(".")[0] in sys.stdlib_module_names]
                bad += [f"{where}: numpy inside a function" for n in names if n.split(".")[0] == "numpy"]
                continue
            for target in _resolve(module, MODULES[module], node):
                if (_heavy_at_module_level(target) or (module, target) in ALLOWED_LOCAL
                        or (module, target) in LOCAL_REASONS):
                    continue
                bad.append(f"{where}: {target} inside a function (import it at the top, or name the reason "
                           "in LOCAL_REASONS)")
    assert not bad, "\n".join(bad)


def test_local_reasons_are_still_needed():
    """A reason that no function-local import uses any more is removed from LOCAL_REASONS."""
    used = {(m, t) for m, imps in IMPORTS.items() for t, local, _ in imps if local}
    stale = [pair for pair in LOCAL_REASONS if pair not in used]
    assert not stale, f"no longer imported inside a function, remove from LOCAL_REASONS: {stale}"


def test_allowed_exceptions_are_still_needed():
    """An exception that no import uses any more is removed from ALLOWED_LOCAL."""
    used = {(m, t) for m, imps in IMPORTS.items() for t, local, _ in imps if local}
    stale = [pair for pair in ALLOWED_LOCAL if pair not in used]
    assert not stale, f"no longer imported, remove from ALLOWED_LOCAL: {stale}"


def test_module_level_imports_form_no_cycle():
    graph = {m: sorted({t for t, local, _ in imps if not local and t != m}) for m, imps in IMPORTS.items()}
    state: dict[str, int] = {}   # 1 on the stack, 2 done
    stack: list[str] = []
    cycles = []

    def dfs(m):
        state[m] = 1
        stack.append(m)
        for t in graph.get(m, ()):
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t):] + [t])
            elif t not in state:
                dfs(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            dfs(m)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)
