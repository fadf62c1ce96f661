//! The SQLite backend: one connection (WAL journal), migrations by `user_version`.
//!
//! **Group commit.** Every write is durable (fsynced) before [`SqliteDb::with`] returns, but
//! writes that arrive together share one commit: the first write of a batch opens a transaction
//! and leads it; writes that arrive while it gathers (a fraction of a millisecond) or while the
//! previous batch's fsync runs join it, each in its own savepoint (a failing write rolls back
//! alone); the leader commits once and wakes them all. The commit itself only appends to the
//! write-ahead log (`synchronous=NORMAL`); the leader then fsyncs the log with the connection
//! released, so the next batch gathers and commits meanwhile, and a batch is durable once a
//! sync that began after its commit has returned (one batch's sync makes every earlier batch's
//! frames durable too). A read returns at once (inside an open
//! batch it sees that batch's writes, which a failed commit, an I/O error, would undo). Under
//! load this turns a dozen fsyncs a request into a few a batch; alone, a write waits only the
//! gather.

use std::{
    path::Path,
    sync::{Arc, Condvar, Mutex, MutexGuard},
    time::Duration,
};

use rusqlite::{types::ValueRef, Connection};

use super::{Backend, Conn, DbError, DbResult, Row, Value};

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        let busy = matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        );
        if busy {
            Self::retryable(e.to_string())
        } else {
            Self::new(e.to_string())
        }
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Integer(*i),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

/// The shared tables, made (when missing) on every open, before the service's own migrations.
const BASE_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE IF NOT EXISTS transactions (
         hash TEXT PRIMARY KEY,
         request_id INTEGER NOT NULL,
         kind TEXT NOT NULL,
         status TEXT NOT NULL,
         error TEXT,
         sent_at INTEGER NOT NULL
     );
     CREATE INDEX IF NOT EXISTS transactions_request ON transactions(request_id);
     CREATE TABLE IF NOT EXISTS batched_transactions (
         hash TEXT NOT NULL,
         request_id INTEGER NOT NULL,
         PRIMARY KEY (hash, request_id)
     );
     CREATE INDEX IF NOT EXISTS batched_transactions_request ON batched_transactions(request_id);
     CREATE TABLE IF NOT EXISTS leases (
         name TEXT PRIMARY KEY,
         holder TEXT NOT NULL,
         epoch INTEGER NOT NULL,
         expires_at INTEGER NOT NULL
     );
     CREATE TABLE IF NOT EXISTS proof_jobs (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         key TEXT NOT NULL UNIQUE,
         model_id INTEGER NOT NULL,
         spec TEXT NOT NULL,
         status TEXT NOT NULL,
         worker TEXT,
         lease_until INTEGER NOT NULL DEFAULT 0,
         attempts INTEGER NOT NULL DEFAULT 0,
         takeovers INTEGER NOT NULL DEFAULT 0,
         result TEXT,
         error TEXT,
         created_at INTEGER NOT NULL,
         updated_at INTEGER NOT NULL
     );
     CREATE INDEX IF NOT EXISTS proof_jobs_status ON proof_jobs(status, model_id);";

/// The connection, as a [`Conn`].
struct SqliteConn<'a>(&'a Connection);

impl Conn for SqliteConn<'_> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> DbResult<u64> {
        let mut s = self.0.prepare_cached(sql)?;
        Ok(s.execute(rusqlite::params_from_iter(params))? as u64)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> DbResult<Vec<Row>> {
        let mut s = self.0.prepare_cached(sql)?;
        let columns: Arc<[String]> = s.column_names().into_iter().map(str::to_string).collect();
        let n = columns.len();
        let mut rows = s.query(rusqlite::params_from_iter(params))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let values = (0..n)
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        ValueRef::Null => Value::Null,
                        ValueRef::Integer(v) => Value::Int(v),
                        ValueRef::Real(v) => return Err(DbError::new(format!("unexpected real {v} in column {i}"))),
                        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                    })
                })
                .collect::<DbResult<Vec<_>>>()?;
            out.push(Row::new(columns.clone(), values));
        }
        Ok(out)
    }

    fn backend(&self) -> Backend {
        Backend::Sqlite
    }
}

