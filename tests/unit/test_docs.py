"""The docs match the code: the README's exit codes are ``ExitCode``, its tables hold every
registered storage and catalogue type, its command list every command, its map every room and
module; every document the code and the docs cite is in the repository, every path and link
in the docs exists, and nothing points at one machine's folders."""

from __future__ import annotations

import pathlib
import re

from datauploader.catalogue import CATALOGUES
from datauploader.cli.commands import COMMANDS
from datauploader.errors import ExitCode
from datauploader.storage import BACKENDS

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "datauploader"
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
#: where text that cites documents lives (source, tests, docs, installers, examples)
SCANNED = ("datauploader", "tests", "benchmarks", "installer", "scripts", "resources", "docs",
           ".ci")
TEXT = {".py", ".md", ".ini", ".sh", ".spec", ".nsi", ".toml", ".txt", ".desktop", ".cfg", ""}


def section(text: str, heading: str) -> str:
    """The text under a Markdown heading, up to the next heading of the same or a higher level."""
    m = re.search(rf"^(#+) {re.escape(heading)}\s*$", text, re.M)
    assert m, f"no heading '{heading}'"
    level = len(m.group(1))
    rest = text[m.end():]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.M)
    return rest[:end.start()] if end else rest


def tables(text: str) -> list[list[list[str]]]:
    """Every Markdown table in ``text``: rows of cells, the separator row left out."""
    out, rows = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                rows.append(cells)
        elif rows:
            out.append(rows)
            rows = []
    return out


def code_block(text: str) -> str:
    m = re.search(r"^```[a-z]*\n(.*?)^```", text, re.M | re.S)
    assert m, "no code block"
    return m.group(1)


def test_the_exit_code_table_is_the_code():
    found = tables(section(README.read_text(encoding="utf-8"), "Exit codes"))
    assert len(found) == 1, "one table under 'Exit codes'"
    header, *rows = found[0]
    assert header == ["code", "meaning"]
    assert {int(code): meaning.replace("`", "") for code, meaning in rows} == \
        {c.value: c.meaning for c in ExitCode}


def test_every_storage_and_catalogue_type_is_in_the_readme():
    found = {}
    for table in tables(section(README.read_text(encoding="utf-8"), "Storage and catalogues")):
        kind = re.fullmatch(r"`\[(storage|catalogue):…\] type`", table[0][0])
        if kind:
            found[kind.group(1)] = {row[0].strip("`") for row in table[1:]}
    assert found == {"storage": set(BACKENDS), "catalogue": set(CATALOGUES)}


def test_every_command_is_in_the_readme():
    block = code_block(section(README.read_text(encoding="utf-8"), "Command line"))
    listed = set(re.findall(r"^datauploader ([a-z][a-z-]*)", block, re.M))
    assert set(COMMANDS) <= listed
    assert listed - set(COMMANDS) <= {"gui"}


def _rooms() -> dict[str, str]:
    """The README's map: room ("" for the foundation modules) → what its lines say."""
    rooms: dict[str, str] = {}
    room = None
    for line in code_block(section(README.read_text(encoding="utf-8"),
                                   "How it is built")).splitlines()[1:]:
        head = re.match(r"^  (\S+)\s", line)
        if head:
            room = "" if head.group(1) == "*.py" else head.group(1).rstrip("/")
            rooms[room] = line[head.end():]
        else:
            assert room is not None and line.startswith("   "), line
            rooms[room] += " " + line.strip()
    return rooms


def _contents(folder: pathlib.Path) -> set[str]:
    """A package's modules (``name``) and subpackages (``name/``)."""
    names = {p.stem for p in folder.glob("*.py") if not p.name.startswith("__")}
    return names | {p.name + "/" for p in folder.iterdir() if (p / "__init__.py").exists()}


