"""Exercise stubs, generated from the reference solution: one file per task.

Inside a reference function the learner's part is marked by a comment block that starts with
``# Exercise:`` and says, in words, what to compute and which equation of the task's page it is.
Everything above the block (the signature, the docstring, the input checks) is the learner's to
keep; everything below it, to the end of the function, is the solution. A stub keeps the first
part and replaces the rest by the block, as a ``# TODO:``, and ``raise NotImplementedError``.

So the stub cannot drift from the reference: it is the reference, with the answer taken out.
Public functions of a task's modules without the marker are tools the learner is given (such as
``gather``): the stub imports them from the library instead of copying them.

``diffusion-path exercises init DIR`` writes the stubs (never over a file that is there);
``diffusion-path check TASK --impl DIR`` grades them; ``diffusion-path hint TASK FUNCTION``
reveals the solution's steps one level at a time, the last level being the code below the marker.

Examples:
    >>> from diffusion_path.tasks import get_task
    >>> stub = stub_source(get_task("core-2"))
    >>> "def q_posterior(" in stub and "raise NotImplementedError" in stub
    True
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from diffusion_path.tasks import TASKS, Task

__all__ = ["MARKER", "Exercise", "exercises", "solution_code", "stub_source", "write_stubs"]

#: The comment that opens the learner's part of a reference function.
MARKER = "# Exercise:"
_MARKER_LINE = re.compile(r"^(?P<indent>[ \t]*)# Exercise:[ \t]?(?P<text>.*)$")
_COMMENT_LINE = re.compile(r"^[ \t]*#[ \t]?(?P<text>.*)$")


@dataclass(frozen=True)
class Exercise:
    """The learner's part of one reference function (or method).

    Attributes:
        module: Dotted name of the reference module.
        qualname: ``"q_sample"`` or ``"NoiseSchedule.__init__"``.
        todo: What to compute, in words: the text of the ``# Exercise:`` block.
        kept: The function's source down to the block (signature, docstring, input checks).
        solution: The code below the block, dedented: the answer.
        indent: The body's indentation.
    """

    module: str
    qualname: str
    todo: str
    kept: str
    solution: str
    indent: str

    @property
    def function(self) -> str:
        """The task function it belongs to: ``"NoiseSchedule"`` for ``"NoiseSchedule.__init__"``."""
        return self.qualname.split(".")[0]

    def stub(self) -> str:
        """The function as the learner gets it: the kept part, the TODO, ``raise NotImplementedError``."""
        todo = "\n".join(
            f"{self.indent}# {'TODO: ' if i == 0 else '      '}{line}".rstrip()
            for i, line in enumerate(self.todo.splitlines())
        )
        return f"{self.kept.rstrip()}\n\n{todo}\n{self.indent}raise NotImplementedError\n"


def _split(
    source_lines: list[str], node: ast.FunctionDef, module: str, qualname: str
) -> Exercise | None:
    """The exercise inside ``node`` (lines of the whole module), or None if it has no marker."""
    start, end = node.lineno - 1, node.end_lineno
    if node.decorator_list:
        start = node.decorator_list[0].lineno - 1
    lines = source_lines[start:end]
    for i, line in enumerate(lines):
        match = _MARKER_LINE.match(line)
        if not match:
            continue
        text = [match.group("text")]
        j = i + 1
        while j < len(lines) and _COMMENT_LINE.match(lines[j]) and lines[j].strip() != "#":
            text.append(_COMMENT_LINE.match(lines[j]).group("text").strip())
            j += 1
        solution = textwrap.dedent("\n".join(lines[j:])).strip("\n") + "\n"
        return Exercise(
            module,
            qualname,
            "\n".join(text).strip(),
            "\n".join(lines[:i]).rstrip() + "\n",
            solution,
            match.group("indent"),
        )
    return None


def _module_exercises(module: str) -> list[Exercise]:
    source = inspect.getsource(importlib.import_module(module))
    lines = source.splitlines()
    found = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef):
            exercise = _split(lines, node, module, node.name)
            found += [exercise] if exercise else []
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    exercise = _split(lines, item, module, f"{node.name}.{item.name}")
                    found += [exercise] if exercise else []
    return found


def exercises(task: Task) -> list[Exercise]:
    """Every exercise of ``task``, in the order of its modules' source.

    Examples:
        >>> from diffusion_path.tasks import get_task
        >>> [e.qualname for e in exercises(get_task("core-1"))][:3]
        ['linear_beta_schedule', 'cosine_beta_schedule', 'NoiseSchedule.__init__']
    """
    return [exercise for module in task.modules for exercise in _module_exercises(module)]


def solution_code(task: Task, function: str) -> str:
    """The reference's code for the learner's part of ``function``: the last rung of the hints.

    Raises:
        ValueError: if ``function`` has no exercise in ``task``.
    """
    parts = [e for e in exercises(task) if e.function == function]
    if not parts:
        names = sorted({e.function for e in exercises(task)})
        raise ValueError(
            f"function must be one of {', '.join(names)} for {task.id}; got {function!r}"
        )
    return "\n".join(
        (f"# in {e.qualname}\n" if len(parts) > 1 or "." in e.qualname else "") + e.solution
        for e in parts
    )


def _segment(lines: list[str], node: ast.AST) -> str:
    """The source of a top-level ``node`` with the comment lines right above it."""
    start = node.lineno - 1
    if getattr(node, "decorator_list", None):
        start = node.decorator_list[0].lineno - 1
    while start > 0 and lines[start - 1].lstrip().startswith("#"):
        start -= 1
    return "\n".join(lines[start : node.end_lineno]) + "\n"


def _import_block(plain: list[str], from_imports: dict[str, list[str]]) -> str:
    """Import statements grouped as isort does: standard library, third party, this package."""

    def group(module: str) -> int:
        top = module.split(".")[0]
        return 0 if top in sys.stdlib_module_names else 2 if top == "diffusion_path" else 1

    lines: dict[int, list[tuple[str, str]]] = {0: [], 1: [], 2: []}
    for module in plain:
        lines[group(module)].append((module, f"import {module}"))
    for module, names in from_imports.items():
        listed = ", ".join(sorted(names, key=str.lower))
        lines[group(module)].append((module, f"from {module} import {listed}"))
    blocks = []
    for key in (0, 1, 2):
        if lines[key]:
            blocks.append(
                "\n".join(
                    text
                    for _, text in sorted(
                        lines[key], key=lambda item: (item[1].startswith("from"), item[0])
                    )
                )
            )
    return "\n\n".join(blocks)


def _public(name: str) -> bool:
    return not name.startswith("_")


def stub_source(task: Task) -> str:
    """The text of the exercise stub of ``task``, generated from its reference modules.

    Raises:
        ValueError: if the task is not ready yet.
    """
    if not task.ready:
        raise ValueError(f"task {task.id!r} has no exercise yet: its page says what is coming")
    by_name = {e.qualname: e for e in exercises(task)}
    parsed = []
    for dotted in task.modules:
        source = inspect.getsource(importlib.import_module(dotted))
        parsed.append((dotted, source, ast.parse(source)))
    defined = {
        node.name
        for _, _, tree in parsed
        for node in tree.body
        if (isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name in by_name)
        or (isinstance(node, ast.ClassDef) and any(q.startswith(f"{node.name}.") for q in by_name))
    }
    plain: list[str] = []
    from_imports: dict[str, list[str]] = {}
    body: list[str] = []
    for dotted, source, tree in parsed:
        lines = source.splitlines()
        for node in tree.body:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    name = alias.name + (f" as {alias.asname}" if alias.asname else "")
                    plain += [name] if name not in plain else []
            elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
                for alias in node.names:
                    name = alias.name + (f" as {alias.asname}" if alias.asname else "")
                    if (alias.asname or alias.name) not in defined and name not in from_imports.get(
                        node.module, []
                    ):
                        from_imports.setdefault(node.module, []).append(name)
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [t.id for t in targets if isinstance(t, ast.Name)]
                if names and all(_public(n) and n != "__all__" for n in names):
                    body.append(_segment(lines, node))
            elif isinstance(node, ast.FunctionDef) and _public(node.name):
                if node.name in by_name:
                    body.append(by_name[node.name].stub())
                elif node.name not in from_imports.get(dotted, []):
                    from_imports.setdefault(dotted, []).append(node.name)
            elif isinstance(node, ast.ClassDef) and _public(node.name):
                body.append(_class_stub(lines, node, by_name))
    header = (
        f'"""{task.label} · {task.title}: your implementation.\n\n'
        "Write the part marked TODO in each function; the input checks above it are written for\n"
        "you, and the functions imported from diffusion_path are given. Then, from this folder, run\n\n"
        f"    diffusion-path check {task.id} --impl .\n\n"
        f"The page that explains the theory is {task.page} on the site. Stuck? Run\n"
        f"`diffusion-path hint {task.id} FUNCTION` for a hint, one level at a time.\n"
        '"""\n\nfrom __future__ import annotations\n\n'
    )
    imports = _import_block(plain, from_imports)
    given = _given_tools(plain, from_imports, defined)
    return header + imports + "\n\n" + given + "\n\n" + "\n\n".join(b.rstrip() + "\n" for b in body)


