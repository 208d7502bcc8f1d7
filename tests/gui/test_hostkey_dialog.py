"""The first connection to an SFTP server in the desktop application: the login shows the
server's host-key fingerprint in a dialog and trusts it only on "Trust and connect"; Enter,
Escape or Cancel never trust; a changed key is a loud error without a dialog. Against a real
``rclone serve sftp`` on loopback."""

from __future__ import annotations

import base64
import hashlib

import pytest
from PyQt5.QtCore import Qt

from datauploader.storage.sftp.hostkeys import read_known_hosts
from tests.servers.loopback import ssh_keypair
from tests.servers.rclone_sftp import rclone_sftp_server  # noqa: F401

pytestmark = pytest.mark.integration


def fingerprint_of(public_line: str) -> str:
    blob = base64.b64decode(public_line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


@pytest.fixture
def sftp_profile(tmp_path, rclone_sftp_server):  # noqa: F811
    s = rclone_sftp_server
    ini = tmp_path / "sftp.ini"
    ini.write_text(
        "[settings]\ndefault_profile = beamline\n"
        "[profile:beamline]\ncatalogue = local\nstorage = beam\n"
        f"[storage:beam]\ntype = sftp\nhost = 127.0.0.1\nport = {s.port}\nusername = {s.user}\n"
        f"path = /\nkey_file = {s.client_key}\nuse_agent = no\n")
    home = tmp_path / "userhome"
    (home / ".ssh").mkdir(parents=True)
    return {"ini": ini, "env": {"HOME": str(home)}, "home": home, "server": s,
            "fingerprint": fingerprint_of(s.host_public)}


def click_log_in(qtbot, login):
    qtbot.waitUntil(lambda: login.button.isEnabled(), timeout=10000)
    qtbot.mouseClick(login.button, Qt.LeftButton)


def open_dialog(qtbot, login):
    qtbot.waitUntil(lambda: getattr(login, "host_key_dialog", None) is not None
                    and login.host_key_dialog.isVisible(), timeout=20000)
    return login.host_key_dialog


def own_known_hosts(w):
    return w.service.paths.config_dir + "/known_hosts"


def test_trust_and_connect_records_the_key_and_logs_in(qtbot, make_window, sftp_profile):
    w = make_window([sftp_profile["ini"]], env=sftp_profile["env"])
    click_log_in(qtbot, w.login)
    dialog = open_dialog(qtbot, w.login)
    assert dialog.fingerprint.text() == sftp_profile["fingerprint"]
    assert dialog.key_type.text() == "ssh-ed25519"
    texts = [label.text() for label in dialog.findChildren(type(dialog.fingerprint))]
    assert f"127.0.0.1:{sftp_profile['server'].port}" in texts
    assert dialog.cancel_button.isDefault() and not dialog.trust_button.isDefault()
    assert read_known_hosts(own_known_hosts(w)) == []  # nothing recorded while it asks
    with qtbot.waitSignal(w.login.login_succeeded, timeout=20000):
        qtbot.mouseClick(dialog.trust_button, Qt.LeftButton)
    assert [e.fingerprint for e in read_known_hosts(own_known_hosts(w))] == \
        [sftp_profile["fingerprint"]]


@pytest.mark.parametrize("how", ["enter", "escape", "cancel"])
def test_anything_but_trust_refuses(qtbot, make_window, sftp_profile, how):
    w = make_window([sftp_profile["ini"]], env=sftp_profile["env"])
    click_log_in(qtbot, w.login)
    dialog = open_dialog(qtbot, w.login)
    with qtbot.waitSignal(w.login.login_failed, timeout=10000) as failed:
        if how == "enter":
            qtbot.keyClick(dialog, Qt.Key_Return)
        elif how == "escape":
            qtbot.keyClick(dialog, Qt.Key_Escape)
        else:
            qtbot.mouseClick(dialog.cancel_button, Qt.LeftButton)
    assert sftp_profile["fingerprint"] in failed.args[0]
    assert w.login.error.isVisible() and sftp_profile["fingerprint"] in w.login.error.text()
    assert read_known_hosts(own_known_hosts(w)) == []
    assert w.login.button.isEnabled()  # the user may try again


def test_a_changed_key_is_an_error_without_a_dialog(qtbot, make_window, sftp_profile, tmp_path):
    impostor = ssh_keypair(tmp_path / "impostor").split()
    port = sftp_profile["server"].port
    (sftp_profile["home"] / ".ssh" / "known_hosts").write_text(
        f"[127.0.0.1]:{port} {impostor[0]} {impostor[1]}\n")
    w = make_window([sftp_profile["ini"]], env=sftp_profile["env"])
    with qtbot.waitSignal(w.login.login_failed, timeout=20000) as failed:
        click_log_in(qtbot, w.login)
    assert failed.args[0].startswith("WARNING") and "different host key" in failed.args[0]
    assert getattr(w.login, "host_key_dialog", None) is None
    assert read_known_hosts(own_known_hosts(w)) == []


def test_the_dialog_itself_shows_the_server_and_defaults_to_cancel(qtbot, sftp_profile):
    from datauploader.gui.dialogs.hostkey import HostKeyDialog
    from datauploader.storage.sftp.hostkeys import HostKeyUnknownError

    kind, blob = sftp_profile["server"].host_public.split()[:2]
    error = HostKeyUnknownError(host="sftp.example.org", port=2222, key_type=kind,
                                key_base64=blob, trust_file="/nonexistent/known_hosts")
    dialog = HostKeyDialog(error)
    qtbot.addWidget(dialog)
    dialog.show()
    texts = [label.text() for label in dialog.findChildren(type(dialog.fingerprint))]
    assert "sftp.example.org:2222" in texts
    assert dialog.fingerprint.text() == sftp_profile["fingerprint"]
    with qtbot.waitSignal(dialog.rejected, timeout=5000):
        qtbot.keyClick(dialog, Qt.Key_Return)
