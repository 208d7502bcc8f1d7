"""paramiko, imported without invoke: every module of this package takes it from here.

paramiko's ssh_config support imports invoke, which brings asyncio and unittest.mock along:
30 ms of every start, for ``Match exec`` lines DataUploader never reads (paramiko catches the
ImportError). The block holds for that one import; invoke stays importable.
"""

from __future__ import annotations

import sys


def _import_paramiko():
    if "paramiko" in sys.modules or "invoke" in sys.modules:
        return __import__("paramiko")
    sys.modules["invoke"] = None
    try:
        return __import__("paramiko")
    finally:
        del sys.modules["invoke"]


paramiko = _import_paramiko()
