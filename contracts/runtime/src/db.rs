//! The services' SQLite file: one connection (WAL journal, full sync), migrations by
//! `user_version`, and the tables both services keep — `meta` (cursors and small values) and
//! `transactions` (every transaction the [responder](crate::responder) sends). Each service's
//! store wraps a [`Db`] and adds its own tables through its own migrations.
//!
//! **Group commit.** Every write is durable (fsynced) before [`Db::with`] returns, but writes
//! that arrive together share one commit: the first write of a batch opens a transaction and
//! leads it; writes that arrive while it gathers (a fraction of a millisecond) or while the
//! previous batch's fsync runs join it, each in its own savepoint (a failing write rolls back
//! alone); the leader commits once and wakes them all. A read returns at once (inside an open
//! batch it sees that batch's writes, which a failed commit, an I/O error, would undo). Under
//! load this turns a dozen fsyncs a request into a few a batch; alone, a write waits only the
//! gather.

use std::{
    path::Path,
    sync::{Condvar, Mutex, MutexGuard},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

/// A database failure (I/O, corruption, a failed migration, a lock held too long).
#[derive(Debug, thiserror::Error)]
#[error("store: {message}")]
pub struct DbError {
    message: String,
    retryable: bool,
}

impl DbError {
    /// A failure that retrying does not fix.
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), retryable: false }
    }

    /// Whether retrying can help (the database was busy or locked).
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        let retryable = matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        );
        Self { message: e.to_string(), retryable }
    }
}

/// Database results.
pub type DbResult<T> = Result<T, DbError>;

/// The `meta` and `transactions` tables, made (when missing) on every open, before the service's
/// own migrations.
const BASE_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE IF NOT EXISTS transactions (
         hash TEXT PRIMARY KEY,
         request_id INTEGER NOT NULL,
         kind TEXT NOT NULL,
         status TEXT NOT NULL,
         error TEXT,
         sent_at INTEGER NOT NULL
     );
     CREATE INDEX IF NOT EXISTS transactions_request ON transactions(request_id);";

/// One transaction sent for a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TxRecord {
    /// The transaction hash (hex).
    pub hash: String,
    /// The request it is for (0 for none).
    pub request_id: u64,
    /// `request`, `propose`, `settle`, …
    pub kind: String,
    /// `sent`, `mined`, `reverted`, `replaced`.
    pub status: String,
    /// The decoded revert, when it reverted.
    pub error: Option<String>,
    /// Unix seconds.
    pub sent_at: u64,
}

/// Where the responder writes what it sends, before it waits for it.
pub trait TxLog: Send + Sync {
    /// Records a sent transaction (before waiting for it).
    fn record_tx(&self, hash: &str, request_id: u64, kind: &str) -> DbResult<()>;
    /// Records a transaction's outcome.
    fn finish_tx(&self, hash: &str, status: &str, error: Option<&str>) -> DbResult<()>;
}

