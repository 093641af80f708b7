//! The run store: an embedded SQLite file `DATA/esr.sqlite` holding scenarios, runs (state,
//! timings, scenario, run folder, archived flag) and scorecard summaries. Metrics stay in the
//! run folders beside it (`DATA/runs/RUN-NNNN`); old folders are packed into `DATA/archive/`.
//!
//! Gives [`Store`] to `esr serve` and `esr runs`; its run lists also carry the run folders
//! `esr replay --data` wrote into the same data folder (origin `cli`, read from the folders by
//! `folders`, never written to SQLite). It must never hold a run's metrics or any
//! request data, and never hand out an id twice: scenario ids come from an AUTOINCREMENT
//! column, run ids from [`crate::replay::run::allocate`] (the same folders `esr replay` uses).

mod archive;
mod folders;
mod rows;

pub use archive::{SUFFIX as ARCHIVE_SUFFIX, pack, unpack};
pub use folders::{folder_run, folder_runs};
pub use rows::{RunOrigin, RunRow, RunState, ScenarioRow, Summary};

use std::fs::File;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use crate::replay::run::{allocate, rfc3339, unix_now_us};

/// The SQLite file's name in the data folder.
pub const DB_FILE: &str = "esr.sqlite";
/// The lock a server holds on its data folder for as long as it runs.
pub const LOCK_FILE: &str = "esr.lock";
/// Layout version kept in `PRAGMA user_version`.
pub const SCHEMA_VERSION: i64 = 1;

const SCHEMA_V1: &str = "
CREATE TABLE scenarios (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE runs (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    scenario_id TEXT NOT NULL,
    state TEXT NOT NULL,
    speed REAL,
    folder TEXT NOT NULL,
    created_us INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    error TEXT,
    archived INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE summaries (
    run_id TEXT PRIMARY KEY REFERENCES runs(id),
    requests INTEGER NOT NULL,
    completed INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    intended INTEGER NOT NULL,
    success_rate REAL NOT NULL,
    latency_p95_ms REAL NOT NULL,
    payment_success REAL,
    compliance_hits INTEGER NOT NULL,
    verdict TEXT NOT NULL,
    notes TEXT NOT NULL,
    interrupted INTEGER NOT NULL
);
";

/// Errors of the store. Messages name the file and say what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("run store `{path}`: {reason}")]
    Db { path: PathBuf, reason: String },
    #[error("`{path}`: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Archive(String),
    #[error(
        "another `esr serve` is using the data folder `{0}`; stop it or pick another with --data DIR"
    )]
    Busy(PathBuf),
    #[error("{0}")]
    Conflict(String),
    #[error("no {kind} `{id}`")]
    NotFound { kind: &'static str, id: String },
}

impl StoreError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// An open store. One connection; the server wraps it in a mutex (statements are short).
pub struct Store {
    conn: Connection,
    data: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("data", &self.data).finish()
    }
}

/// Held by a running server: while it lives, no other server opens the folder and no
/// reader mistakes the server's running runs for crashed ones.
#[derive(Debug)]
pub struct ServerLock {
    _file: File,
}

impl Store {
    /// Opens (creating when missing) the store in `data`. When no server holds the folder,
    /// runs a crash left `STARTED` or `QUEUED` are marked `FAILED` (see [`Store::recover`]).
    pub fn open(data: &Path) -> Result<Store, StoreError> {
        let store = Store::open_unlocked(data)?;
        if let Some(lock) = store.try_lock()? {
            store.recover()?;
            drop(lock);
        }
        Ok(store)
    }

    /// Opens the store for a server: takes the folder's lock (refused while another server
    /// holds it) and marks runs a crash cut off as `FAILED`.
    pub fn open_for_server(data: &Path) -> Result<(Store, ServerLock), StoreError> {
        let store = Store::open_unlocked(data)?;
        let lock = store
            .try_lock()?
            .ok_or_else(|| StoreError::Busy(data.to_path_buf()))?;
        let n = store.recover()?;
        if n > 0 {
            tracing::warn!("{n} runs were cut off by a stop or crash; marked FAILED");
        }
        Ok((store, lock))
    }

