"""Benchmarks: measurements of speed and quality that the pages show, rerun by anyone with one command.

A benchmark is a module of this package, named in ``BENCHMARKS``, that defines

- ``SUMMARY``: what it measures, in a line;
- ``run(**options) -> dict``: the measurement, with small defaults, returned as JSON-ready data:
  ``"rows"`` (one dict per measured setting) and ``"settings"`` (what was run), to which
  [`run`][diffusion_path.bench.run] adds the benchmark's name, the date and the machine;
- ``validate(result)``: raises ``ValueError`` if ``result`` is not what ``run`` returns;
- ``table(result) -> str`` and ``figure(result) -> Figure``: the Markdown table and the
  matplotlib figure made from a result, with no computing of their own.

``diffusion-path bench NAME --save`` runs one and writes its result to
``docs/_stored/bench/NAME.json``; a page shows it where it writes ``<!-- bench: NAME -->``
(``docs/_hooks/site.py`` puts the table and the figure there, made from the saved file), so the
numbers on a page are never typed in, and always say on which machine they were measured.

Examples:
    >>> "ddim" in names()
    True
    >>> sorted(machine())
    ['cores', 'cpu', 'load', 'platform', 'python', 'threads', 'torch']
"""

from __future__ import annotations

import datetime
import importlib
import inspect
import json
import os
import platform
from pathlib import Path
from types import ModuleType

__all__ = [
    "BENCHMARKS",
    "STORED",
    "check_fields",
    "check_root",
    "figure",
    "get",
    "load",
    "machine",
    "names",
    "run",
    "save",
    "stored_path",
    "table",
]

#: The benchmarks, by name: the module of this package that defines each.
BENCHMARKS = {
    "ddim": "diffusion_path.bench.ddim",
    "recipe": "diffusion_path.bench.recipe",
    "train": "diffusion_path.bench.train",
    "sample": "diffusion_path.bench.sample",
    "project": "diffusion_path.bench.project",
}
#: Where ``--save`` writes a result, relative to the repository's root.
STORED = Path("docs") / "_stored" / "bench"


def names() -> list[str]:
    """The names of the benchmarks, in the order ``diffusion-path bench --list`` prints them."""
    return list(BENCHMARKS)


def get(name: str) -> ModuleType:
    """The module of benchmark ``name``.

    Raises:
        ValueError: if no benchmark has that name; the message lists them.

    Examples:
        >>> get("ddim").SUMMARY.startswith("DDPM")
        True
    """
    if name not in BENCHMARKS:
        raise ValueError(f"name must be one of {', '.join(BENCHMARKS)}; got {name!r}")
    return importlib.import_module(BENCHMARKS[name])


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _load() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # not on every OS
        return None


def machine() -> dict:
    """Where a benchmark runs: the CPU model, its cores, PyTorch's version and threads, Python, the OS.

    ``load`` is the load average over the last minute (``None`` where the OS has none): the number
    of processes that wanted a core, so a value above ``cores`` says that the times were taken on a
    busy machine.
    """
    import torch

    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count() or 1,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "load": _load(),
    }


def run(name: str, **options: object) -> dict:
    """Run benchmark ``name`` with ``options``; its result with the name, the date and the machine.

    Args:
        name: One of ``names()``.
        **options: Keyword arguments of the benchmark's ``run`` (``None`` values are left out,
            so the benchmark's defaults apply).

    Returns:
        The benchmark's result, with ``"benchmark"``, ``"date"`` (UTC, ISO 8601) and
        ``"machine"`` (``machine()``) added.

    Raises:
        ValueError: if ``name`` is unknown, an option is not one the benchmark takes, or the
            benchmark rejects a value.
    """
    module = get(name)
    accepted = inspect.signature(module.run).parameters
    given = {key: value for key, value in options.items() if value is not None}
    for key in given:
        if key not in accepted:
            raise ValueError(
                f"{key} is not an option of benchmark {name!r}; it takes "
                f"{', '.join(accepted) or 'none'}"
            )
    started = datetime.datetime.now(datetime.timezone.utc)
    where = machine()  # the load before the benchmark adds its own
    result = module.run(**given)
    result = {
        "benchmark": name,
        "date": started.isoformat(timespec="seconds"),
        "machine": where,
        **result,
    }
    module.validate(result)
    return result


