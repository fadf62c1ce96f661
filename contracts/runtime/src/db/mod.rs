//! The services' database, behind one [`Db`]: a SQLite file (the default, for one machine and the
//! demo; [`sqlite`]) or a PostgreSQL server (`--db postgres://…`, for several instances of one
//! operator; [`pg`]). The services write their SQL once, with `?N` placeholders and the types
//! both take (`BIGINT`-valued integers, `TEXT`, blobs), against [`Conn`]; each backend has its
//! own list of migrations ([`Schema`]).
//!
//! Both backends hold the tables every service keeps: `meta` (cursors and small values),
//! `transactions` (every transaction the [responder](crate::responder) sends), `leases` (which
//! instance acts: [`crate::lease`]) and `proof_jobs` (proofs left to workers: [`crate::jobs`]).

pub mod pg;
pub mod sqlite;

use std::{
    path::Path,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde::Serialize;

/// A database failure (I/O, corruption, a failed migration, a lock held too long, a lost
/// connection).
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

    /// A failure that a later try may not meet (busy, locked, the server unreachable).
    pub fn retryable(message: impl Into<String>) -> Self {
        Self { message: message.into(), retryable: true }
    }

    /// Whether retrying can help.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }
}

/// Database results.
pub type DbResult<T> = Result<T, DbError>;

