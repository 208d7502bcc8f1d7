"""The real window against the etiket emulator: the login form is what the etiket catalogue
declares (a choice of password or API token, then its fields), the proposals are the user's
scopes, etiket's own fields go in the metadata table, a value etiket would refuse is shown
before anything is sent, and an upload runs to one secured version of each file."""

import hashlib

import pytest
from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import QComboBox, QLineEdit

from tests.gui.helpers import define, drop_paths
from tests.servers.etiket_emulator import EtiketServer

pytestmark = pytest.mark.integration


@pytest.fixture
def etiket(tmp_path):
    server = EtiketServer(tmp_path / "etiket").start()
    yield server
    server.stop()


def field(w, name, kind=QLineEdit):
    return w.login.findChild(kind, f"field_{name}")


def test_login_scopes_fields_and_an_upload_in_the_window(qtbot, make_window, etiket, files,
                                                         tmp_path):
    config = tmp_path / "etiket.ini"
    config.write_text("[settings]\ndefault_profile = etiket\n[profile:etiket]\n"
                      "catalogue = etiket\nstorage = files\n"
                      + etiket.catalogue_ini("etiket", "auth = password,token\n")
                      + "\n[storage:files]\ntype = etiket\ncatalogue = etiket\n")
    w = make_window([config])
    qtbot.waitUntil(lambda: field(w, "password") is not None and w.login.button.isEnabled(),
                    timeout=20000)
    method = field(w, "method", QComboBox)
    assert [method.itemText(i) for i in range(method.count())] == ["Password", "API token"]
    assert [method.itemData(i) for i in range(method.count())] == ["password", "token"]
    assert field(w, "token").echoMode() == QLineEdit.Password
    qtbot.keyClicks(field(w, "username"), "alice")
    qtbot.keyClicks(field(w, "password"), "alice-password")
    with qtbot.waitSignal(w.login.login_succeeded, timeout=20000):
        qtbot.mouseClick(w.login.button, Qt.LeftButton)

    d = w.dataset
    qtbot.waitUntil(lambda: d.proposal.count() == 1, timeout=20000)  # alice's, not archived
    assert d.proposal.itemText(0) == "qlab-cooldown-7 — the qlab-cooldown-7 data"

    d.add_metadata_row("fridge", "a name far too long for etiket")  # said before the upload
    qtbot.keyClicks(d.proposal.lineEdit(), "qlab-cooldown-7")
    qtbot.keyClicks(d.name, "run 9")
    with qtbot.waitSignal(d.plan_ready, timeout=20000, check_params_cb=lambda p: p is None):
        drop_paths(d.files, [files])
    qtbot.waitUntil(lambda: "2 to 20 characters" in d.files_error.text(), timeout=20000)
    d.metadata.setRowCount(0)
    d.add_metadata_row("fridge", "bluefors")
    d.add_metadata_row("alt_uid", "run-0009")
    define(qtbot, w, "qlab-cooldown-7", "run 9", [files], exclude="*.tmp")
    with qtbot.waitSignal(w.controller.job_finished, timeout=60000) as done:
        qtbot.mouseClick(d.start, Qt.LeftButton)
    assert done.args[0].state == "completed" and done.args[0].files_ok == 13, done.args[0].error

    (ds,) = etiket.state()["datasets"]
    assert ds["alt_uid"] == "run-0009"
    assert ds["attributes"] == {"fridge": "bluefors", "datauploader": "complete"}
    local = {f"{files.name}/{p.relative_to(files).as_posix()}": p.read_bytes()
             for p in files.rglob("*") if p.is_file() and p.suffix != ".tmp"}
    assert sorted(f["name"] for f in ds["files"]) == sorted(local)
    assert all(f["status"] == "secured" and f["md5_checksum"] ==
               hashlib.md5(local[f["name"]]).hexdigest() for f in ds["files"])
