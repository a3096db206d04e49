"""The package's layer order (its docstring) holds for every import of every module."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nmrpeak_cli

PACKAGE = Path(nmrpeak_cli.__file__).parent


def _layers() -> dict[str, int]:
    """Top-level unit (module or subpackage) → layer number, read from the package docstring."""
    layers = {}
    for number, names in re.findall(r"^(\d+)\. (.+?) — ", nmrpeak_cli.__doc__ or "", re.M):
        for name in re.findall(r"``(\w+)``", names):
            layers[name] = int(number)
    return layers


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every import in ``path``: top level, lazy and TYPE_CHECKING ones."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.append((node.lineno, module))
    return [(line, m) for line, m in found if m == "nmrpeak_cli" or m.startswith("nmrpeak_cli.")]


def _unit(module: str) -> str | None:
    """``nmrpeak_cli.retrieve.search`` → ``retrieve``; the package itself → ``None``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_the_docstring_lists_every_top_level_module_once() -> None:
    layers = _layers()
    units = {p.stem for p in PACKAGE.glob("*.py") if p.name != "__init__.py"}
    units |= {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert set(layers) == units, (
        f"not in a layer: {sorted(units - set(layers))}; "
        f"listed but absent: {sorted(set(layers) - units)}"
    )
    assert layers["cli"] == max(layers.values()), "cli is the top layer"


def test_no_module_imports_from_a_higher_layer_or_cli() -> None:
    layers = _layers()
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _unit(_module_name(path))
        if source is None:  # the package's public façade may name anything (lazily)
            continue
        for line, module in _imports(path):
            target = _unit(module)
            if target is None or target == source:
                continue
            where = f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}"
            if target == "cli":
                problems.append(f"{where} (only cli may import cli)")
            elif layers[target] > layers[source]:
                problems.append(
                    f"{where} (layer {layers[target]} {target} is above "
                    f"layer {layers[source]} {source})"
                )
    assert not problems, "upward imports:\n" + "\n".join(problems)


def test_the_checker_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    """The parser itself: a function-level import and a package's own imports are both found."""
    module = PACKAGE / "io" / "records.py"
    lazy = [m for _, m in _imports(module)]
    assert "nmrpeak_cli.schema" in lazy, lazy
    init = PACKAGE / "io" / "__init__.py"
    assert "nmrpeak_cli.io.registry" in [m for _, m in _imports(init)]