/// A value written to or read from a column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// An integer (`INTEGER` in SQLite, `BIGINT` in PostgreSQL).
    Int(i64),
    /// Text.
    Text(String),
    /// Bytes (`BLOB`, `BYTEA`).
    Blob(Vec<u8>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl From<u64> for Value {
    /// Stored as the same 64 bits (ids, blocks and times stay far below 2^63).
    fn from(v: u64) -> Self {
        Self::Int(v as i64)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Text(v.to_string())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Self::Text(v.clone())
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Self::Blob(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}

/// The parameters of a statement, `?1`, `?2`, … in order: `params![id, name, None::<u64>]`.
#[macro_export]
macro_rules! params {
    ($($v:expr),* $(,)?) => {
        &[$($crate::db::Value::from($v)),*] as &[$crate::db::Value]
    };
}
pub use params;

/// A type a column reads as.
pub trait FromValue: Sized {
    /// What the column should hold, for errors.
    const WHAT: &'static str;
    /// The value, when it has this type.
    fn from_value(v: &Value) -> Option<Self>;
}

impl FromValue for i64 {
    const WHAT: &'static str = "an integer";
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
}

impl FromValue for u64 {
    const WHAT: &'static str = "an integer";
    fn from_value(v: &Value) -> Option<Self> {
        i64::from_value(v).map(|i| i as u64)
    }
}

impl FromValue for String {
    const WHAT: &'static str = "text";
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}

impl FromValue for Vec<u8> {
    const WHAT: &'static str = "bytes";
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Blob(b) => Some(b.clone()),
            _ => None,
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    const WHAT: &'static str = T::WHAT;
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Null => Some(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// One result row, its values by column name.
#[derive(Clone, Debug)]
pub struct Row {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

impl Row {
    pub(crate) fn new(columns: Arc<[String]>, values: Vec<Value>) -> Self {
        Self { columns, values }
    }

    /// The value of `column`, as a `T`.
    pub fn get<T: FromValue>(&self, column: &str) -> DbResult<T> {
        let i = self
            .columns
            .iter()
            .position(|c| c == column)
            .ok_or_else(|| DbError::new(format!("no column {column:?} in the result")))?;
        self.at(i).map_err(|_| DbError::new(format!("column {column:?} is not {}: {:?}", T::WHAT, self.values[i])))
    }

    /// The value of the `i`th column, as a `T`.
    pub fn at<T: FromValue>(&self, i: usize) -> DbResult<T> {
        let v = self.values.get(i).ok_or_else(|| DbError::new(format!("no column {i} in the result")))?;
        T::from_value(v).ok_or_else(|| DbError::new(format!("column {i} is not {}: {v:?}", T::WHAT)))
    }

    /// A JSON column (`NULL` reads as `None`).
    pub fn json<T: serde::de::DeserializeOwned>(&self, column: &str) -> DbResult<Option<T>> {
        self.get::<Option<String>>(column)?
            .map(|s| serde_json::from_str(&s).map_err(|e| DbError::new(format!("column {column:?}: {e}"))))
            .transpose()
    }
}

/// Which server a [`Conn`] talks to, for the few statements the two write differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A connection inside a transaction ([`Db::with`]). Statements use `?1`, `?2`, … placeholders.
pub trait Conn {
    /// Runs a statement; the number of rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> DbResult<u64>;
    /// Runs a query; its rows.
    fn query(&mut self, sql: &str, params: &[Value]) -> DbResult<Vec<Row>>;
    /// Which server this is.
    fn backend(&self) -> Backend;

    /// The first row of a query, if any.
    fn query_opt(&mut self, sql: &str, params: &[Value]) -> DbResult<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }
}

/// A service's migrations, one list per backend: `sqlite[i]` (or `postgres[i]`) takes the
/// schema from version `i` to `i + 1`, each in its own transaction. The lists may differ in
/// length (SQLite files keep their history; PostgreSQL began at today's schema). A PostgreSQL
/// database records the service it belongs to, and another service's refuses to open it (each
/// service keeps its own database: the shared tables would mix).
#[derive(Clone, Copy, Debug, Default)]
pub struct Schema {
    /// The service's name (`oracle`, `watchtower`).
    pub service: &'static str,
    /// SQLite's.
    pub sqlite: &'static [&'static str],
    /// PostgreSQL's.
    pub postgres: &'static [&'static str],
}

impl Schema {
    /// No tables beyond the shared ones.
    pub const NONE: Self = Self { service: "none", sqlite: &[], postgres: &[] };
}

/// Whether `location` names a PostgreSQL server rather than a SQLite file.
pub fn is_postgres_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

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
    /// Records a sent transaction that carries several requests (a batch, [`crate::batch`]):
    /// each of them lists it among its transactions.
    fn record_batch_tx(&self, hash: &str, request_ids: &[u64], kind: &str) -> DbResult<()> {
        self.record_tx(hash, request_ids.first().copied().unwrap_or(0), kind)
    }
}

/// A lease as the database holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LeaseRecord {
    /// The instance holding it (or that last held it).
    pub holder: String,
    /// Incremented on every change of holder.
    pub epoch: u64,
    /// Unix milliseconds after which another instance may take it.
    pub expires_at_ms: u64,
}

/// Unix seconds now.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The services' database.
pub enum Db {
    /// A SQLite file.
    Sqlite(sqlite::SqliteDb),
    /// A PostgreSQL server.
    Postgres(pg::PgDb),
}

impl Db {
    /// Opens (creating and migrating when needed) the database at `location`: a
    /// `postgres://` URL, or else a SQLite file's path. The shared tables first, then the
    /// service's migrations.
    pub fn open(location: impl AsRef<Path>, schema: &Schema) -> DbResult<Self> {
        Self::open_with(location.as_ref(), Some(schema))
    }

    /// Opens a service's database for its shared tables only (a proof worker's view): the
    /// service's own tables and schema version are neither read nor changed.
    pub fn open_shared(location: impl AsRef<Path>) -> DbResult<Self> {
        Self::open_with(location.as_ref(), None)
    }

    fn open_with(location: &Path, schema: Option<&Schema>) -> DbResult<Self> {
        match location.to_str() {
            Some(url) if is_postgres_url(url) => {
                Ok(Self::Postgres(pg::PgDb::open(url, schema.map(|s| (s.service, s.postgres)))?))
            }
            _ => Ok(Self::Sqlite(sqlite::SqliteDb::open(location, schema.map(|s| s.sqlite))?)),
        }
    }

    /// Which server this is.
    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }

    /// Runs `f` in one transaction: what it wrote is committed (and durable) when this returns,
    /// and a failing `f` changes nothing.
    pub fn with<T: Send>(&self, f: impl FnOnce(&mut dyn Conn) -> DbResult<T> + Send) -> DbResult<T> {
        match self {
            Self::Sqlite(db) => db.with(f),
            Self::Postgres(db) => db.with(f),
        }
    }

    /// Transactions committed since the database was opened (SQLite: batches, each holding
    /// every write that joined it).
    pub fn commits(&self) -> u64 {
        match self {
            Self::Sqlite(db) => db.commits(),
            Self::Postgres(db) => db.commits(),
        }
    }

    /// A small named value (cursors and the like).
    pub fn meta(&self, key: &str) -> DbResult<Option<String>> {
        self.with(|c| c.query_opt("SELECT value FROM meta WHERE key = ?1", params![key])?.map(|r| r.at(0)).transpose())
    }

    /// Sets a small named value.
    pub fn set_meta(&self, key: &str, value: &str) -> DbResult<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
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
        let t = now_ms().to_string();
        self.set_meta("probe", &t)?;
        match self.meta("probe")? {
            // Another instance may have probed in between: any recent write will do.
            Some(v) if v.parse::<u64>().is_ok_and(|v| v + 60_000 > now_ms()) => Ok(()),
            other => Err(DbError::new(format!("probe read back {other:?}"))),
        }
    }

    /// The transactions of a request, oldest first.
    pub fn transactions(&self, request_id: u64) -> DbResult<Vec<TxRecord>> {
        self.with(|c| {
            let sql = match c.backend() {
                Backend::Sqlite => {
                    "SELECT hash, request_id, kind, status, error, sent_at FROM transactions
                     WHERE request_id = ?1
                        OR hash IN (SELECT hash FROM batched_transactions WHERE request_id = ?1)
                     ORDER BY sent_at, rowid"
                }
                Backend::Postgres => {
                    "SELECT hash, request_id, kind, status, error, sent_at FROM transactions
                     WHERE request_id = ?1
                        OR hash IN (SELECT hash FROM batched_transactions WHERE request_id = ?1)
                     ORDER BY sent_at, seq"
                }
            };
            c.query(sql, params![request_id])?
                .into_iter()
                .map(|r| {
                    Ok(TxRecord {
                        hash: r.get("hash")?,
                        request_id: r.get("request_id")?,
                        kind: r.get("kind")?,
                        status: r.get("status")?,
                        error: r.get("error")?,
                        sent_at: r.get("sent_at")?,
                    })
                })
                .collect()
        })
    }

    /// Takes lease `name` for `holder` for `ttl` from `now_ms`, or renews it: when it is free,
    /// expired, or `holder`'s already. Its epoch when `holder` holds it now (incremented on every
    /// change of holder), `None` when another instance does.
    pub fn try_lease(&self, name: &str, holder: &str, now_ms: u64, ttl: Duration) -> DbResult<Option<u64>> {
        let until = now_ms + ttl.as_millis() as u64;
        self.with(|c| {
            let row = c.query_opt(
                "INSERT INTO leases (name, holder, epoch, expires_at) VALUES (?1, ?2, 1, ?3)
                 ON CONFLICT (name) DO UPDATE SET
                     epoch = CASE WHEN leases.holder = excluded.holder THEN leases.epoch ELSE leases.epoch + 1 END,
                     holder = excluded.holder,
                     expires_at = excluded.expires_at
                 WHERE leases.holder = excluded.holder OR leases.expires_at < ?4
                 RETURNING epoch",
                params![name, holder, until, now_ms],
            )?;
            row.map(|r| r.at(0)).transpose()
        })
    }

    /// Gives lease `name` up, if `holder` holds it (another instance may take it at once).
    pub fn release_lease(&self, name: &str, holder: &str) -> DbResult<()> {
        self.with(|c| {
            c.execute("UPDATE leases SET expires_at = 0 WHERE name = ?1 AND holder = ?2", params![name, holder])
                .map(drop)
        })
    }

    /// Lease `name` as held now, if it was ever taken.
    pub fn lease(&self, name: &str) -> DbResult<Option<LeaseRecord>> {
        self.with(|c| {
            c.query_opt("SELECT holder, epoch, expires_at FROM leases WHERE name = ?1", params![name])?
                .map(|r| {
                    Ok(LeaseRecord {
                        holder: r.get("holder")?,
                        epoch: r.get("epoch")?,
                        expires_at_ms: r.get("expires_at")?,
                    })
                })
                .transpose()
        })
    }
}

impl TxLog for Db {
    fn record_tx(&self, hash: &str, request_id: u64, kind: &str) -> DbResult<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO transactions (hash, request_id, kind, status, sent_at) VALUES (?1, ?2, ?3, 'sent', ?4)
                 ON CONFLICT (hash) DO NOTHING",
                params![hash, request_id, kind, now()],
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

    fn record_batch_tx(&self, hash: &str, request_ids: &[u64], kind: &str) -> DbResult<()> {
        self.with(|c| {
            let first = request_ids.first().copied().unwrap_or(0);
            c.execute(
                "INSERT INTO transactions (hash, request_id, kind, status, sent_at) VALUES (?1, ?2, ?3, 'sent', ?4)
                 ON CONFLICT (hash) DO NOTHING",
                params![hash, first, kind, now()],
            )?;
            for id in request_ids {
                c.execute(
                    "INSERT INTO batched_transactions (hash, request_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                    params![hash, *id],
                )?;
            }
            Ok(())
        })
    }
}
