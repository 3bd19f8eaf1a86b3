"""The shape of the code: no import cycle between hashbench's modules (lazy imports inside
functions count too), no module over 400 lines and no function over 60, no plugin importing
another plugin's module (a family of plugins shares a module of its own that is no plugin: its
name starts with an underscore, as ``defenses/_guided.py``), and the layers importing downwards
only."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 400
MAX_FUNCTION_LINES = 60
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


def test_no_function_over_60_lines():
    """A function over 60 lines usually holds two jobs: split it by what it does."""
    long = []
    for path in sorted((ROOT / "hashbench").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({n})")
    assert not long, long


def test_no_plugin_imports_another_plugins_module():
    mods = modules()
    def is_plugin(name: str) -> bool:
        parts = name.split(".")
        return len(parts) == 3 and parts[1] in ("attacks", "defenses", "methods") \
            and not parts[2].startswith("_")

    crossing = {(m, t) for m in mods if is_plugin(m) for t in imports(mods[m], set(mods))
                if is_plugin(t) and t != m}
    assert not crossing, crossing


def test_plugins_import_only_the_plugin_api():
    """First-party plugins (and the example package) import what ``api.PLUGIN_API`` names, or
    their own family's module (methods/_common.py): the contract is exactly what they use."""
    import hashbench
    from hashbench.api import PLUGIN_API

    # the example package is written against API version 1's paths, unchanged
    v1_paths = {f"hashbench.{m}" for m in hashbench.KIT_MODULES}
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
                        name not in PLUGIN_API and name not in v1_paths and \
                        not name.rpartition(".")[2].startswith("_"):
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
                    "hashbench.text", "hashbench.kit.seeding", "hashbench.cpu_kernels"):
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


def test_the_model_code_version_covers_the_plugin_kit():
    """What ``MODEL_CODE_VERSION`` declares (``provenance.MODEL_CORE``, which the golden tests
    fingerprint to say which version to bump) covers every module a plugin may import but the
    metric kernels, plus what models depend on below the kit."""
    from hashbench.api import PLUGIN_API
    from hashbench.harness.provenance import MODEL_CORE

    covered = {m for m in PLUGIN_API if m == "hashbench.api" and "api.py" in MODEL_CORE
               or m == "hashbench.metrics" and "metrics/__init__.py" in MODEL_CORE
               or m.startswith("hashbench.kit.") and "kit" in MODEL_CORE}
    assert covered == set(PLUGIN_API)
    assert {"models", "data/splits.py"} <= set(MODEL_CORE)


def test_hashbench_top_level_holds_the_front_doors_and_shared_leaves_only():
    """The plugin kit lives in hashbench/kit/, the metric kernels in hashbench/metrics/; the top
    holds the front doors (the plugin contract, the CLI, the Python API, the suite run, the
    zoo, the registry, scripts' attacks) and the small leaves every layer shares."""
    top = {p.stem for p in (ROOT / "hashbench").glob("*.py")}
    front = {"__init__", "api", "cli", "python_api", "script_attack", "suite_run", "zoo",
             "registry"}
    leaves = {"errors", "progress", "text", "locations", "cpu_kernels"}
    assert top - front - leaves == set(), top - front - leaves
    import hashbench

    kit = {p.stem for p in (ROOT / "hashbench" / "kit").glob("*.py")} - {"__init__"}
    assert kit == set(hashbench.KIT_MODULES)


def test_api_version_1_paths_are_the_kits_modules():
    """A plugin written against API version 1 imports the kit by its old paths and gets the
    very modules (so a monkeypatch or an isinstance check sees one object)."""
    import importlib

    import hashbench

    for name in hashbench.KIT_MODULES:
        old = importlib.import_module(f"hashbench.{name}")
        new = importlib.import_module(f"hashbench.kit.{name}")
        assert old is new and new.__spec__.name == f"hashbench.kit.{name}"
    from hashbench.training import TrainConfig

    from hashbench.kit.training import TrainConfig as Same

    assert TrainConfig is Same
