"""Where the system-wide configuration comes from, frozen or not."""

import sys

from datauploader.app import paths


def test_explicit_override_wins(tmp_path):
    assert paths.system_config({"DATAUPLOADER_SYSTEM_CONFIG": "/x/site.ini"}) == "/x/site.ini"


def test_not_frozen_uses_the_machine_wide_path(monkeypatch):
    monkeypatch.delattr(sys, "frozen", raising=False)
    assert paths.bundled_site_config() is None
    assert paths.system_config({}) == paths.default_system_config()


def test_frozen_build_reads_site_ini_beside_the_executable(monkeypatch, tmp_path):
    exe = tmp_path / "app" / "datauploader"
    exe.parent.mkdir()
    exe.write_text("")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(exe))
    monkeypatch.setattr(paths, "default_system_config", lambda: str(tmp_path / "etc" / "x.ini"))
    # no site.ini: the machine-wide path (read if it appears later)
    assert paths.system_config({}) == str(tmp_path / "etc" / "x.ini")
    (tmp_path / "app" / "site.ini").write_text("[settings]\n")
    assert paths.system_config({}) == str(tmp_path / "app" / "site.ini")
    # an admin's machine-wide file wins over the bundled one
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "x.ini").write_text("[settings]\n")
    assert paths.system_config({}) == str(tmp_path / "etc" / "x.ini")
    assert paths.resolve({"DATAUPLOADER_HOME": str(tmp_path / "h")}).system_config == \
        str(tmp_path / "etc" / "x.ini")
