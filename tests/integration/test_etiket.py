"""Whole jobs from the command line to etiket (the ``etiket`` catalogue and storage of one
``--profile etiket``) against the etiket emulator: datasets in the user's scopes with their
uuid, alt_uid, ranking, keywords and attributes, files as versions uploaded to pre-signed URLs
(single part, and multipart with the server's part size) and validated by the server, the
thumbnail, collections; and what can go wrong: limits broken (said before anything is sent),
a store that damages a file (that file fails, the rest go on), expired links (fetched again),
tokens that expire (renewed), a kill at any moment (the resume leaves exactly one version of
each file, secured).

etiket's own client is proprietary (its licence allows viewing only), so the emulator checks
every request against models written from the documented protocol instead.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_kill_and_resume import wait_for
from tests.servers.etiket_emulator import EtiketServer

pytestmark = pytest.mark.integration

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + os.urandom(200)
SCOPE = "qlab-cooldown-7"


@pytest.fixture(scope="module")
def etiket(tmp_path_factory):
    server = EtiketServer(tmp_path_factory.mktemp("etiket"), part_size=1 << 20)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def rig(etiket, tmp_path):
    etiket.control("reset")

    def make(settings: str = "", catalogue: str = "", storage: str = "") -> Path:
        config = tmp_path / "etiket.ini"
        config.write_text(
            "[settings]\ndefault_profile = etiket\nretry_max_delay = 0.2\n" + settings +
            "\n[profile:etiket]\ncatalogue = etiket\nstorage = etiket-files\n"
            + etiket.catalogue_ini("etiket", catalogue) +
            "\n[storage:etiket-files]\ntype = etiket\ncatalogue = etiket\n"
            "multipart_threshold = 1M\n" + storage)
        return config
    make.server = etiket
    return make


@pytest.fixture
def run_dir(tmp_path):
    root = tmp_path / "acq" / "run_42"
    (root / "sub").mkdir(parents=True)
    for i in range(6):
        (root / f"trace_{i}.h5").write_bytes(os.urandom(4000 + i))
    (root / "sub" / "notes.txt").write_text("fridge at 12 mK\n")
    (root / "big.bin").write_bytes(os.urandom((2 << 20) + 4321))  # three parts of 1 MiB
    (root / "preview.jpg").write_bytes(JPEG)
    return root


def upload(cli, config, run_dir, *extra, password="alice-password", user="alice"):
    return cli("--config", config, "upload", "--profile", "etiket", "--proposal", SCOPE,
               "--dataset", "run 42", "--username", user, *extra, run_dir,
               env={"DATAUPLOADER_PASSWORD": password})


def expected(root: Path) -> dict[str, bytes]:
    return {f"{root.name}/{p.relative_to(root).as_posix()}": p.read_bytes()
            for p in root.rglob("*") if p.is_file()}


def the_dataset(server) -> dict:
    (ds,) = server.state()["datasets"]
    return ds


def assert_each_file_once_secured(server, root: Path) -> dict:
    """One dataset; each file exactly one version, secured, its MD5 and bytes ours."""
    ds = the_dataset(server)
    files = [f for f in ds["files"] if not f["name"].startswith("__thumbnail_")]
    assert sorted(f["name"] for f in files) == sorted(expected(root)), "one version each"
    for f in files:
        local = expected(root)[f["name"]]
        assert f["status"] == "secured" and f["md5_checksum"] == hashlib.md5(local).hexdigest()
        assert server.stored(f["uuid"], f["version_id"]) == local
        assert f["filename"] == f["name"].rsplit("/", 1)[-1] and f["immutable"] is True
    assert ds["attributes"].get("datauploader") == "complete"
    return ds


# ------------------------------------------------------------------------------ scenarios
def test_a_whole_job_from_the_command_line(rig, cli, run_dir):
    config = rig()
    r = upload(cli, config, run_dir, "--json", "--description", "cooldown 7, run 42",
               "--keyword", "spin-qubit", "--meta", "alt_uid=run-0042", "--meta", "ranking=2",
               "--meta", "sample=flake-A")
    assert r.code == 0, r.err + r.out
    assert r.json["state"] == "completed" and r.json["files_ok"] == 9
    server = rig.server
    ds = assert_each_file_once_secured(server, run_dir)
    assert ds["name"] == "run 42" and ds["alt_uid"] == "run-0042" and ds["ranking"] == 2
    assert ds["keywords"] == ["spin-qubit"] and ds["description"] == "cooldown 7, run 42"
    assert ds["attributes"] == {"sample": "flake-A", "datauploader": "complete"}
    assert ds["scope"]["name"] == SCOPE and ds["creator"] == "alice"
    by_name = {f["name"]: f for f in r.json["files"]}
    assert "parts-md5+validated-md5" == by_name["run_42/big.bin"]["verified_by"]
    assert by_name["run_42/trace_0.h5"]["verified_by"] == "etag-md5+validated-md5"
    (thumb,) = [f for f in ds["files"] if f["name"] == "__thumbnail_0"]
    assert thumb["status"] == "secured" and thumb["ranking"] == -1
    assert thumb["filename"] == "__thumbnail_0.jpg"
    assert server.stored(thumb["uuid"], thumb["version_id"]) == JPEG
    calls = server.calls("/api/v2/file/presigned_link", "GET")
    assert len(calls) == 1, "one multipart link request for the one large file"

    again = upload(cli, config, run_dir, "--json")  # the same again: found, nothing sent
    assert again.code == 0 and again.json["bytes_sent"] == 0, again.err
    assert_each_file_once_secured(server, run_dir)

    r = cli("--config", config, "verify", "1", "--username", "alice",  # read back: the links
            env={"DATAUPLOADER_PASSWORD": "alice-password"})
    assert r.code == 0, r.err + r.out


def test_limits_are_checked_before_anything_is_sent(rig, cli, run_dir):
    config = rig()
    r = upload(cli, config, run_dir, "--meta", "fridge=" + "x" * 25)
    assert r.code == 2, r.err
    assert "2 to 20 characters" in r.err and "fridge" in r.err
    r = upload(cli, config, run_dir, "--meta", "ranking=high")
    assert r.code == 2 and "ranking is a whole number" in r.err
    r = upload(cli, config, run_dir, "--keyword", "x")
    assert r.code == 2 and "keywords" in r.err
    assert rig.server.calls(".*", "POST") == [], "nothing was sent"


def test_a_damaged_file_fails_alone_then_resume_secures_it(rig, cli, run_dir):
    config = rig()
    rig.server.control("store", corrupt=["run_42/trace_3.h5"])
    r = upload(cli, config, run_dir, "--json")
    assert r.code == 4, r.err + r.out
    (failed,) = r.failed
    assert failed["name"] == "run_42/trace_3.h5" and "MD5" in failed["error"]
    ds = the_dataset(rig.server)
    assert {f["name"]: f["status"] for f in ds["files"]}["run_42/trace_3.h5"] == "pending"

    rig.server.control("store", corrupt=[])
    r = cli("--config", config, "resume", "1", "--json", "--username", "alice",
            env={"DATAUPLOADER_PASSWORD": "alice-password"})
    assert r.code == 0, r.err + r.out
    assert_each_file_once_secured(rig.server, run_dir)


def test_the_servers_validation_refusal_fails_the_file(rig, cli, run_dir):
    """A store that states no ETag: only the server's MD5 check can see the damage."""
    config = rig()
    rig.server.control("store", corrupt=["run_42/sub/notes.txt"], no_etag=True)
    r = upload(cli, config, run_dir, "--json")
    assert r.code == 4, r.err + r.out
    (failed,) = r.failed
    assert failed["name"] == "run_42/sub/notes.txt" and "did not validate" in failed["error"]
    validations = rig.server.calls("/api/v2/file/validate_upload/single_part", "POST")
    assert [c["status"] for c in validations].count(400) == 1


