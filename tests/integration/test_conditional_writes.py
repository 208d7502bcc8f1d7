"""Issue 13, point 1 (the storage half): whether a target refuses, in the request that writes
a name, to replace what is there is learnt once per target with probe objects of our own,
kept in the state folder, and said by ``config check --online``. moto honours
``If-None-Match: *``, rclone serve s3 ignores it; rclone serve webdav refuses a MOVE with
``Overwrite: F`` onto an existing name, and a server that ignores the header (played by the
fault proxy removing it) replaces it."""

import pytest

from datauploader.app.paths import resolve
from datauploader.app.service import Service
from tests.integration.s3_rig import s3_profile, stored
from tests.servers.fault_proxy import Fault
from tests.servers.rclone_webdav import webdav_server  # noqa: F401 - fixture

pytestmark = pytest.mark.integration

HONOURED = ("storage: conditional writes honoured (of two uploads racing on one name, only one "
            "can succeed)")
NOT_HONOURED = ("storage: conditional writes not honoured: files are proven by a listing before "
                "they are registered")


def online(cli, cfg, env):
    """What ``config check --online`` learns, through the service it runs on (a new one each
    time, as each command is a process of its own)."""
    env = {**cli.env, **env}
    service = Service.open(resolve(env), [str(cfg)], env)
    try:
        profile = "s3" if "s3" in cfg.name else "dav"
        check = service.check_online(profile)
        return check, service.storage(profile).exclusive_writes()
    finally:
        service.close()


@pytest.mark.parametrize("server, honoured", [("moto", True), ("rclone", False)])
def test_s3_conditional_writes_are_learnt_once_and_said(cli, tmp_path, request, fault_proxy,
                                                        server, honoured, home):
    srv = request.getfixturevalue("moto_server" if server == "moto" else "s3_server")
    bucket = srv.create_bucket()
    s3 = srv.boto3_client()
    s3.put_object(Bucket=bucket, Key="facility/P/D/theirs.txt", Body=b"not ours")
    proxy = fault_proxy(srv.endpoint_url)
    cfg, env = s3_profile(tmp_path, srv, bucket, proxy.url,
                          extra="prefix = facility/{proposal}/{dataset}\n")
    check, exclusive = online(cli, cfg, env)
    assert exclusive is honoured
    assert check.storage_offers == [HONOURED if honoured else NOT_HONOURED]
    probes = [s.target for s in proxy.seen() if ".du-probe-" in s.target]
    assert probes and all(t.startswith(f"/{bucket}/facility/.du-probe-") for t in probes)
    # the probe objects are gone, nothing else was touched
    assert stored(srv, bucket) == {"facility/P/D/theirs.txt": b"not ours"}
    assert '"conditional_writes": ' + ("true" if honoured else "false") in \
        (home / "state" / "storage-traits.json").read_text()
    # asked once per target: the next process finds the answer in the state folder
    proxy.clear()
    seen = proxy.requests
    assert online(cli, cfg, env)[0].storage_offers == check.storage_offers
    assert proxy.requests == seen + 1  # the HeadBucket of the check, nothing else


@pytest.mark.parametrize("strip, honoured", [(False, True), (True, False)],
                         ids=["rclone", "overwrite-header-ignored"])
def test_webdav_move_without_overwrite_is_learnt_and_said(cli, tmp_path, webdav_server,  # noqa: F811
                                                          fault_proxy, strip, honoured):
    proxy = fault_proxy(webdav_server.url)
    if strip:
        proxy.inject(Fault.strip_headers("Overwrite", method="MOVE", times=None))
    base = tmp_path.name[-20:]
    webdav_server.put(f"{base}/keep.txt", b"not ours")
    cfg = tmp_path / "dav.ini"
    cfg.write_text("[settings]\ndefault_profile = dav\n[profile:dav]\ncatalogue = local\n"
                   f"storage = w\n[storage:w]\ntype = webdav\nurl = {proxy.url}/{base}\n"
                   f"username = {webdav_server.user}\n")
    env = {"DATAUPLOADER_WEBDAV_PASSWORD": webdav_server.password}
    check, exclusive = online(cli, cfg, env)
    assert exclusive is honoured
    assert check.storage_offers == [HONOURED if honoured else NOT_HONOURED]
    moves = proxy.seen(method="MOVE")
    assert len(moves) == 1 and ".du-" in moves[0].target
    assert sorted(p.name for p in (webdav_server.root / base).iterdir()) == ["keep.txt"]
    assert (webdav_server.root / base / "keep.txt").read_bytes() == b"not ours"
    assert online(cli, cfg, env)[0].storage_offers == check.storage_offers
    assert len(proxy.seen(method="MOVE")) == 1  # kept: not asked again
