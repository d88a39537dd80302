"""The public namespace: exactly ``__all__`` plus the documented subpackages; no import cycle."""

import ast
import importlib.util
import subprocess
import sys
import types
from pathlib import Path

import bayescale as bs

PACKAGE = Path(bs.__file__).parent
SUBPACKAGES = {"laws", "methods", "priors", "datasets", "theory", "design", "plot"}


def test_namespace_is_all_and_the_documented_subpackages():
    public = {n for n in dir(bs) if not n.startswith("_")}
    assert public == set(bs.__all__) - {"__version__"}
    modules = {n for n in public if isinstance(getattr(bs, n), types.ModuleType)}
    assert modules == SUBPACKAGES
    # no public function shadows a module of the same name
    for name in public - SUBPACKAGES:
        assert importlib.util.find_spec(f"bayescale.{name}") is None, name


def test_plot_works_in_a_fresh_interpreter():
    code = "import bayescale as bs; print(bs.plot.predictive.__name__, 'plot' in dir(bs))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"JAX_PLATFORMS": "cpu", "MPLBACKEND": "Agg", "PATH": ""})
    assert out.stdout.split() == ["predictive", "True"]


def _imports(path: Path, module: str, modules: set[str]) -> set[str]:
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names}
    return {m for m in found if m in modules and m != module}


def test_no_import_cycle_in_the_package():
    """Every import counts, those inside functions too: a lazy import that hides a cycle is still a cycle."""
    paths = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        paths[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {m: _imports(p, m, set(paths)) for m, p in paths.items()}
    state = {}

    def visit(m, trail):
        state[m] = "open"
        for n in sorted(graph[m]):
            assert state.get(n) != "open", "import cycle: " + " -> ".join([*trail, n])
            if n not in state:
                visit(n, [*trail, n])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
