"""The layers hold: the import contracts in pyproject.toml ([tool.importlinter]) are checked on
every test run, so a module that reaches across a layer fails here, naming the import chain."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_import_contracts_are_kept():
    lint = os.path.join(os.path.dirname(sys.executable), "lint-imports")
    r = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout



def test_no_product_module_is_over_600_lines():
    """Small modules with one job each: a reader finds things from the file names alone."""
    big = []
    for folder, _, files in os.walk(os.path.join(ROOT, "datauploader")):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8") as f:
                    lines = sum(1 for _ in f)
                if lines > 600:
                    big.append(f"{os.path.relpath(path, ROOT)} ({lines} lines)")
    assert not big, "split these modules: " + ", ".join(big)