def test_the_map_names_every_room_and_module():
    rooms = _rooms()
    packages = {n.rstrip("/") for n in _contents(PACKAGE) if n.endswith("/")}
    assert set(rooms) == packages | {""}
    for room, text in rooms.items():
        folder = PACKAGE / room
        words = set(re.findall(r"[a-z_][a-z0-9_]*/?", text))
        wanted = _contents(folder) if room else {n for n in _contents(folder) if "/" not in n}
        missing = sorted(wanted - words)
        assert not missing, f"the README's map of {room or 'the foundation'} lacks {missing}"
        gone = sorted(w for w in words if w.endswith("/") and not (folder / w).is_dir())
        assert not gone, f"the README's map of {room or 'the foundation'} names {gone}"


def _texts():
    yield README
    yield ROOT / "pyproject.toml"
    for top in SCANNED:
        for path in (ROOT / top).rglob("*"):
            if path.is_file() and path.suffix in TEXT and "__pycache__" not in path.parts:
                yield path


def test_cited_documents_are_in_the_repository():
    wrong = []
    for path in _texts():
        text = path.read_text(encoding="utf-8", errors="replace")
        for name in re.findall(r"[\w./-]*\w\.md\b", text):
            candidates = [path.parent / name, ROOT / name] if "/" in name else \
                [path.parent / name, ROOT / name, ROOT / "docs" / name]
            if not any(c.is_file() for c in candidates):
                wrong.append(f"{path.relative_to(ROOT)}: {name}")
    assert not wrong, "documents that are not in the repository: " + ", ".join(wrong)


def test_nothing_points_at_one_machines_folders():
    pattern = re.compile(r"(\.\./shared|/(?:work|root)/)")
    found = [f"{path.relative_to(ROOT)}: {m.group(0)}" for path in _texts()
             for m in pattern.finditer(path.read_text(encoding="utf-8", errors="replace"))]
    assert not found


def _anchors(doc: pathlib.Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    out = set()
    for heading in re.findall(r"^#+ (.+)$", doc.read_text(encoding="utf-8"), re.M):
        out.add(re.sub(r"[^\w\- ]", "", heading.replace("`", "").lower()).replace(" ", "-"))
    return out


def test_links_in_the_docs_lead_somewhere():
    broken = []
    for doc in [README, ROOT / "benchmarks" / "README.md", *DOCS]:
        for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                continue  # a web address
            file, _, anchor = target.partition("#")
            dest = (doc.parent / file).resolve() if file else doc
            if not dest.exists() or (anchor and dest.suffix == ".md"
                                     and anchor not in _anchors(dest)):
                broken.append(f"{doc.relative_to(ROOT)}: {target}")
    assert not broken


def test_paths_named_in_the_docs_exist():
    """Backticked paths of this repository (``core/engine.py``, ``tests/servers/``) and file
    names (``loopback.py``) in the README and docs/ are there."""
    roots = {p.name for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith(".")}
    rooms = {n.rstrip("/") for n in _contents(PACKAGE) if n.endswith("/")}
    files = {p.name for top in SCANNED for p in (ROOT / top).rglob("*") if p.is_file()}
    missing = []
    for doc in [README, *DOCS]:
        for token in re.findall(r"`([^`\s]+)`", doc.read_text(encoding="utf-8")):
            if re.search(r"[<>{}*…=:%\\]", token) or token.startswith(("/", "~", ".", "-")):
                continue
            first = token.split("/")[0]
            if "/" in token and first in roots:
                ok = (ROOT / token).exists()
            elif "/" in token and first in rooms and token.endswith((".py", "/")):
                ok = (PACKAGE / token).exists()  # core/engine.py, storage/s3/
            elif "/" not in token and re.fullmatch(r"[\w-]+\.(py|md)", token):
                ok = token in files or (ROOT / token).exists()
            else:
                continue
            if not ok:
                missing.append(f"{doc.relative_to(ROOT)}: {token}")
    assert not missing, "not in the repository: " + ", ".join(missing)
