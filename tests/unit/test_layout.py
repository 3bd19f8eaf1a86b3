"""The shape of the code: no import cycle between hashbench's modules (lazy imports inside
functions count too), no module over 400 lines, no plugin importing another plugin's module
except the ones listed (a defense family sharing its base class)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 400
# A plugin module importing another: the known families, each a subclass of the other's
# plugin class (SAAT extends CgAT's training; the image-text defenses extend the image ones;
# the targeted text flip reuses the targeted PGD's anchor choice). Keep this list short.
FOLDERS = {"hashbench": "hashbench", "attacks": "hashbench.attacks",
           "defenses": "hashbench.defenses", "methods": "hashbench.methods"}


def modules() -> dict[str, Path]:
    out = {}
    for folder, package in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            name = ".".join([package, *parts])
            if folder == "hashbench" and parts and parts[0] in ("attacks", "defenses", "methods"):
                continue
            out[name] = path
    return out


def imports(path: Path, known: set[str]) -> set[str]:
    """Runtime imports of hashbench modules (lazy ones included; ``if TYPE_CHECKING:`` blocks,
    annotations only, are not imports at run time)."""
    tree = ast.parse(path.read_text())
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and getattr(block.test, "id", None) == "TYPE_CHECKING"
                   for n in ast.walk(block)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found |= {n for n in names if n in known}
    return found


def test_no_import_cycle_lazy_imports_included():
    mods = modules()
    # the package itself ("from hashbench import __version__") is every module's parent, imported
    # before any of them: not an edge
    graph = {m: imports(p, set(mods)) - {m, "hashbench"} for m, p in mods.items()}
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, cycles


def test_no_module_over_400_lines():
    long = {m: n for m, p in modules().items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, long


def test_no_plugin_imports_another_plugins_module():
    mods = modules()
    def is_plugin(name: str) -> bool:
        parts = name.split(".")
        return len(parts) == 3 and parts[1] in ("attacks", "defenses", "methods") \
            and parts[2] != "common"

    crossing = {(m, t) for m in mods if is_plugin(m) for t in imports(mods[m], set(mods))
                if is_plugin(t) and t != m}
    assert not crossing, crossing


def test_plugins_import_only_the_plugin_api():
    """First-party plugins (and the example package) import what ``api.PLUGIN_API`` names, or
    their own package's helpers (methods/common.py): the contract is exactly what they use."""
    from hashbench.api import PLUGIN_API

    example = ROOT / "examples/hashbench-example-defense/src"
    files = [p for folder in ("attacks", "defenses", "methods") for p in (ROOT / folder).glob("*.py")]
    files += list(example.rglob("*.py"))
    outside = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                if name.startswith("hashbench") and name != "hashbench" and \
                        name not in PLUGIN_API and name != "hashbench.methods.common":
                    outside.add((path.name, name))
    assert not outside, outside



def _graph() -> dict[str, set[str]]:
    mods = modules()
    return {m: imports(p, set(mods)) - {m, "hashbench"} for m, p in mods.items()
            if m.startswith("hashbench.") and m.split(".")[1] not in ("attacks", "defenses",
                                                                       "methods")}


def _in(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def kit_modules() -> set[str]:
    from hashbench.api import PLUGIN_API

    return set(PLUGIN_API)


def test_the_layers_import_downwards_only():
    """report reads records only; records know no harness; the plugin kit knows neither the
    engine nor the registry; data and models do not reach for the registry."""
    graph, kit = _graph(), kit_modules()
    bad = []
    for mod, deps in graph.items():
        for dep in deps:
            if _in(mod, "hashbench.report") and not _in(
                    dep, "hashbench.report", "hashbench.records", "hashbench.errors",
                    "hashbench.text", "hashbench.seeding", "hashbench.cpu_kernels"):
                bad.append((mod, dep))
            if _in(mod, "hashbench.records") and _in(dep, "hashbench.harness", "hashbench.report",
                                                     "hashbench.registry"):
                bad.append((mod, dep))
            if mod in kit and _in(dep, "hashbench.harness", "hashbench.records",
                                  "hashbench.report", "hashbench.registry"):
                bad.append((mod, dep))
            if _in(mod, "hashbench.harness") and _in(dep, "hashbench.report"):
                bad.append((mod, dep))
            if _in(mod, "hashbench.data", "hashbench.models") and dep == "hashbench.registry":
                bad.append((mod, dep))
    assert not bad, bad


def test_the_model_fingerprint_covers_the_plugin_kit():
    """The kit is listed once (api.PLUGIN_API); the model fingerprint's files are the kit plus
    what models depend on below it, in the order the published cache keys were built with."""
    from hashbench.harness.provenance import MODEL_CORE

    kit = {m.removeprefix("hashbench.").replace(".", "/") + ".py" for m in kit_modules()}
    assert set(MODEL_CORE) == kit | {"seeding.py", "models", "data/splits.py"}


def test_hashbench_top_level_holds_the_kit_and_the_front_doors_only():
    top = {p.stem for p in (ROOT / "hashbench").glob("*.py")}
    kit = {m.removeprefix("hashbench.") for m in kit_modules()}
    front = {"__init__", "cli", "python_api", "script_attack", "suite_run", "zoo", "registry", "errors",
             "progress", "text", "locations", "seeding", "metrics_cpu", "metrics_ties",
             "cpu_kernels"}
    assert top - kit - front == set(), top - kit - front