def _given_tools(plain: list[str], from_imports: dict[str, list[str]], defined: set[str]) -> str:
    """A comment listing the functions imported from this package: signature and first line each.

    The learner calls them but does not write them; the list saves a trip to the API pages (where
    the reference's code sits one click away).
    """
    lines = []
    for module, names in from_imports.items():
        if not module.startswith("diffusion_path"):
            continue
        imported = importlib.import_module(module)
        for name in names:
            if " as " in name or name in defined:
                continue
            tool = getattr(imported, name, None)
            if inspect.isfunction(tool):
                summary = (inspect.getdoc(tool) or "").splitlines()[0]
                lines.append(f"#   {name}{_short(inspect.signature(tool))}: {summary}")
            elif inspect.ismodule(tool):
                lines.append(f"#   {name}: {(tool.__doc__ or '').strip().splitlines()[0]}")
    if not lines:
        return ""
    return "# Given (imported above, not yours to write):\n" + "\n".join(lines) + "\n"


def _default(value: object) -> str:
    """A parameter's default as Python text, or ``...`` when its repr is not a short literal."""
    text = repr(value)
    try:
        ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return "..."
    return text if len(text) <= 24 else "..."


def _short(signature: inspect.Signature) -> str:
    """A signature without its annotations, to fit a comment line: ``(x, t, *, noise=None)``.

    The parameter names with their defaults and the ``/``, ``*``, ``*args`` and ``**kwargs``
    markers, so the text parses as the parameter list of a Python function (a test checks).

    Examples:
        >>> def f(
        ...     a, b: tuple[int, ...] = (1, 2), /, c=None, *, d: "Callable[[int], int]" = abs
        ... ): ...
        >>> _short(inspect.signature(f))
        '(a, b=(1, 2), /, c=None, *, d=...)'
    """
    stripped = signature.replace(
        parameters=[
            p.replace(annotation=inspect.Parameter.empty) for p in signature.parameters.values()
        ],
        return_annotation=inspect.Signature.empty,
    )
    parameters = list(stripped.parameters.values())
    parts = []
    star = False
    for i, parameter in enumerate(parameters):
        kind = parameter.kind
        if kind is inspect.Parameter.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        if kind is inspect.Parameter.VAR_POSITIONAL:
            parts.append(f"*{parameter.name}")
            star = True
        elif kind is inspect.Parameter.VAR_KEYWORD:
            parts.append(f"**{parameter.name}")
        elif parameter.default is inspect.Parameter.empty:
            parts.append(parameter.name)
        else:
            parts.append(f"{parameter.name}={_default(parameter.default)}")
        last_positional = i + 1 == len(parameters) or parameters[i + 1].kind is not kind
        if kind is inspect.Parameter.POSITIONAL_ONLY and last_positional:
            parts.append("/")
    return "(" + ", ".join(parts) + ")"


