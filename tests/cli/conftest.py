import io
import os
from dataclasses import dataclass

import pytest

from datauploader.cli.main import main


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def json(self):
        import json
        return json.loads(self.out)

    @property
    def failed(self) -> list[dict]:
        """The failed files' rows of the job document printed with --json."""
        return [f for f in self.json["files"] if f["state"] == "failed"]


@pytest.fixture
def home(tmp_path):
    return tmp_path / "home"


@pytest.fixture
def cli(home, tmp_path):
    """Run ``datauploader`` in-process with an injected environment (no keyring, no user
    files, a private home); returns exit code and captured output."""
    base_env = {"DATAUPLOADER_HOME": str(home),
                "DATAUPLOADER_SYSTEM_CONFIG": str(tmp_path / "no-system.ini"),
                "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
                "PATH": os.environ.get("PATH", "")}

    def run(*argv, env=None):
        out, err = io.StringIO(), io.StringIO()
        code = main(list(map(str, argv)), {**base_env, **(env or {})}, out, err)
        return Result(code, out.getvalue(), err.getvalue())

    run.env = base_env
    return run


@pytest.fixture
def data(tmp_path):
    root = tmp_path / "data" / "run1"
    (root / "sub").mkdir(parents=True)
    files = {"a.h5": os.urandom(5000), "sub/b.cbf": os.urandom(70000), "empty.txt": b"",
             "with space #1 100%?.txt": b"odd name", "unicodé ✓.dat": b"unicode"}
    for rel, content in files.items():
        (root / rel).write_bytes(content)
    return root
