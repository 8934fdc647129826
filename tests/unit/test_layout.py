"""The package's shape: no import circles, and one gate that writes report folders."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "cohort"


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every module of the package that ``name`` imports, at the top or inside a function."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in modules else base)
    return {m for m in found if m in modules and m != name}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm).

    >>> import_cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}})
    [['a', 'b']]
    """
    index, low, stack, on_stack, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_no_module_imports_another_that_imports_it_back():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert graph["cohort.report.build"], "the import graph was read"
    assert import_cycles(graph) == []


def test_the_cycle_check_can_fail():
    assert import_cycles({"x.a": {"x.b"}, "x.b": {"x.c"}, "x.c": {"x.a"}}) == [["x.a", "x.b", "x.c"]]


#: Modules that write files, and where. Everything under a report folder is written by the
#: gate; the others write a delivery's quarantine and cache, a synthetic delivery, a
#: pseudonymised delivery, the committed notebooks and the kernel spec of a build.
WRITERS = {
    "cohort.disclosure.writer": "report folders: released tables, figure data, documents",
    "cohort.delivery.load": "the Parquet cache of a loaded delivery",
    "cohort.delivery.validate": "the quarantine folder of rejected rows",
    "cohort.delivery.pseudonymise": "a pseudonymised delivery",
    "cohort.commands.validate": "the violations list a user asked for",
    "cohort.commands.pseudonymise": "a pseudonymised delivery",
    "cohort.synth.generate": "a synthetic delivery",
    "cohort.synth.write": "a synthetic delivery, chunk by chunk",
    "cohort.report.rebuild": "the committed notebooks (refresh)",
    "cohort.report.execute": "the kernel spec in a temporary folder",
    "cohort.report.notebook": "figures rendered to bytes in memory, no file",
    "cohort.plots.style": "figures rendered to SVG or PNG bytes in memory, no file",
    "cohort.report.pdf": "the Typst source and its figures in a private temporary folder while "
                         "report.pdf is typeset; the PDF itself is written by the gate",
    "cohort.disclosure.ledger": "the release ledger: one append-only entry per built report",
    "cohort.disclosure.protect": "a released table as text in memory, to recognise views of it (no file)",
}
_WRITE_CALLS = {"write_text", "write_bytes", "to_csv", "to_parquet", "to_excel", "savefig",
                "write_table", "copyfile", "copytree", "move"}


def test_only_the_gate_writes_report_folders():
    """No module outside :data:`WRITERS` writes a file; a new writer must say why."""
    writing = {}
    for name, path in _modules().items():
        calls = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                func = node.func
                attr = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                if attr in _WRITE_CALLS:
                    calls.add(attr)
                if attr == "open" and any(
                    isinstance(a, ast.Constant) and isinstance(a.value, str) and ("w" in a.value or "a" in a.value)
                    for a in node.args[1:2]
                ):
                    calls.add("open")
        if calls:
            writing[name] = calls
    unexpected = sorted(set(writing) - set(WRITERS))
    assert unexpected == [], f"modules writing files without being listed: {unexpected}"