/// Unix seconds now.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A JSON column.
pub fn json_col<T: serde::de::DeserializeOwned>(s: Option<String>) -> rusqlite::Result<Option<T>> {
    s.map(|s| serde_json::from_str(&s))
        .transpose()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

/// A SQLite file.
pub struct Db {
    inner: Mutex<Inner>,
    /// Signalled when a batch is committed (or failed).
    committed: Condvar,
}

/// The connection and the batch in progress.
struct Inner {
    conn: Connection,
    /// The open batch's number (its transaction is open), or 0.
    open: u64,
    /// The last batch number handed out.
    last: u64,
    /// Every batch up to this one is committed.
    durable: u64,
    /// The last batch whose commit failed, and why.
    failed: Option<(u64, String)>,
    /// Commits made (batches), for tests and metrics.
    commits: u64,
}

/// How long a batch's leader waits for other writes to join before it commits.
const GATHER: Duration = Duration::from_micros(300);

impl Db {
    /// Opens (creating and migrating when needed) the database at `path`: the shared tables, then
    /// `migrations[i]` takes the service's schema from version `i` to `i + 1`, each in its own
    /// transaction.
    pub fn open(path: impl AsRef<Path>, migrations: &[&str]) -> DbResult<Self> {
        let path = path.as_ref();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| DbError::new(format!("cannot create {}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(BASE_SCHEMA)?;
        let version: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > migrations.len() {
            return Err(DbError::new(format!(
                "the database is at schema v{version}, newer than this binary's v{}",
                migrations.len()
            )));
        }
        for (i, sql) in migrations.iter().enumerate().skip(version) {
            let tx = conn.unchecked_transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i + 1)?;
            tx.commit()?;
        }
        let inner = Inner { conn, open: 0, last: 0, durable: 0, failed: None, commits: 0 };
        Ok(Self { inner: Mutex::new(inner), committed: Condvar::new() })
    }

    fn lock(&self) -> DbResult<MutexGuard<'_, Inner>> {
        self.inner.lock().map_err(|_| DbError::new("poisoned lock"))
    }

    /// Runs `f` on the connection, atomically (a failing `f` changes nothing); what it wrote is
    /// committed and fsynced when this returns (module documentation: group commit).
    pub fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> DbResult<T> {
        let mut g = self.lock()?;
        let leader = g.open == 0;
        if leader {
            g.conn.execute_batch("BEGIN IMMEDIATE")?;
            g.last += 1;
            g.open = g.last;
        }
        let batch = g.open;
        let before = g.conn.total_changes();
        let out = match g.conn.execute_batch("SAVEPOINT write") {
            Ok(()) => {
                let out = f(&g.conn);
                let end = if out.is_ok() { "RELEASE write" } else { "ROLLBACK TO write; RELEASE write" };
                g.conn.execute_batch(end).map(|()| out)
            }
            Err(e) => Err(e),
        };
        let wrote = g.conn.total_changes() != before;
        if !leader {
            if wrote {
                // INVARIANT: a write returns only once its batch is durable.
                while g.durable < batch && g.failed.as_ref().is_none_or(|(b, _)| *b != batch) {
                    g = self.committed.wait(g).map_err(|_| DbError::new("poisoned lock"))?;
                }
                if let Some((b, why)) = &g.failed {
                    if *b == batch {
                        return Err(DbError::new(format!("commit failed: {why}")));
                    }
                }
            }
            return Ok(out??);
        }
        if wrote {
            // Let the writes that arrive meanwhile join this batch.
            drop(g);
            std::thread::sleep(GATHER);
            g = self.lock()?;
        }
        let commit = g.conn.execute_batch("COMMIT");
        g.open = 0;
        g.commits += 1;
        match commit {
            Ok(()) => g.durable = batch,
            Err(e) => {
                let _ = g.conn.execute_batch("ROLLBACK");
                g.failed = Some((batch, e.to_string()));
                self.committed.notify_all();
                return Err(e.into());
            }
        }
        self.committed.notify_all();
        Ok(out??)
    }

    /// Batches committed since the file was opened (a batch holds every write that joined it).
    pub fn commits(&self) -> DbResult<u64> {
        Ok(self.lock()?.commits)
    }

    /// A small named value (cursors and the like).
    pub fn meta(&self, key: &str) -> DbResult<Option<String>> {
        self.with(|c| c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional())
    }

    /// Sets a small named value.
    pub fn set_meta(&self, key: &str, value: &str) -> DbResult<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(drop)
        })
    }

    /// A block number kept under `key`.
    pub fn block(&self, key: &str) -> DbResult<Option<u64>> {
        let v = self.meta(key)?;
        v.map(|v| v.parse().map_err(|_| DbError::new(format!("corrupt {key} {v:?}")))).transpose()
    }

    /// Writes and reads back a probe value (health check).
    pub fn probe(&self) -> DbResult<()> {
        let t = now().to_string();
        self.set_meta("probe", &t)?;
        match self.meta("probe")? {
            Some(v) if v == t => Ok(()),
            other => Err(DbError::new(format!("probe read back {other:?}"))),
        }
    }

    /// The transactions of a request, oldest first.
    pub fn transactions(&self, request_id: u64) -> DbResult<Vec<TxRecord>> {
        self.with(|c| {
            let mut s = c.prepare(
                "SELECT hash, request_id, kind, status, error, sent_at FROM transactions
                 WHERE request_id = ?1 ORDER BY sent_at, rowid",
            )?;
            let rows = s
                .query_map([request_id as i64], |r| {
                    Ok(TxRecord {
                        hash: r.get(0)?,
                        request_id: r.get::<_, i64>(1)? as u64,
                        kind: r.get(2)?,
                        status: r.get(3)?,
                        error: r.get(4)?,
                        sent_at: r.get::<_, i64>(5)? as u64,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>();
            rows
        })
    }
}

impl TxLog for Db {
    fn record_tx(&self, hash: &str, request_id: u64, kind: &str) -> DbResult<()> {
        self.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO transactions (hash, request_id, kind, status, sent_at)
                 VALUES (?1, ?2, ?3, 'sent', ?4)",
                params![hash, request_id as i64, kind, now() as i64],
            )
            .map(drop)
        })
    }

    fn finish_tx(&self, hash: &str, status: &str, error: Option<&str>) -> DbResult<()> {
        self.with(|c| {
            c.execute("UPDATE transactions SET status = ?2, error = ?3 WHERE hash = ?1", params![hash, status, error])
                .map(drop)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rusqlite::{params, Connection};

    use super::Db;

    const SCHEMA: &[&str] = &["CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL);"];

    fn rows(path: &std::path::Path) -> Vec<i64> {
        // Another connection: sees only what is committed.
        let c = Connection::open(path).unwrap();
        let mut s = c.prepare("SELECT id FROM t ORDER BY id").unwrap();
        let ids = s.query_map([], |r| r.get(0)).unwrap().collect::<rusqlite::Result<Vec<i64>>>().unwrap();
        ids
    }

    #[test]
    fn a_write_is_committed_when_it_returns_and_a_read_sees_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let db = Db::open(&path, SCHEMA).unwrap();
        db.with(|c| c.execute("INSERT INTO t (id, v) VALUES (1, 'a')", [])).unwrap();
        assert_eq!(rows(&path), [1], "durable before `with` returned");
        let v: String = db.with(|c| c.query_row("SELECT v FROM t WHERE id = 1", [], |r| r.get(0))).unwrap();
        assert_eq!(v, "a");
    }

    /// Writers that arrive together share commits, and every one of them is committed when its
    /// call returns; a failing write in a batch rolls back alone.
    #[test]
    fn concurrent_writes_share_commits_and_a_failing_one_rolls_back_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let db = Arc::new(Db::open(&path, SCHEMA).unwrap());
        let threads: Vec<_> = (0..16)
            .map(|t| {
                let db = db.clone();
                std::thread::spawn(move || {
                    for i in 0..25i64 {
                        let id = t * 100 + i;
                        if i == 7 {
                            // Inserts, then fails: nothing of it may remain.
                            let err = db.with(|c| {
                                c.execute("INSERT INTO t (id, v) VALUES (?1, 'x')", params![id])?;
                                c.execute("INSERT INTO nowhere VALUES (1)", [])
                            });
                            assert!(err.is_err());
                            continue;
                        }
                        db.with(|c| c.execute("INSERT INTO t (id, v) VALUES (?1, 'v')", params![id])).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let ids = rows(&path);
        assert_eq!(ids.len(), 16 * 24, "every successful write committed, no failed one");
        assert!(ids.iter().all(|id| id % 100 != 7));
        let commits = db.commits().unwrap();
        assert!(commits < 16 * 25, "writes shared commits: {commits} commits for {} writes", 16 * 25);
    }
}
