"""The import layers hold: routes -> services -> models, jobs -> services (DESIGN.md section 1).

Services enqueue jobs by dotted name after the commit and know nothing of the web layer, so domain
code imports no job and no blueprint; and no circle of imports runs through the web layer or across
layers (a package importing its own modules to register them is not one). Imports inside functions
count: a late import hides a circle, it does not untie it. Domain verbs inside services/ may call
each other both ways (emit() writes notification rows and notifications emit events of their own).
"""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOT_APP_CODE = {"tests", "bench", "migrations", "instance", "static", "templates", "docs"}
WEB = {"app", "blueprints", "htmx", "navigation", "tenancy", "request_context", "cli"}
FORBIDDEN = {
    # layer: top-level modules it must never import
    "models": WEB | {"jobs", "worker", "services"},
    "services": WEB | {"jobs", "worker"},
    "jobs": WEB | {"worker"},
}


def module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def app_modules():
    modules = {}
    for path in ROOT.rglob("*.py"):
        top = path.relative_to(ROOT).parts[0]
        if top.startswith(".") or top in NOT_APP_CODE:
            continue
        modules[module_name(path)] = path
    return modules


def imports_of(path, modules):
    """The app's modules that path imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def import_graph():
    modules = app_modules()
    graph = {}
    for name, path in modules.items():
        # A package importing its own modules registers them (blueprints/x/__init__.py imports routes).
        graph[name] = {dep for dep in imports_of(path, modules) if dep != name and not dep.startswith(name + ".")}
    return graph


def circles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for dep in graph[node]:
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_lower_layers_import_nothing_from_the_layers_above():
    crossings = sorted(
        f"{name} imports {dep}"
        for name, deps in import_graph().items()
        for dep in deps
        if dep.split(".")[0] in FORBIDDEN.get(name.split(".")[0], ())
    )
    assert crossings == [], "enqueue jobs by dotted name; move shared helpers down a layer"


def test_no_import_circle_outside_the_domain_layer():
    tangled = [sorted(circle) for circle in circles(import_graph())
               if not all(name.startswith("services.") for name in circle)]
    assert tangled == []


def test_the_checks_see_a_late_import_and_a_circle(tmp_path):
    # The same parsing on a tiny tree: a lazy import inside a function is an import.
    (tmp_path / "a.py").write_text("def f():\n    from b import g\n")
    (tmp_path / "b.py").write_text("import a\n")
    modules = {"a": tmp_path / "a.py", "b": tmp_path / "b.py"}
    graph = {name: imports_of(path, modules) for name, path in modules.items()}
    assert graph == {"a": {"b"}, "b": {"a"}} and circles(graph) == [{"a", "b"}]
