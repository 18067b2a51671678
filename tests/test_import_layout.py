"""The project's own imports point one way and never in a circle.

Stages, earliest first: the project's shared modules (settings, roles,
emotions...), clips (import, media, segmentation), inference (model
registry, teachers), annotation (labels, queue, export), inference.student
(trains on annotation's exports). A module may import its own stage and
earlier ones; a stage that must start a later one sends a Celery task by
name (labelstudio_emo.celery.task_by_name). The few exceptions are listed
below with the reason, which the importing file repeats where it imports.
Read with ast: nothing is imported or run.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("labelstudio_emo", "clips", "inference", "annotation")
STAGES = ("labelstudio_emo", "clips", "inference", "annotation", "inference.student")
# Modules of the student stage that live where Django looks for them.
STUDENT_ELSEWHERE = {"inference.management.commands.retrain_student",
                     "inference.management.commands.evaluate_student",
                     "inference.management.commands.encode_segments",
                     "inference.templatetags.training_runs"}
# The project's composition root: URLs, pages and WSGI see every stage.
TOP = {"labelstudio_emo.urls", "labelstudio_emo.views", "labelstudio_emo.dashboard", "labelstudio_emo.wsgi"}
EXCEPTIONS = {
    ("clips.selectors", "inference.models"): "the video page and /api/segments/ show each segment's prelabel",
    ("clips.selectors", "inference.selectors"): "... chosen by the one prelabel rule",
    ("inference.teachers.prelabel", "inference.student.prelabel"):
        "the prelabel stage runs both models, so a video turns ready with all its prelabels",
    ("inference.tasks", "inference.student.tasks"): "Celery discovers the app's tasks through inference.tasks",
    ("inference.management.commands.register_model", "inference.student.predict"):
        "registering a student checks it with the student's own loader",
}


def project_modules(root: Path = ROOT) -> dict[str, Path]:
    modules = {}
    for app in APPS:
        for path in (root / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def imports_of(name: str, path: Path, modules: dict) -> list[tuple[str, int, bool]]:
    """(imported project module, line, at module level) for every import in the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top_level = {id(node) for stmt in tree.body if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                         ast.ClassDef))
                 for node in ast.walk(stmt)}
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[:len(package) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target not in modules and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in modules and target != name:
                found.append((target, node.lineno, id(node) in top_level))
    return found


def stage_of(module: str) -> int:
    if module in TOP:
        return len(STAGES)
    if module in STUDENT_ELSEWHERE:
        return STAGES.index("inference.student")
    return max(i for i, stage in enumerate(STAGES) if module == stage or module.startswith(stage + "."))


def import_graph(root: Path = ROOT):
    modules = project_modules(root)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def back_imports(graph) -> list[str]:
    return [f"{module}:{line} imports {target} ({STAGES[stage_of(module)] if module not in TOP else 'top'} -> "
            f"{STAGES[stage_of(target)] if target not in TOP else 'top'})"
            for module, edges in sorted(graph.items()) for target, line, _ in edges
            if stage_of(target) > stage_of(module) and (module, target) not in EXCEPTIONS]


def cycles(graph, module_level_only: bool = False) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    edges = {module: sorted({target for target, _, top in found if top or not module_level_only})
             for module, found in graph.items()}
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(module):
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in edges.get(module, ()):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return groups


def test_later_stages_are_never_imported_by_earlier_ones():
    assert back_imports(import_graph()) == []


def test_no_import_cycles():
    """None at import time; a loop closed inside a function (a factory naming
    its plug-ins, a heavy import kept for the call that needs it) must say why
    at that import, so no loop is dodged silently."""
    graph = import_graph()
    assert cycles(graph, module_level_only=True) == []
    texts = {module: path.read_text().splitlines() for module, path in project_modules().items()}
    for group in cycles(graph):
        lazy = [(module, target, line) for module in group for target, line, top in graph[module]
                if target in group and not top]
        assert any(_explained(texts[module], line) for module, _, line in lazy), \
            f"import loop {group}: say at the function-level import why it is there"


def _explained(text: list[str], line: int) -> bool:
    """A comment that says something (not a bare noqa) on the import or just above it."""
    for source in text[max(0, line - 4):line]:
        comment = source.split("#", 1)[1].strip() if "#" in source else ""
        if comment and not (comment.startswith("noqa") and "(" not in comment):
            return True
    return False


def test_every_exception_is_still_needed_and_explained_where_it_stands():
    graph = import_graph()
    modules = project_modules()
    for (module, target), reason in EXCEPTIONS.items():
        lines = [line for t, line, _ in graph[module] if t == target]
        assert lines, f"{module} no longer imports {target}: drop the exception"
        text = modules[module].read_text().splitlines()
        for line in lines:
            assert _explained(text, line), f"{module}:{line} should say why it imports {target} ({reason})"


def test_the_check_sees_a_back_import_and_a_cycle(tmp_path):
    """The walker itself: a planted back-import and a planted loop are found."""
    for app in APPS:
        (tmp_path / app).mkdir()
        (tmp_path / app / "__init__.py").write_text("")
    (tmp_path / "clips" / "pipeline.py").write_text("from annotation import queue\n")
    (tmp_path / "annotation" / "queue.py").write_text("from . import queue_state\n")
    (tmp_path / "annotation" / "queue_state.py").write_text("def f():\n    from .queue import g\n")
    graph = import_graph(tmp_path)
    assert back_imports(graph) == ["clips.pipeline:1 imports annotation.queue (clips -> annotation)"]
    assert cycles(graph) == [["annotation.queue", "annotation.queue_state"]]  # closed in a function,
    assert not _explained((tmp_path / "annotation" / "queue_state.py").read_text().splitlines(), 2)  # silently
