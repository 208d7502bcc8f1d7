"""The S3 secret stored in, and read from, a real OS keyring: GNOME Keyring (Secret Service)
in its own D-Bus session. The secret never appears in configuration, journal or log."""

import json
import os
import shutil
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(sys.platform != "linux" or not shutil.which("dbus-run-session")
                                 or not shutil.which("gnome-keyring-daemon"),
                                 reason="needs dbus-run-session and gnome-keyring-daemon "
                                        "(.ci/run installs them)")]

SCRIPT = r"""
set -e
echo -n unlock-pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null
printf '%s\n' "$DU_TEST_SECRET" | "$PY" -m datauploader --config "$CFG" credentials set s3t --secret-stdin
unset DU_TEST_SECRET
"$PY" -m datauploader credentials backend
"$PY" -m datauploader --config "$CFG" upload --json --proposal P --dataset D "$DATA"
"""


def test_s3_secret_from_the_real_os_keyring(tmp_path, s3_server, s3_bucket):
    data = tmp_path / "data"
    data.mkdir()
    (data / "x.bin").write_bytes(os.urandom(2000))
    cfg = tmp_path / "k.ini"
    cfg.write_text("[settings]\ndefault_profile = s3\n[profile:s3]\ncatalogue = local\n"
                   f"storage = s3t\n[storage:s3t]\ntype = s3\nendpoint_url = "
                   f"{s3_server.endpoint_url}\nbucket = {s3_bucket}\n"
                   f"access_key_id = {s3_server.access_key}\n")
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON_KEYRING"))}
    env.update({"DATAUPLOADER_HOME": str(home), "DU_TEST_SECRET": s3_server.secret_key,
                "PY": sys.executable, "CFG": str(cfg), "DATA": str(data),
                "DATAUPLOADER_SYSTEM_CONFIG": str(tmp_path / "none.ini"),
                "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
                "AWS_CONFIG_FILE": str(tmp_path / "none"), "HOME": str(tmp_path)})
    r = subprocess.run(["dbus-run-session", "--", "sh", "-c", SCRIPT], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("Stored the secret for DUTESTACCESSKEY")
    assert lines[1] == "keyring.backends.SecretService.Keyring"
    result = json.loads("\n".join(lines[2:]))
    assert result["state"] == "completed" and result["files_ok"] == 1
    # nowhere on disk in our files: configuration, journal, local catalogue, logs
    secret = s3_server.secret_key.encode()
    for path in [cfg, *home.rglob("*")]:
        if path.is_file():
            assert secret not in path.read_bytes(), path