def _class_stub(lines: list[str], node: ast.ClassDef, by_name: dict[str, Exercise]) -> str:
    """A class with the learner's part of each marked method taken out."""
    text = _segment(lines, node)
    offset = (node.decorator_list[0].lineno if node.decorator_list else node.lineno) - 1
    while offset > 0 and lines[offset - 1].lstrip().startswith("#"):
        offset -= 1
    for item in reversed(node.body):
        if not isinstance(item, ast.FunctionDef):
            continue
        exercise = by_name.get(f"{node.name}.{item.name}")
        if exercise is None:
            continue
        class_lines = text.splitlines()
        start = (item.decorator_list[0].lineno if item.decorator_list else item.lineno) - 1 - offset
        stop = item.end_lineno - offset
        class_lines[start:stop] = exercise.stub().rstrip("\n").splitlines()
        text = "\n".join(class_lines) + "\n"
    return text


def write_stubs(
    directory: str | Path, tasks: list[Task] | None = None
) -> tuple[list[Path], list[Path]]:
    """Write the stubs of ``tasks`` (default: every ready task) into ``directory``.

    Returns:
        ``(written, kept)``: the files created, and those left alone because they exist.

    Raises:
        ValueError: if ``directory`` is a file.
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"directory must be a folder, got the file {str(directory)!r}")
    directory.mkdir(parents=True, exist_ok=True)
    written, kept = [], []
    for task in tasks if tasks is not None else [t for t in TASKS if t.ready]:
        path = directory / task.exercise_file
        if path.exists():
            kept.append(path)
            continue
        path.write_text(stub_source(task), encoding="utf-8")
        written.append(path)
    return written, kept
