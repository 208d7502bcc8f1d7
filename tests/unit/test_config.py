import pytest

from datauploader.app.config import Config
from datauploader.app.paths import resolve
from datauploader.errors import ConfigError


@pytest.fixture
def paths(tmp_path):
    return resolve({"DATAUPLOADER_HOME": str(tmp_path / "home"),
                    "DATAUPLOADER_SYSTEM_CONFIG": str(tmp_path / "system.ini")})


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


def load(paths, *extra):
    return Config.load(paths, list(extra), env={})


def test_no_files_gives_the_builtin_local_profile(paths):
    cfg = load(paths)
    assert cfg.files == [] and cfg.default_profile == "local"
    prof = cfg.profile()
    assert prof.values["storage"] == "local" and prof.values["catalogue"] == "local"
    typ, opts = cfg.options("storage", "local")
    assert typ == "filesystem" and opts["path"] == paths.default_storage
    assert cfg.effective_settings()["checksum"] == "sha256"


def test_the_example_from_the_issue(paths, tmp_path):
    f = write(tmp_path / "c.ini", """
[profile:beamline]
catalogue = local
storage = raw-s3
[storage:raw-s3]
type = s3
endpoint_url = https://s3.example.org
bucket = raw
prefix = {proposal}/{dataset}
""")
    cfg = load(paths, f)
    typ, opts = cfg.options("storage", cfg.profile("beamline").values["storage"])
    assert typ == "s3" and opts["bucket"] == "raw" and opts["multipart_threshold"] == 16 << 20


def test_order_system_user_extra_and_profile_overrides(paths, tmp_path):
    write(tmp_path / "system.ini", "[settings]\nworkers = 2\nchecksum = md5\n")
    write(tmp_path / "home/config/datauploader.ini", "[settings]\nworkers = 3\n")
    extra = write(tmp_path / "x.ini", "[settings]\ndefault_profile = p\n"
                  "[profile:p]\ncatalogue = local\nstorage = local\nworkers = 5\n")
    cfg = load(paths, extra)
    assert len(cfg.files) == 3
    assert cfg.effective_settings("local")["workers"] == 3
    assert cfg.effective_settings()["workers"] == 5  # default profile is p
    assert cfg.effective_settings()["checksum"] == "md5"
    assert "x.ini [profile:p]" in cfg.setting_source("workers")


def test_locked_settings_win_and_are_reported(paths, tmp_path):
    write(tmp_path / "system.ini", "[locked]\nbandwidth_limit = 08:00,10M 20:00,off\n")
    write(tmp_path / "home/config/datauploader.ini", "[settings]\nbandwidth_limit = off\n")
    cfg = load(paths)
    assert cfg.effective_settings()["bandwidth_limit"] == "08:00,10M 20:00,off"
    assert cfg.is_locked("bandwidth_limit")
    assert any("locks it" in w for w in cfg.warnings)


def test_only_the_system_file_may_lock(paths, tmp_path):
    f = write(tmp_path / "x.ini", "[locked]\nworkers = 1\n")
    with pytest.raises(ConfigError, match=r"x.ini, section \[locked\]: only the system"):
        load(paths, f)


@pytest.mark.parametrize("text,where,problem", [
    ("workers = 3\n", "", "before any [section]"),
    ("[settings]\nworkers\n", "", "line 2 is not 'key = value'"),
    ("[settings]\nworkers = many\n", "section [settings], key 'workers'", "not a whole number"),
    ("[settings]\nworkerz = 3\n", "section [settings], key 'workerz'", "did you mean 'workers'"),
    ("[settings]\nchecksum = sha1\n", "key 'checksum'", "not one of: sha256, md5"),
    ("[settings]\nbandwidth_limit = 25:00,1M\n", "key 'bandwidth_limit'", "not a time of day"),
    ("[setings]\n", "section [setings]", "did you mean 'settings'"),
    ("[storage:x]\nbucket = b\n", "section [storage:x], key 'type'", "'type' is missing"),
    ("[storage:x]\ntype = s4\n", "key 'type'", "unknown storage type 's4' (did you mean 's3'?)"),
    ("[storage:x]\ntype = s3\nbukcet = b\n", "key 'bukcet'", "did you mean 'bucket'"),
    ("[storage:x]\ntype = s3\nbucket = b\nsecret_access_key = abc\n", "key 'secret_access_key'",
     "secrets do not belong"),
    ("[catalogue:c]\ntype = local\npassword = hunter2\n", "key 'password'", "secrets do not belong"),
    ("[storage:x]\ntype = s3\nbucket = b\npart_size = huge\n", "key 'part_size'", "not a size"),
    ("[profile:p]\ncatalogue = local\nstorage = nas\n", "section [profile:p], key 'storage'",
     "no [storage:nas] section"),
    ("[profile:p]\nstorage = local\n", "key 'catalogue'", "'catalogue' is missing"),
    ("[settings]\ndefault_profile = beamlin\n[profile:beamline]\ncatalogue = local\n"
     "storage = local\n", "key 'default_profile'", "did you mean 'beamline'"),
    ("[settings]\nworkers = 1\nworkers = 2\n", "key 'workers'", "appears twice"),
    ("[thing:x]\n", "section [thing:x]", "unknown kind of section"),
])
def test_every_error_names_file_section_and_key(paths, tmp_path, text, where, problem):
    f = write(tmp_path / "bad.ini", text)
    with pytest.raises(ConfigError) as e:
        load(paths, f)
    msg = str(e.value)
    assert msg.startswith(f"In {f}")
    assert where in msg and problem in msg, msg


def test_missing_required_option_names_the_section(paths, tmp_path):
    f = write(tmp_path / "c.ini", "[storage:nas]\ntype = filesystem\n")
    cfg = load(paths, f)
    with pytest.raises(ConfigError, match=r"section \[storage:nas\], key 'path': 'path' is missing"):
        cfg.options("storage", "nas")


def test_missing_config_file_and_non_utf8(paths, tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load(paths, str(tmp_path / "nope.ini"))
    bad = tmp_path / "latin.ini"
    bad.write_bytes("[settings]\n# caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load(paths, str(bad))


def test_bom_inline_comments_and_percent_signs(paths, tmp_path):
    p = tmp_path / "bom.ini"
    p.write_bytes("\ufeff[settings]\nworkers = 4 ; four\n[storage:s]\ntype = filesystem\n"
                  "path = /data/100%\n".encode("utf-8"))
    cfg = load(paths, str(p))
    assert cfg.effective_settings()["workers"] == 4
    assert cfg.options("storage", "s")[1]["path"] == "/data/100%"


def test_user_file_can_override_the_local_storage_folder(paths, tmp_path):
    write(tmp_path / "home/config/datauploader.ini", "[storage:local]\npath = /mnt/nas\n")
    cfg = load(paths)
    assert cfg.options("storage", "local") == ("filesystem", {
        "path": "/mnt/nas", "prefix": "{proposal}/{dataset}", "names": "posix",
        "verify": "reread", "location_base": ""})