def stored_path(name: str, root: str | Path = ".") -> Path:
    """Where the saved result of benchmark ``name`` lives under the repository ``root``.

    Examples:
        >>> stored_path("ddim").as_posix()
        'docs/_stored/bench/ddim.json'
    """
    get(name)
    return Path(root) / STORED / f"{name}.json"


def check_root(root: str | Path = ".") -> Path:
    """``root`` as a path, if it is the repository's root (it holds ``docs/_stored``).

    Raises:
        ValueError: if it is not.
    """
    if not (Path(root) / STORED.parent).is_dir():
        raise ValueError(
            f"root must be the repository's root, which holds {STORED.parent.as_posix()}; "
            f"got {str(Path(root).resolve())!r} (run the command from there to --save)"
        )
    return Path(root)


def save(result: dict, root: str | Path = ".") -> Path:
    """Write ``result`` to ``docs/_stored/bench/<name>.json`` under the repository ``root``.

    Raises:
        ValueError: if ``root`` holds no ``docs/_stored`` folder (not the repository's root), or
            ``result`` is not a valid result of its benchmark.
    """
    name = result.get("benchmark") if isinstance(result, dict) else None
    get(str(name)).validate(result)
    check_root(root)
    path = stored_path(str(name), root)
    path.parent.mkdir(exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    os.replace(temporary, path)
    return path


def load(name: str, root: str | Path = ".") -> dict:
    """The saved result of benchmark ``name``, checked by the benchmark's ``validate``.

    Raises:
        ValueError: if ``name`` is unknown, or the file is missing or not a valid result.
    """
    path = stored_path(name, root)
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(
            f"name {name!r} has no saved result at {path.as_posix()} ({error}); "
            f"run `diffusion-path bench {name} --save`"
        ) from error
    get(name).validate(result)
    return result


def table(result: dict) -> str:
    """The Markdown table of a result (the benchmark's ``table``)."""
    return get(str(result.get("benchmark"))).table(result)


def figure(result: dict):
    """The matplotlib figure of a result (the benchmark's ``figure``)."""
    return get(str(result.get("benchmark"))).figure(result)


def check_fields(
    result: object,
    name: str,
    fields: dict[str, type],
    keys: dict[str, tuple[str, ...]] | None = None,
) -> dict:
    """``result`` if it is a dict with the registry's fields for benchmark ``name`` and ``fields``.

    The part of every benchmark's ``validate`` that is the same for all: ``result`` is a dict,
    ``"benchmark"`` is ``name``, ``"date"`` a string, ``"machine"`` what ``machine()`` records,
    ``"settings"`` a dict, each key of ``fields`` holds a value of its type, and each dict named
    in ``keys`` holds the keys listed for it.

    Raises:
        ValueError: naming the field that is missing or wrong.

    Examples:
        >>> check_fields({"benchmark": "x", "date": "", "machine": {}, "settings": {}}, "x", {})
        Traceback (most recent call last):
        ...
        ValueError: result must be a result of benchmark 'x': 'machine' lacks 'cpu'
    """

    def fail(problem: str) -> None:
        raise ValueError(f"result must be a result of benchmark {name!r}: {problem}")

    if not isinstance(result, dict):
        fail(f"a dict, got {type(result).__name__}")
    expected = {"benchmark": str, "date": str, "machine": dict, "settings": dict, **fields}
    for key, kind in expected.items():
        if not isinstance(result.get(key), kind):
            fail(f"{key!r} must be a {kind.__name__}, got {result.get(key)!r:.60}")
    if result["benchmark"] != name:
        fail(f"'benchmark' is {result['benchmark']!r}")
    required = {"machine": ("cpu", "cores", "threads", "torch"), **(keys or {})}
    for field, names in required.items():
        for key in names:
            if key not in result[field]:
                fail(f"{field!r} lacks {key!r}")
    return result