/// A SQLite file.
pub struct SqliteDb {
    inner: Mutex<Inner>,
    /// The write-ahead log, fsynced after each commit.
    wal: std::path::PathBuf,
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

/// Fsyncs the write-ahead log at `wal` (absent: nothing was logged, as for an in-memory file).
fn sync(wal: &Path) -> Result<(), String> {
    match std::fs::File::open(wal) {
        Ok(f) => f.sync_data().map_err(|e| format!("fsync {}: {e}", wal.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("open {}: {e}", wal.display())),
    }
}

/// How long a batch's leader waits for other writes to join before it commits.
const GATHER: Duration = Duration::from_micros(300);

impl SqliteDb {
    /// Opens (creating and migrating when needed) the database at `path`: the shared tables, then
    /// `migrations[i]` takes the service's schema from version `i` to `i + 1`, each in its own
    /// transaction (`None`: the shared tables only, the service's version left as it is).
    pub fn open(path: &Path, migrations: Option<&[&str]>) -> DbResult<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| DbError::new(format!("cannot create {}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // Commits append to the log without an fsync: `with` fsyncs it outside the lock.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(BASE_SCHEMA)?;
        let version: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        // `None`: only the shared tables (a proof worker on the service's file).
        if let Some(migrations) = migrations {
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
        }
        let inner = Inner { conn, open: 0, last: 0, durable: 0, failed: None, commits: 0 };
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        Ok(Self { inner: Mutex::new(inner), wal: wal.into(), committed: Condvar::new() })
    }

    fn lock(&self) -> DbResult<MutexGuard<'_, Inner>> {
        self.inner.lock().map_err(|_| DbError::new("poisoned lock"))
    }

    /// Runs `f` on the connection, atomically (a failing `f` changes nothing); what it wrote is
    /// committed and fsynced when this returns (module documentation: group commit).
    pub fn with<T>(&self, f: impl FnOnce(&mut dyn Conn) -> DbResult<T>) -> DbResult<T> {
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
                let out = f(&mut SqliteConn(&g.conn));
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
            return out?;
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
        if let Err(e) = commit {
            let _ = g.conn.execute_batch("ROLLBACK");
            g.failed = Some((batch, e.to_string()));
            self.committed.notify_all();
            return Err(e.into());
        }
        if wrote {
            // The log's fsync, with the connection free for the next batch.
            drop(g);
            let synced = sync(&self.wal);
            g = self.lock()?;
            if let Err(e) = synced {
                // Committed but perhaps not on disk: its writers are told it failed.
                g.failed = Some((batch, e.clone()));
                self.committed.notify_all();
                return Err(DbError::new(format!("commit not durable: {e}")));
            }
        }
        // INVARIANT: a sync that began after a batch's commit makes it, and every earlier one,
        // durable.
        g.durable = g.durable.max(batch);
        self.committed.notify_all();
        out?
    }

    /// Batches committed since the file was opened (a batch holds every write that joined it).
    pub fn commits(&self) -> u64 {
        self.inner.lock().map_or(0, |g| g.commits)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rusqlite::Connection;

    use super::SqliteDb;
    use crate::db::params;

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
        let db = SqliteDb::open(&path, Some(SCHEMA)).unwrap();
        db.with(|c| c.execute("INSERT INTO t (id, v) VALUES (1, 'a')", &[])).unwrap();
        assert_eq!(rows(&path), [1], "durable before `with` returned");
        let v: String = db.with(|c| c.query("SELECT v FROM t WHERE id = 1", &[])?[0].get("v")).unwrap();
        assert_eq!(v, "a");
    }

    /// Writers that arrive together share commits, and every one of them is committed when its
    /// call returns; a failing write in a batch rolls back alone.
    #[test]
    fn concurrent_writes_share_commits_and_a_failing_one_rolls_back_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let db = Arc::new(SqliteDb::open(&path, Some(SCHEMA)).unwrap());
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
                                c.execute("INSERT INTO nowhere VALUES (1)", &[])
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
        let commits = db.commits();
        assert!(commits < 16 * 25, "writes shared commits: {commits} commits for {} writes", 16 * 25);
    }
}