    /// Another connection to the same store, for work that should not hold this one (packing
    /// an archive). Never recovers anything: the caller's process owns the running runs.
    pub fn reopen(&self) -> Result<Store, StoreError> {
        Store::open_unlocked(&self.data)
    }

    fn open_unlocked(data: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data).map_err(|e| StoreError::io(data, e))?;
        let path = data.join(DB_FILE);
        let conn = Connection::open(&path).map_err(|e| db(&path, e))?;
        let store = Store {
            conn,
            data: data.to_path_buf(),
        };
        store.migrate()?;
        Ok(store)
    }

    fn try_lock(&self) -> Result<Option<ServerLock>, StoreError> {
        let path = self.data.join(LOCK_FILE);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(ServerLock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(StoreError::io(&path, e)),
        }
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let c = &self.conn;
        let e = |e| db(&self.db_path(), e);
        c.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(e)?;
        // WAL: `esr runs list` reads while the server writes.
        c.pragma_update(None, "journal_mode", "WAL").map_err(e)?;
        c.pragma_update(None, "foreign_keys", "ON").map_err(e)?;
        let v: i64 = c
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(e)?;
        match v {
            0 => {
                c.execute_batch(&format!(
                    "BEGIN; {SCHEMA_V1} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
                ))
                .map_err(e)?;
                Ok(())
            }
            SCHEMA_VERSION => Ok(()),
            other => Err(StoreError::Db {
                path: self.db_path(),
                reason: format!(
                    "layout version `{other}` is newer than this esr knows (`{SCHEMA_VERSION}`); use a newer esr"
                ),
            }),
        }
    }

    fn db_path(&self) -> PathBuf {
        self.data.join(DB_FILE)
    }

    fn e(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |e| db(&self.db_path(), e)
    }

    /// The data folder.
    pub fn data(&self) -> &Path {
        &self.data
    }

    /// Marks runs left `STARTED` or `QUEUED` (by a crash) as `FAILED`; their folders and
    /// partial metrics stay. Returns how many.
    pub fn recover(&self) -> Result<usize, StoreError> {
        self.conn
            .execute(
                "UPDATE runs SET state = 'FAILED', finished_at = ?1,
                 error = 'the server stopped while the run was ' || lower(state)
                 WHERE state IN ('STARTED', 'QUEUED')",
                params![now()],
            )
            .map_err(self.e())
    }

    /// Stores a validated scenario (its JSON) and returns its id, `SCN-n`.
    pub fn add_scenario(&self, name: &str, body: &str) -> Result<String, StoreError> {
        self.conn
            .execute(
                "INSERT INTO scenarios (name, body, created_at) VALUES (?1, ?2, ?3)",
                params![name, body, now()],
            )
            .map_err(self.e())?;
        Ok(format!("SCN-{}", self.conn.last_insert_rowid()))
    }

    /// Every stored scenario, oldest first.
    pub fn scenarios(&self) -> Result<Vec<ScenarioRow>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT seq, name, body, created_at FROM scenarios ORDER BY seq")
            .map_err(self.e())?;
        st.query_map([], ScenarioRow::from_row)
            .and_then(|r| r.collect())
            .map_err(self.e())
    }

    /// One scenario, `None` when unknown.
    pub fn scenario(&self, id: &str) -> Result<Option<ScenarioRow>, StoreError> {
        let Some(seq) = seq_of(id, "SCN-") else {
            return Ok(None);
        };
        self.conn
            .query_row(
                "SELECT seq, name, body, created_at FROM scenarios WHERE seq = ?1",
                params![seq],
                ScenarioRow::from_row,
            )
            .optional()
            .map_err(self.e())
    }

    /// Deletes a scenario; its runs stay. `false` when unknown.
    pub fn delete_scenario(&self, id: &str) -> Result<bool, StoreError> {
        let Some(seq) = seq_of(id, "SCN-") else {
            return Ok(false);
        };
        let n = self
            .conn
            .execute("DELETE FROM scenarios WHERE seq = ?1", params![seq])
            .map_err(self.e())?;
        Ok(n > 0)
    }

    /// Creates a run of `scenario_id` in `state` (`QUEUED` or `STARTED`): allocates its
    /// folder `DATA/runs/RUN-NNNN` now, so the id a client gets is the folder it will read.
    pub fn create_run(
        &self,
        scenario_id: &str,
        speed: Option<f64>,
        state: RunState,
    ) -> Result<(RunRow, crate::replay::run::RunFolder), StoreError> {
        // A folder name the store already knows (a run folder deleted by hand) is skipped:
        // its empty new folder stays behind so the next allocation moves past it.
        for _ in 0..1000 {
            let folder = allocate(&self.data).map_err(|e| StoreError::Archive(e.to_string()))?;
            let seq = seq_of(&folder.id, "RUN-").unwrap_or(0);
            let (us, at) = (unix_now_us(), now());
            let started = (state == RunState::Started).then(|| at.clone());
            let inserted = self.conn.execute(
                "INSERT OR IGNORE INTO runs (seq, id, scenario_id, state, speed, folder,
                 created_us, created_at, started_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    seq,
                    folder.id,
                    scenario_id,
                    state.as_str(),
                    speed,
                    // Relative to the data folder, so the folder can move.
                    format!("runs/{}", folder.id),
                    us,
                    at,
                    started
                ],
            );
            if inserted.map_err(self.e())? == 1 {
                let row = self.run(&folder.id)?.ok_or_else(|| StoreError::NotFound {
                    kind: "run",
                    id: folder.id.clone(),
                })?;
                return Ok((row, folder));
            }
        }
        Err(StoreError::Conflict(
            "cannot find a free run id; check `DATA/runs`".into(),
        ))
    }

    /// `QUEUED` → `STARTED`, stamping the start time.
    pub fn set_started(&self, id: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE runs SET state = 'STARTED', started_at = ?2 WHERE id = ?1",
                params![id, now()],
            )
            .map_err(self.e())?;
        Ok(())
    }

    /// Ends a run: its final state, the scorecard summary when there is one, the error when
    /// it failed.
    pub fn finish(
        &self,
        id: &str,
        state: RunState,
        summary: Option<&Summary>,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let tx = self.conn.unchecked_transaction().map_err(self.e())?;
        tx.execute(
            "UPDATE runs SET state = ?2, finished_at = ?3, error = ?4 WHERE id = ?1",
            params![id, state.as_str(), now(), error],
        )
        .map_err(self.e())?;
        if let Some(s) = summary {
            s.insert(&tx, id).map_err(self.e())?;
        }
        tx.commit().map_err(self.e())
    }

    /// Every run, oldest first: the store's own (the API's) and the run folders commands
    /// wrote into the same data folder (origin `cli`, read from their folders).
    pub fn runs(&self) -> Result<Vec<RunRow>, StoreError> {
        let sql = format!("{} ORDER BY r.seq", RunRow::SELECT);
        let mut st = self.conn.prepare(&sql).map_err(self.e())?;
        let mut rows: Vec<RunRow> = st
            .query_map([], RunRow::from_row)
            .and_then(|r| r.collect())
            .map_err(self.e())?;
        let known = rows.iter().map(|r| r.id.clone()).collect();
        rows.extend(folder_runs(&self.data, &known));
        let mut rows: Vec<RunRow> = rows.into_iter().map(|r| self.resolve(r)).collect();
        rows.sort_by_key(|r| folders::run_seq(&r.id));
        Ok(rows)
    }

    /// The store's row with its folder made absolute, and failed when the folder says so.
    fn resolve(&self, mut r: RunRow) -> RunRow {
        if r.origin == RunOrigin::Cli {
            return r;
        }
        r.folder = self.data.join(&r.folder);
        folders::overlay_failure(r)
    }

    /// One run, `None` when unknown: the store's, else a run folder a command wrote.
    pub fn run(&self, id: &str) -> Result<Option<RunRow>, StoreError> {
        let sql = format!("{} WHERE r.id = ?1", RunRow::SELECT);
        let stored = self
            .conn
            .query_row(&sql, params![id], RunRow::from_row)
            .optional()
            .map(|r| r.map(|r| self.resolve(r)))
            .map_err(self.e())?;
        Ok(stored.or_else(|| folder_run(&self.data, id)))
    }

    /// Archives every finished run created more than `older_than_days` ago: its folder is
    /// packed into `DATA/archive/RUN-NNNN.esra.gz` and removed; the summary stays. Returns the
    /// ids archived; a run that cannot be archived is skipped with a warning.
    pub fn archive_older_than(&self, older_than_days: f64) -> Result<Vec<String>, StoreError> {
        let cutoff = unix_now_us() - (older_than_days * 86_400e6) as i64;
        let ids: Vec<String> = {
            let mut st = self
                .conn
                .prepare(
                    "SELECT id FROM runs WHERE archived = 0 AND created_us <= ?1
                     AND state IN ('DONE', 'FAILED', 'CANCELLED') ORDER BY seq",
                )
                .map_err(self.e())?;
            st.query_map(params![cutoff], |r| r.get(0))
                .and_then(|r| r.collect::<Result<_, _>>())
                .map_err(self.e())?
        };
        let mut done = Vec::new();
        for id in ids {
            // One damaged run (its folder deleted by hand) must not stop the others.
            match self.archive(&id) {
                Ok(()) => done.push(id),
                Err(e) => tracing::warn!("cannot archive `{id}`: {e}"),
            }
        }
        Ok(done)
    }

    /// Archives one finished run.
    pub fn archive(&self, id: &str) -> Result<(), StoreError> {
        let run = self.known_run(id)?;
        if run.origin == RunOrigin::Cli {
            // The store has no row to keep its summary and flag: packing would lose the run.
            return Err(StoreError::Conflict(format!(
                "run `{id}` was made by a command (`esr replay --data`), not through the API; \
                 only the API's runs are archived"
            )));
        }
        if !run.state.is_final() {
            return Err(StoreError::Conflict(format!(
                "run `{id}` is {}; only finished runs are archived",
                run.state.as_str()
            )));
        }
        if run.archived {
            return Ok(());
        }
        let out = self.archive_path(id);
        if run.folder.is_dir() {
            pack(&run.folder, &out)?;
        } else if !out.is_file() {
            return Err(StoreError::Archive(format!(
                "run folder `{}` is missing and there is no archive of it",
                run.folder.display()
            )));
        }
        // The archive is on disk (renamed into place) before the flag is set and the folder
        // goes: a crash in between leaves both, never neither.
        self.conn
            .execute("UPDATE runs SET archived = 1 WHERE id = ?1", params![id])
            .map_err(self.e())?;
        if run.folder.is_dir() {
            std::fs::remove_dir_all(&run.folder).map_err(|e| StoreError::io(&run.folder, e))?;
        }
        Ok(())
    }

    /// Brings an archived run's folder back, byte for byte, and removes the archive.
    /// Restoring a run that is not archived is a no-op.
    pub fn restore(&self, id: &str) -> Result<RunRow, StoreError> {
        let run = self.known_run(id)?;
        if !run.archived {
            return Ok(run);
        }
        let arc = self.archive_path(id);
        if !run.folder.exists() {
            unpack(&arc, &run.folder)?;
        }
        self.conn
            .execute("UPDATE runs SET archived = 0 WHERE id = ?1", params![id])
            .map_err(self.e())?;
        std::fs::remove_file(&arc).map_err(|e| StoreError::io(&arc, e))?;
        self.known_run(id)
    }

    /// `DATA/archive/RUN-NNNN.esra.gz`.
    pub fn archive_path(&self, id: &str) -> PathBuf {
        self.data
            .join("archive")
            .join(format!("{id}{}", archive::SUFFIX))
    }

    fn known_run(&self, id: &str) -> Result<RunRow, StoreError> {
        self.run(id)?.ok_or_else(|| StoreError::NotFound {
            kind: "run",
            id: id.to_string(),
        })
    }
}

fn db(path: &Path, e: rusqlite::Error) -> StoreError {
    StoreError::Db {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

fn now() -> String {
    rfc3339(unix_now_us())
}

/// `SCN-12` → 12.
fn seq_of(id: &str, prefix: &str) -> Option<i64> {
    id.strip_prefix(prefix)?.parse().ok().filter(|n| *n > 0)
}

#[cfg(test)]
mod tests;
