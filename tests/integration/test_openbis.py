"""openBIS jobs from the command line, as the facilities' script runs them: files to S3
(rclone serve s3), a linked dataset in openBIS (the emulator) with metadata extracted from
the files, then read back by pybis, openBIS's own client.

The seed's command line: ``upload --profile obis --entry /SPACE/PROJ/COLL [--object CODE]
--type DATASET_TYPE [--parser CODE] [--prefix P] --dataset NAME FILES…`` with ``OBIS_TOKEN``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from tests.integration.test_kill_and_resume import wait_for
from tests.servers.openbis_emulator import openbis_server  # noqa: F401 - fixture

pytestmark = pytest.mark.integration

ENTRY = "/MATERIALS/ALLOYS/XRD_2026"


@pytest.fixture
def instrument_files(tmp_path):
    """A NeXus file, a TIFF-less CSV log and a side-car, as an XRD instrument writes them."""
    root = tmp_path / "scan1"
    root.mkdir()
    with h5py.File(root / "scan1.nxs", "w") as f:
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        entry["title"] = "Cu foil"
        inst = entry.create_group("instrument")
        inst["name"] = "XRD-7"
        sample = entry.create_group("sample")
        sample["temperature"] = 293.5
        sample["temperature"].attrs["units"] = "K"
        entry.create_dataset("data", data=np.arange(5000, dtype="u2"))
    (root / "log.csv").write_text("# frames: 12\ntime (s),counts\n0,1\n")
    (root / "raw").mkdir()
    for i in range(4):
        (root / "raw" / f"frame{i}.bin").write_bytes(os.urandom(20000 + i))
    return root


@pytest.fixture
def rig(tmp_path, s3_server, s3_bucket, openbis_server):  # noqa: F811
    mapping = tmp_path / "keys.yaml"
    mapping.write_text(textwrap.dedent("""
        /entry/instrument/name: INSTRUMENT
        /entry/sample/temperature: SAMPLE_TEMPERATURE
        frames: FRAMES
    """))

    def config(auth="token", extra="", settings=""):
        path = tmp_path / f"obis-{auth}.ini"
        path.write_text(
            f"[settings]\ndefault_profile = obis\nmetadata_mapping = {mapping}\n{settings}\n"
            "[profile:obis]\ncatalogue = obis\nstorage = s3t\n"
            f"[catalogue:obis]\ntype = openbis\nurl = {openbis_server.url}\nauth = {auth}\n"
            f"{extra}\n"
            f"[storage:s3t]\ntype = s3\nendpoint_url = {s3_server.endpoint_url}\n"
            f"bucket = {s3_bucket}\n")
        return path

    class Rig:
        server = openbis_server
        bucket = s3_bucket
        env = {"AWS_ACCESS_KEY_ID": s3_server.access_key,
               "AWS_SECRET_ACCESS_KEY": s3_server.secret_key}

        def pat(self, user="ada") -> str:
            return openbis_server.control("pat", user=user)["token"]

        def seed_edms(self, code="S3RAW"):
            openbis_server.control("seed", edms={code: {
                "label": "raw bucket", "address": f"s3://{s3_bucket}/${{}}",
                "addressType": "URL"}})

        def state(self) -> dict:
            return openbis_server.control("state")

        def objects(self) -> dict:
            return {o["Key"]: o["Size"] for o in s3_server.boto3_client().list_objects_v2(
                Bucket=s3_bucket).get("Contents", [])}

    rig = Rig()
    rig.config = config
    return rig


def pybis_for(rig, token):
    from pybis import Openbis

    o = Openbis(rig.server.url, verify_certificates=False,
                allow_http_but_do_not_use_this_in_production_and_only_within_safe_networks=True)
    o.set_token(token)
    return o


def upload_args(rig, cfg, files, *extra):
    return ("--config", cfg, "upload", "--profile", "obis", "--entry", ENTRY, "--object",
            "CU-7", "--type", "XRD_DATA", "--parser", "hdf5", "--parser", "csv",
            "--dataset", "scan1", *extra, files)


def test_linked_dataset_as_the_script_makes_it_read_back_by_pybis(rig, cli, instrument_files):
    rig.seed_edms()
    token = rig.pat("ada")
    cfg = rig.config(extra="edms_code = S3RAW")
    r = cli(*upload_args(rig, cfg, instrument_files, "--prefix", "xrd/{dataset}", "--json"),
            env={**rig.env, "OBIS_TOKEN": token})
    assert r.code == 0, r.err + r.out
    doc = r.json
    assert doc["state"] == "completed" and doc["files_ok"] == 6
    code = doc["dataset_id"]
    assert code == doc["dataset_id"].upper() and code.startswith("DU-")
    assert set(rig.objects()) == {f"xrd/scan1/scan1/{n}" for n in (  # the folder keeps its name
        "scan1.nxs", "log.csv", *[f"raw/frame{i}.bin" for i in range(4)])}
    assert "metadata read from 2 files" in r.err
    # ada is no instance admin: the DSS keeps no path info for her, the AS takes the dataset
    state = rig.state()
    assert list(state["datasets"]) == [code] and state["files"] == {}

    ds = pybis_for(rig, token).get_dataset(code)
    assert ds.type.code == "XRD_DATA"
    assert ds.data["experiment"]["identifier"]["identifier"] == ENTRY
    assert ds.data["sample"]["identifier"]["identifier"] == "/MATERIALS/ALLOYS/CU-7"
    props = ds.props.all()
    assert props["$name"] == "scan1"
    assert props["instrument"] == "XRD-7"
    assert float(props["sample_temperature"]) == 293.5
    assert props["frames"] == "12"
    [copy] = ds.data["linkedData"]["contentCopies"]
    assert copy["externalDms"]["code"] == "S3RAW"
    assert copy["externalCode"] == "xrd/scan1"
    assert copy["externalDms"]["address"] == f"s3://{rig.bucket}/${{}}"


def test_an_instance_admin_registers_the_edms_once_and_the_files_path_info(
        rig, cli, instrument_files, tmp_path):
    cfg = rig.config(auth="password")
    env = {**rig.env, "DATAUPLOADER_PASSWORD": "admin"}
    r = cli(*upload_args(rig, cfg, instrument_files, "--username", "admin", "--json"), env=env)
    assert r.code == 0, r.err + r.out
    code = r.json["dataset_id"]
    state = rig.state()
    [edms] = state["edms"]
    assert state["edms"][edms]["address"] == f"s3://{rig.bucket}/${{}}"
    files = {f["path"]: f for f in state["files"][code]}
    rows = {row["name"]: row for row in r.json["files"]}
    assert set(files) == set(rows)
    for name, f in files.items():
        assert f["fileLength"] == rows[name]["size"]
        assert (f["checksumType"], f["checksum"]) == ("SHA256", rows[name]["checksum"])

    # a second dataset to the same storage reuses the EDMS
    (tmp_path / "scan2").mkdir()
    (tmp_path / "scan2" / "a.csv").write_text("x,y\n")
    r2 = cli("--config", cfg, "upload", "--entry", ENTRY, "--type", "RAW_DATA", "--dataset",
             "scan2", "--username", "admin", "--json", tmp_path / "scan2", env=env)
    assert r2.code == 0, r2.err
    assert len(rig.state()["edms"]) == 1 and len(rig.state()["datasets"]) == 2

    # pybis lists the files from the DSS's path info (with the folders openBIS derives)
    listed = pybis_for(rig, rig.pat("admin")).get_dataset(code).file_list
    assert set(listed) >= set(rows)


def test_refusals_before_anything_moves(rig, cli, instrument_files):
    rig.seed_edms()
    env = {**rig.env, "OBIS_TOKEN": rig.pat("ada")}
    cfg = rig.config(extra="edms_code = S3RAW")
    # INSTRUMENT is mandatory for XRD_DATA: without the parser it is missing
    r = cli("--config", cfg, "upload", "--entry", ENTRY, "--type", "XRD_DATA", "--dataset",
            "s", instrument_files, env=env)
    assert r.code == 2
    assert "Dataset type XRD_DATA requires INSTRUMENT; give --meta INSTRUMENT=VALUE" in r.err
    r = cli("--config", cfg, "upload", "--entry", ENTRY, "--type", "NOPE", "--dataset", "s",
            instrument_files, env=env)
    assert r.code == 2 and "has no dataset type 'NOPE'; the types are: RAW_DATA, XRD_DATA" in r.err
    r = cli("--config", cfg, "upload", "--entry", "/ARCHIVE/OLD/C1", "--dataset", "s",
            instrument_files, env=env)
    assert r.code == 3
    assert "does not allow you to add datasets to collection /ARCHIVE/OLD/C1" in r.err
    r = cli("--config", cfg, "upload", "--entry", ENTRY, "--object", "AL-1", "--dataset", "s",
            instrument_files, env=env)
    assert r.code == 2 and "The object /MATERIALS/ALLOYS/AL-1 is not in collection" in r.err
    r = cli("--config", cfg, "upload", "--entry", "/HIDDEN/SECRET/S1", "--dataset", "s",
            instrument_files, env=env)
    assert r.code == 2 and "has no collection /HIDDEN/SECRET/S1, or you cannot see it" in r.err
    r = cli("--config", cfg, "upload", "--entry", ENTRY, "--dataset", "s", "--meta",
            "FRAMES=many", "--type", "XRD_DATA", "--meta", "INSTRUMENT=x", instrument_files,
            env=env)
    assert r.code == 2 and "FRAMES of dataset type XRD_DATA takes integer values" in r.err
    assert rig.objects() == {} and rig.state()["datasets"] == {}


def test_without_an_edms_a_user_is_told_what_the_admin_must_create(rig, cli, instrument_files):
    env = {**rig.env, "OBIS_TOKEN": rig.pat("ada")}
    r = cli("--config", rig.config(), "upload", "--entry", ENTRY, "--dataset", "s",
            instrument_files, env=env)
    assert r.code == 3, r.err
    assert "only an instance admin may create one: ask them to create it" in r.err
    assert f"address s3://{rig.bucket}/${{}}" in r.err
    assert rig.objects() == {}


def test_bad_credentials_and_an_expired_token_in_plain_words(rig, cli, instrument_files):
    cfg = rig.config(auth="password")
    r = cli("--config", cfg, "upload", "--entry", ENTRY, "--dataset", "s", "--username", "ada",
            instrument_files, env={**rig.env, "DATAUPLOADER_PASSWORD": "wrong"})
    assert r.code == 3
    assert "did not accept the user name or password for 'ada'" in r.err
    r = cli("--config", rig.config(), "upload", "--entry", ENTRY, "--dataset", "s",
            instrument_files, env={**rig.env, "OBIS_TOKEN": "$pat-ada-0000"})
    assert r.code == 3 and "did not accept the personal access token" in r.err


def test_a_lost_registration_answer_is_found_and_a_rerun_makes_nothing_twice(
        rig, cli, instrument_files):
    """createDataSets is processed but its answer lost: the retry finds the dataset by its
    code; the same upload run again finds it too and sends nothing."""
    rig.seed_edms()
    cfg = rig.config(auth="password", extra="edms_code = S3RAW")
    env = {**rig.env, "DATAUPLOADER_PASSWORD": "lovelace"}
    rig.server.control("lose", method="createDataSets")
    argv = ("--config", cfg, "upload", "--entry", ENTRY, "--type", "RAW_DATA", "--dataset",
            "d1", "--username", "ada", "--json", instrument_files)
    r = cli(*argv, env=env)
    assert r.code == 0, r.err + r.out
    assert rig.server.control("lose")["lost"] == ["createDataSets"]
    code = r.json["dataset_id"]
    rig.server.control("expire")  # and a new session for the re-run
    r2 = cli(*argv, env=env)
    assert r2.code == 0, r2.err + r2.out
    assert r2.json["dataset_id"] == code and r2.json["bytes_sent"] == 0
    assert list(rig.state()["datasets"]) == [code]


def spawn(rig, cli, cfg, *argv):
    env = {**os.environ, **cli.env, **rig.env, "DATAUPLOADER_PASSWORD": "lovelace"}
    return subprocess.Popen([sys.executable, "-m", "datauploader", "--config", str(cfg),
                             *map(str, argv), "--username", "ada"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_a_session_that_ends_mid_job_is_renewed(rig, cli, instrument_files):
    rig.seed_edms()
    cfg = rig.config(auth="password", extra="edms_code = S3RAW",
                     settings="workers = 1\nbandwidth_limit = 40k\n")
    proc = spawn(rig, cli, cfg, "upload", "--entry", ENTRY, "--type", "RAW_DATA", "--dataset",
                 "d1", instrument_files)
    wait_for(lambda: len(rig.objects()) >= 2, what="some files stored", proc=proc)
    rig.server.control("clock", advance=3600)  # openBIS ends idle sessions (30 minutes here)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert len(rig.state()["datasets"]) == 1


def test_killed_mid_transfer_then_resumed_registers_once(rig, cli, instrument_files):
    rig.seed_edms()
    cfg = rig.config(auth="password", extra="edms_code = S3RAW",
                     settings="workers = 1\nbandwidth_limit = 20k\n")
    proc = spawn(rig, cli, cfg, "upload", "--entry", ENTRY, "--type", "RAW_DATA", "--dataset",
                 "d1", instrument_files)
    wait_for(lambda: len(rig.objects()) >= 2, what="some files stored", proc=proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert rig.state()["datasets"] == {}  # registered only once every file is stored
    resume = spawn(rig, cli, cfg, "resume", "1")
    out, err = resume.communicate(timeout=120)
    assert resume.returncode == 0, err
    assert len(rig.state()["datasets"]) == 1 and len(rig.objects()) == 6
