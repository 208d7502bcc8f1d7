"""The real window against the ICAT + IDS and SciCat emulators: the login view shows exactly
the fields the catalogue asks for (ICAT's authenticators from /icat/properties, SciCat's
account kinds), a wrong password is reported inline, the dataset view lists the proposals
the catalogue gives, an upload runs to completion; a session that expires mid-job brings the
login back, and Retry after logging in again finishes the job without duplicates."""

import pytest
from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import QComboBox, QLineEdit

from tests.gui.helpers import define
from tests.integration.test_icat_scicat_jobs import (assert_one_complete_dataset_with_each_file_once,  # noqa: E501
                                                     icat_server, make_rig, scicat_releases,  # noqa: F401
                                                     scicat_server, scicat_v3_server)  # noqa: F401

RIGS = ["icat-ids", "icat-s3", "scicat-4.27", "scicat-v3"]  # the release matrix: the CLI tests

pytestmark = pytest.mark.integration


def field(w, name, kind=QLineEdit):
    return w.login.findChild(kind, f"field_{name}")


def wait_for_fields(qtbot, w):
    qtbot.waitUntil(lambda: field(w, "password") is not None and w.login.button.isEnabled(),
                    timeout=20000)


def submit(qtbot, w, password, signal):
    # LoginView ignores a click while its previous background call is still winding down
    qtbot.waitUntil(lambda: not w.login._calls.busy, timeout=20000)
    pw = field(w, "password")
    pw.clear()
    qtbot.keyClicks(pw, password)
    with qtbot.waitSignal(signal, timeout=20000) as sig:
        qtbot.mouseClick(w.login.button, Qt.LeftButton)
    return sig


def log_in(qtbot, w, password="secret"):
    user = field(w, "username")
    user.clear()
    qtbot.keyClicks(user, "jdoe")
    submit(qtbot, w, password, w.login.login_succeeded)


@pytest.fixture(params=RIGS)
def rig(request, tmp_path):
    return make_rig(request.param, request, tmp_path)


def test_login_and_dataset_views_follow_the_catalogue_then_upload(qtbot, make_window, rig, files):
    w = make_window([rig.config], env=rig.env)
    wait_for_fields(qtbot, w)
    kind = field(w, "authenticator" if rig.icat else "method", QComboBox)
    choices = [kind.itemText(i) for i in range(kind.count())]
    # ICAT's friendly names are shown; the mnemonics are what the login sends
    assert choices == (["Facility account", "Institute (LDAP)"] if rig.icat
                       else ["ldap", "local"])
    assert [kind.itemData(i) for i in range(kind.count())] == (
        ["simple", "ldap"] if rig.icat else ["ldap", "local"])
    assert field(w, "password").echoMode() == QLineEdit.Password
    assert w.login.fields_form.rowCount() == 3  # exactly what the catalogue asks for

    qtbot.keyClicks(field(w, "username"), "jdoe")
    sig = submit(qtbot, w, "wrong password", w.login.login_failed)
    assert "did not accept" in sig.args[0]
    assert w.login.error.isVisible() and w.login.error.text() == sig.args[0]
    assert w.stack.currentWidget() is w.login

    submit(qtbot, w, "secret", w.login.login_succeeded)
    d = w.dataset
    assert w.stack.currentWidget() is d
    qtbot.waitUntil(lambda: d.proposal.count() == 2, timeout=20000)
    assert [d.proposal.itemText(i) for i in range(2)] == [
        "MX-1 — Lysozyme structures", "MX-2 — Insulin crystals"]  # not someone else's MX-3

    define(qtbot, w, "MX-1", "D1", [files], exclude="*.tmp")
    with qtbot.waitSignal(w.controller.job_finished, timeout=60000) as done:
        qtbot.mouseClick(d.start, Qt.LeftButton)
    assert done.args[0].state == "completed" and done.args[0].files_ok == 13, done.args[0].error
    (files / "skip.tmp").unlink()
    assert_one_complete_dataset_with_each_file_once(rig, files)


@pytest.mark.parametrize("name", ["icat-ids", "scicat-4.27"])
def test_expired_session_brings_back_the_login_and_retry_finishes(qtbot, make_window, files,
                                                                  request, tmp_path, name):
    rig = make_rig(name, request, tmp_path, "register_batch = 3\nworkers = 1\n"
                                            "bandwidth_limit = 40k\n")
    w = make_window([rig.config], env=rig.env)
    wait_for_fields(qtbot, w)
    log_in(qtbot, w)
    define(qtbot, w, "MX-1", "D1", [files], exclude="*.tmp")
    qtbot.mouseClick(w.dataset.start, Qt.LeftButton)
    qtbot.waitUntil(lambda: rig.registered_count() >= 3, timeout=30000)
    jdoe = {"email": "jdoe@example.org", "displayName": "John Doe", "groups": ["p1001", "p1002"],
            "methods": ["ldap"]}
    with qtbot.waitSignal(w.controller.job_finished, timeout=60000) as done:
        if not rig.icat:  # a SciCat password login is renewed: end it for good
            rig.server.control("seed", users={"jdoe": {**jdoe, "password": "changed"}})
        rig.expire_sessions()
    assert done.args[0].exit_code == 3 and done.args[0].files_ok < 13
    if not rig.icat:
        rig.server.control("seed", users={"jdoe": {**jdoe, "password": "secret"}})
    assert w.stack.currentWidget() is w.login
    assert "Log in again, then press Retry" in w.login.error.text()

    log_in(qtbot, w)
    w.show_page(2)
    assert w.progress.strip.retry.isVisible()
    with qtbot.waitSignal(w.controller.job_finished, timeout=60000) as done:
        qtbot.mouseClick(w.progress.strip.retry, Qt.LeftButton)
    assert done.args[0].state == "completed" and done.args[0].files_ok == 13
    (files / "skip.tmp").unlink()
    assert_one_complete_dataset_with_each_file_once(rig, files)
