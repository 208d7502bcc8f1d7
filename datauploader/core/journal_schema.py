"""The journal's SQLite schema and its ordered migrations (every old journal opens in a new
DataUploader; a journal of a newer one is refused, never damaged)."""

SCHEMA_VERSION = 4

# Ordered migrations: MIGRATIONS[i] takes a database from version i to i + 1.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        uuid TEXT NOT NULL UNIQUE,
        created REAL NOT NULL,
        updated REAL NOT NULL,
        profile TEXT NOT NULL,
        catalogue TEXT NOT NULL,
        storage TEXT NOT NULL,
        prefix TEXT NOT NULL,
        proposal TEXT NOT NULL,
        dataset_name TEXT NOT NULL,
        definition TEXT NOT NULL,
        options TEXT NOT NULL DEFAULT '{}',
        state TEXT NOT NULL,
        error TEXT,
        details TEXT,
        investigation_id TEXT,
        dataset_id TEXT,
        dataset_key TEXT,
        files_total INTEGER NOT NULL DEFAULT 0,
        bytes_total INTEGER NOT NULL DEFAULT 0,
        started REAL,
        finished REAL,
        host TEXT,
        pid INTEGER
    );
    CREATE TABLE tasks (
        id INTEGER PRIMARY KEY,
        job_id INTEGER NOT NULL REFERENCES jobs(id),
        path TEXT NOT NULL,
        relpath TEXT NOT NULL,
        key TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        checksum TEXT,
        algorithm TEXT,
        location TEXT,
        verified_by TEXT,
        datafile_id TEXT,
        error TEXT,
        updated REAL NOT NULL,
        UNIQUE (job_id, relpath)
    );
    CREATE INDEX tasks_by_job_state ON tasks (job_id, state);
    CREATE TABLE task_events (
        id INTEGER PRIMARY KEY,
        job_id INTEGER NOT NULL,
        task_id INTEGER NOT NULL,
        ts REAL NOT NULL,
        state TEXT NOT NULL,
        attempt INTEGER NOT NULL DEFAULT 0,
        detail TEXT
    );
    CREATE INDEX task_events_by_task ON task_events (task_id);
    CREATE TABLE job_events (
        id INTEGER PRIMARY KEY,
        job_id INTEGER NOT NULL,
        ts REAL NOT NULL,
        event TEXT NOT NULL,
        detail TEXT
    );
    CREATE TABLE multipart (
        task_id INTEGER PRIMARY KEY,
        upload_id TEXT NOT NULL,
        part_size INTEGER NOT NULL,
        created REAL NOT NULL
    );
    CREATE TABLE parts (
        task_id INTEGER NOT NULL,
        part_number INTEGER NOT NULL,
        size INTEGER NOT NULL,
        etag TEXT NOT NULL,
        checksum TEXT,
        PRIMARY KEY (task_id, part_number)
    );
    """,
    # 2: sync mode looks files up by local path (a file may have several versions), and a
    #    finish requested from another process (or before a crash) is remembered
    """
    CREATE INDEX tasks_by_path ON tasks (job_id, path);
    ALTER TABLE jobs ADD COLUMN finish_requested REAL
    """,
    # 3: what could not be planned is a task too (kind 'folder' for an unreadable folder), and
    #    the ETag each file had when we stored it (the closing check compares it)
    """
    ALTER TABLE tasks ADD COLUMN kind TEXT NOT NULL DEFAULT 'file';
    ALTER TABLE tasks ADD COLUMN etag TEXT
    """,
    # 4: a file on a server that tracks its state itself (etiket: its file id and version,
    #    and announced, pending or secured), so that a resume continues that very version
    """
    CREATE TABLE remote_files (
        task_id INTEGER PRIMARY KEY,
        remote_id TEXT NOT NULL,
        version TEXT NOT NULL,
        status TEXT NOT NULL,
        updated REAL NOT NULL
    )
    """,
]