def test_expired_links_are_asked_for_again(rig, cli, run_dir):
    config = rig()
    rig.server.control("links", expire_next=3)  # the first three links are already expired
    r = upload(cli, config, run_dir, "--json")
    assert r.code == 0, r.err + r.out
    puts = rig.server.calls("/store/.*", "PUT")
    assert [c["status"] for c in puts].count(403) == 3
    assert_each_file_once_secured(rig.server, run_dir)


def test_an_expiring_access_token_is_renewed(rig, cli, run_dir):
    config = rig("workers = 1\nbandwidth_limit = 512k\n")
    rig.server.control("tokens", expires_in=2)
    r = upload(cli, config, run_dir, "--json")
    assert r.code == 0, r.err + r.out
    grants = rig.server.calls("/api/v3/token", "POST")
    assert len(grants) >= 2 and all(c["status"] == 200 for c in grants), grants
    used = rig.server.state()["refresh_tokens"]
    assert list(used.values()).count(False) == 1, "each refresh token spent once, the last kept"
    assert_each_file_once_secured(rig.server, run_dir)


def test_wrong_password_and_someone_elses_scope(rig, cli, run_dir):
    config = rig()
    r = upload(cli, config, run_dir, password="not-it")
    assert r.code == 3 and "did not accept the user name or password" in r.err
    assert "not-it" not in r.err
    r = cli("--config", config, "upload", "--proposal", "bobs-own-scope", "--dataset", "x",
            "--username", "alice", run_dir, env={"DATAUPLOADER_PASSWORD": "alice-password"})
    assert r.code == 2 and "bobs-own-scope is not in" in r.err, r.err
    assert rig.server.state()["datasets"] == []


