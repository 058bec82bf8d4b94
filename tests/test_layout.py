"""The package's layout: the method at the top of glandseg, the book's reporting in glandseg.report.

Imports flow one way. ``glandseg.report`` may import the method; no method module imports
``glandseg.report`` or matplotlib, anywhere in its source (functions included), so the method
runs and is tested without the book's plotting stack. ``cli`` and ``demo`` sit on top of
both: they may import them, but only inside a function, never when they are imported. Every
report module's docstring names the book page(s) it serves.
"""

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "glandseg"
BOOK = PACKAGE.parent / "book"

#: Modules on top of the method and the report: they may import either, inside functions only.
ENTRY_POINTS = ("cli.py", "demo.py")
METHOD_MODULES = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in ENTRY_POINTS)
REPORT_MODULES = sorted(p.name for p in (PACKAGE / "report").glob("*.py"))
FORBIDDEN = ("glandseg.report", "matplotlib")


def _forbidden(name):
    """Whether a dotted module name is glandseg.report, matplotlib or inside them."""
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


def _imported(node):
    """The absolute module names an import statement (in a top-level glandseg module) loads."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level > 1:  # above the package: nothing of glandseg's
            return []
        base = ("glandseg" + (f".{node.module}" if node.module else "")) if node.level == 1 else node.module
        return [base] + [f"{base}.{alias.name}" for alias in node.names]
    if isinstance(node, ast.Call):  # importlib.import_module("...") and __import__("...")
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            return [str(node.args[0].value)]
    return []


def forbidden_imports(source, *, module_level_only=False):
    """``(line, module)`` of every import of glandseg.report or matplotlib in ``source``.

    With ``module_level_only``, imports inside a function or lambda are allowed (the lazy
    imports of an entry point); imports at module level, in ``if``/``try`` blocks or class
    bodies included, are not.
    """
    tree = ast.parse(source)
    found = []

    def visit(node, in_function):
        if not (module_level_only and in_function):
            bad = [name for name in _imported(node) if _forbidden(name)]
            if bad:
                found.append((node.lineno, bad[0]))
        inside = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    for node in tree.body:
        visit(node, False)
    return sorted(set(found))


@pytest.mark.parametrize("name", METHOD_MODULES)
def test_method_modules_import_neither_report_nor_matplotlib(name):
    found = forbidden_imports((PACKAGE / name).read_text())
    assert not found, (
        f"glandseg/{name} imports {', '.join(f'{m} (line {line})' for line, m in found)}; the method must not "
        f"import the book's reporting or matplotlib. Move that code into glandseg/report/."
    )


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_entry_points_import_report_only_inside_functions(name):
    found = forbidden_imports((PACKAGE / name).read_text(), module_level_only=True)
    assert not found, (
        f"glandseg/{name} imports {', '.join(f'{m} (line {line})' for line, m in found)} at module level; "
        f"import it inside the function that needs it."
    )


@pytest.mark.parametrize("name", REPORT_MODULES)
def test_report_module_docstring_names_its_book_page(name):
    doc = ast.get_docstring(ast.parse((PACKAGE / "report" / name).read_text())) or ""
    pages = re.findall(r"book/([\w-]+)\.md", doc)
    assert pages, f"the docstring of glandseg/report/{name} names no book page (write e.g. book/results.md)"
    missing = [p for p in pages if not (BOOK / f"{p}.md").is_file()]
    assert not missing, f"glandseg/report/{name} names book pages that do not exist: {missing}"


def test_the_layout_has_both_halves():
    assert {"data.py", "model.py", "train.py", "metrics.py"} <= set(METHOD_MODULES)
    assert {"__init__.py", "analysis.py", "tables.py"} <= set(REPORT_MODULES)
    # no module left at its old, flat place
    assert not {"analysis.py", "ceiling.py", "sensitivity.py", "figures.py"} & set(METHOD_MODULES)


@pytest.mark.parametrize("source", [
    "import glandseg.report",
    "import glandseg.report.analysis as a",
    "from glandseg import report",
    "from glandseg import data, report",
    "from glandseg.report import analysis",
    "from glandseg.report.tables import Table",
    "from . import report",
    "from .report.analysis import claims",
    "import matplotlib",
    "import matplotlib.pyplot as plt",
    "from matplotlib import pyplot",
    "from matplotlib.patches import Rectangle",
    "import importlib\nimportlib.import_module('glandseg.report.analysis')",
    "def f():\n    import matplotlib.pyplot as plt",
    "class A:\n    def f(self):\n        from glandseg.report import ceiling",
    "try:\n    import matplotlib\nexcept ImportError:\n    pass",
])
def test_forbidden_imports_are_found_in_any_form(source):
    assert forbidden_imports(source)


@pytest.mark.parametrize("source", [
    "from glandseg import data, metrics",
    "import glandseg.results",
    "from glandseg.reporting import x",  # a different name that starts alike
    "import matplotlibx",
    "from .results import load_records",
    "x = 'glandseg.report'",
])
def test_allowed_imports_pass(source):
    assert forbidden_imports(source) == []


def test_entry_points_may_import_lazily_only():
    lazy = "def main():\n    from glandseg.report import ceiling\n    import matplotlib\n"
    assert forbidden_imports(lazy, module_level_only=True) == []
    assert forbidden_imports("from glandseg.report import ceiling", module_level_only=True) == [(1, "glandseg.report")]
    assert forbidden_imports("if True:\n    import matplotlib", module_level_only=True) == [(2, "matplotlib")]
