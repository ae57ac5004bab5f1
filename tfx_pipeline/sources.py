"""The project sources a component's code depends on, and their fingerprint.

Transform and Trainer are referenced by dotted name (``preprocessing_fn``,
``run_fn``), which TFX's cache key does not cover. Their custom_config carries a
fingerprint of every project module their entry module imports, directly or
through other project modules (found by reading the import statements, so
nothing is kept by hand and nothing heavy is imported to find them); a code
change then re-runs them, and only them and what depends on them.
"""
from __future__ import annotations

import ast
import hashlib
import os
from typing import Iterable, List, Optional

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: The project's top-level packages; imports of anything else are libraries.
PACKAGES = ("bertrec", "serving", "tfx_pipeline", "trainer", "transforms")


def module_path(name: str, project_dir: str = PROJECT_DIR) -> Optional[str]:
    """The file of project module ``name`` (dotted), None if it is not one."""
    if name.split(".")[0] not in PACKAGES:
        return None
    base = os.path.join(project_dir, *name.split("."))
    for candidate in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(candidate):
            return candidate
    return None


def _imported(path: str, module: str) -> List[str]:
    """Dotted names the module at ``path`` (named ``module``) imports: every
    ``import a.b``, ``from a import b`` (as ``a`` and ``a.b``, b may be a
    submodule) and relative import, resolved."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=path)
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(parent + ([base] if base else []))
            names.append(base)
            names += [f"{base}.{alias.name}" for alias in node.names]
    return names


def dependencies(modules: Iterable[str], project_dir: str = PROJECT_DIR) -> List[str]:
    """Files (relative to the project) of ``modules`` and every project module
    they import, transitively, with the packages' ``__init__.py`` files (which
    importing a module runs)."""
    seen, queue = set(), list(modules)
    while queue:
        name = queue.pop()
        parts = name.split(".")
        # Importing a.b.c runs a/__init__.py and a/b/__init__.py first.
        for prefix in [".".join(parts[: i + 1]) for i in range(len(parts))]:
            path = module_path(prefix, project_dir)
            if path is None or path in seen:
                continue
            seen.add(path)
            queue += _imported(path, prefix)
    return sorted(os.path.relpath(p, project_dir) for p in seen)


def fingerprint(modules: Iterable[str], project_dir: str = PROJECT_DIR) -> str:
    """Hash of the sources ``dependencies`` finds for ``modules``."""
    digest = hashlib.sha256()
    for relative in dependencies(modules, project_dir):
        digest.update(relative.encode())
        with open(os.path.join(project_dir, relative), "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:16]