def test_an_api_token_login(rig, cli, run_dir):
    config = rig(catalogue="auth = token\n")
    r = cli("--config", config, "upload", "--proposal", SCOPE, "--dataset", "run 42", run_dir,
            env={"DATAUPLOADER_TOKEN": "api-token-of-alice-0123456789"})
    assert r.code == 0, r.err + r.out
    assert_each_file_once_secured(rig.server, run_dir)
    r = cli("--config", config, "login", env={"DATAUPLOADER_TOKEN": "revoked"})
    assert r.code == 3 and "did not accept the API token" in r.err


def test_collections_where_the_server_has_them(rig, cli, run_dir, tmp_path):
    config = rig()
    r = upload(cli, config, run_dir, "--meta", "collection=cooldown-7")
    assert r.code == 0, r.err + r.out
    ds = the_dataset(rig.server)
    (c,) = rig.server.state()["collections"]
    assert (c["name"], c["scope"], c["datasets"]) == ("cooldown-7", SCOPE, [ds["uuid"]])

    old = EtiketServer(tmp_path / "no-collections", collections=False).start()
    try:
        config = tmp_path / "old.ini"
        config.write_text(rig().read_text().replace(rig.server.url, old.url))
        r = upload(cli, config, run_dir, "--meta", "collection=cooldown-7")
        assert r.code == 2 and "has no collections" in r.err, r.err
        assert old.state()["datasets"] == [], "refused before the dataset was made"
    finally:
        old.stop()


