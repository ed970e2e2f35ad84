"""The estimate package stays numpy/scipy-only and exports what it documents."""

import ast
import sys
from pathlib import Path

import memlens.estimate as est

ALLOWED = {"numpy", "scipy"} | set(sys.stdlib_module_names)
FORBIDDEN_STDLIB = {"os", "io", "pathlib", "pickle", "json", "shutil", "subprocess"}  # no I/O


def test_imports_are_numpy_scipy_or_stdlib_only():
    root = Path(est.__file__).parent
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in ALLOWED and top not in FORBIDDEN_STDLIB, f"{path.name} imports {name}"


def test_public_api_is_exported_and_documented():
    for name in est.__all__:
        obj = getattr(est, name)
        doc = obj.__doc__ or ""
        assert doc.strip(), name
        if callable(obj) and not isinstance(obj, type):
            assert "Example" in doc and ">>>" in doc, f"{name} lacks a doctest example"