def test_kill_at_any_moment_then_resume_leaves_one_version_each(rig, cli, run_dir):
    config = rig("workers = 1\nbandwidth_limit = 400k\n")
    server = rig.server
    env = {**os.environ, **cli.env, "DATAUPLOADER_PASSWORD": "alice-password"}
    argv = [sys.executable, "-m", "datauploader", "--config", str(config)]
    moments = [  # killed right after: a version registered, a link handed out, one secured
        lambda: len(server.calls("/api/v2/file", "POST")) >= 2,
        lambda: len(server.calls("/api/v2/file/presigned_link.*", "GET")) >= 4,
        lambda: len(server.calls("/api/v2/file/validate_upload.*", "POST")) >= 6,
    ]
    proc = subprocess.Popen(argv + ["upload", "--profile", "etiket", "--username", "alice",
                                    "--proposal", SCOPE, "--dataset", "run 42", str(run_dir)],
                            env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    for moment in moments:
        wait_for(moment, what="the moment to kill", proc=proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        proc = subprocess.Popen(argv + ["resume", "1", "--username", "alice"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    ds = assert_each_file_once_secured(server, run_dir)
    creates = server.calls("/api/v2/file", "POST")
    assert len([c for c in creates if c["status"] == 201]) == len(expected(run_dir)) + 1  # thumb
    assert len(ds["files"]) == len(expected(run_dir)) + 1


KEPT_SCRIPT = r"""
set -e
echo -n unlock-pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null
DATAUPLOADER_PASSWORD=alice-password "$PY" -m datauploader --config "$CFG" upload --json \
    --username alice --proposal qlab-cooldown-7 --dataset first "$DATA" > first.json
"$PY" -m datauploader --config "$CFG" upload --json --proposal qlab-cooldown-7 \
    --dataset second "$DATA" < /dev/null > second.json
"$PY" -m datauploader --config "$CFG" login --forget
"$PY" -m datauploader --config "$CFG" login < /dev/null || echo "login refused: $?"
"""


@pytest.mark.skipif(sys.platform != "linux" or not shutil.which("dbus-run-session")
                    or not shutil.which("gnome-keyring-daemon"),
                    reason="needs dbus-run-session and gnome-keyring-daemon (.ci/run installs "
                           "them)")
def test_the_refresh_token_kept_in_the_real_os_keyring(rig, tmp_path, run_dir):
    """A password login once; the next run logs in with the refresh token the OS keyring
    keeps (no password anywhere), until 'login --forget'."""
    config = rig()
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON_KEYRING",
                                                                      "DATAUPLOADER_"))}
    env.update({"DATAUPLOADER_HOME": str(home), "PY": sys.executable, "CFG": str(config),
                "DATA": str(run_dir), "DATAUPLOADER_SYSTEM_CONFIG": str(tmp_path / "none.ini"),
                "HOME": str(tmp_path)})
    r = subprocess.run(["dbus-run-session", "--", "sh", "-c", KEPT_SCRIPT], env=env,
                       cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    import json
    for name in ("first", "second"):
        done = json.loads((tmp_path / f"{name}.json").read_text())
        assert done["state"] == "completed", (name, r.stderr)
    assert "Forgotten." in r.stdout and "login refused: 3" in r.stdout, r.stdout + r.stderr
    grants = [c["status"] for c in rig.server.calls("/api/v3/token", "POST")]
    assert grants == [200, 200], "the password, then the kept refresh token"
    tokens = rig.server.state()["refresh_tokens"]
    assert all(tokens.values()), "each spent once, the last one revoked by 'login --forget'"
    assert rig.server.calls("/api/v3/token/revoke", "POST")
    kept = list(tokens)
    for path in home.rglob("*"):  # the tokens are in the keyring only
        if path.is_file():
            assert not any(t.encode() in path.read_bytes() for t in kept), path


def test_config_check_online_says_what_the_server_offers(rig, cli, tmp_path):
    r = cli("--config", rig(), "config", "check", "--online")
    assert r.code == 0, r.err
    assert "collections: offered" in r.out and "login: password" in r.out, r.out
    old = EtiketServer(tmp_path / "old", collections=False).start()
    try:
        config = tmp_path / "old.ini"
        config.write_text(rig().read_text().replace(rig.server.url, old.url))
        r = cli("--config", config, "config", "check", "--online")
        assert r.code == 0 and "collections: not offered" in r.out, r.err + r.out
    finally:
        old.stop()
    assert rig.server.state()["datasets"] == []


def test_a_login_made_long_before_the_job_is_renewed_when_the_job_starts(rig, cli):
    """The window logs in, the operator comes back hours later: the access token has ended on
    the server, and the first call renews it with the refresh token instead of failing."""
    from datauploader.app.paths import resolve
    from datauploader.app.service import Service

    env = {**cli.env, "DATAUPLOADER_PASSWORD": "alice-password"}
    service = Service.open(resolve(env), [str(rig())], env)
    try:
        assert service.login("etiket", {"username": "alice"}) == "alice"
        rig.server.control("clock", advance=3 * 3600)  # the hour-long access token is over
        service.storage("etiket").check()  # the job's first call: who are we?
        assert [i.proposal for i in service.catalogue("etiket").investigations()] == [SCOPE]
    finally:
        service.close()
    grants = [c["status"] for c in rig.server.calls("/api/v3/token", "POST")]
    assert grants == [200, 200], "the password, then one renewal"
