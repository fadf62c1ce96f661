//! The PostgreSQL backend: a pool of at most 16 connections (callers beyond wait for a free one),
//! one transaction a [`PgDb::with`], migrations numbered in a `schema_version` table (which also
//! names the service the database belongs to) and applied under an advisory lock (instances that
//! start together migrate once), prepared statements cached per connection.
//!
//! The synchronous `postgres` client runs its own small runtime, which cannot start on a thread
//! that drives tokio tasks: called from inside the services' runtime, a transaction runs on a
//! scoped thread of its own (a few microseconds, against a round trip to the server).

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Condvar, Mutex,
    },
    time::Duration,
};

use bytes::BytesMut;
use postgres::{
    error::SqlState,
    types::{IsNull, ToSql, Type},
    Client, NoTls, Statement,
};

use super::{Backend, Conn, DbError, DbResult, Row, Value};

/// The shared tables (the SQLite backend's, in PostgreSQL's types).
const BASE_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE IF NOT EXISTS transactions (
         seq BIGSERIAL,
         hash TEXT PRIMARY KEY,
         request_id BIGINT NOT NULL,
         kind TEXT NOT NULL,
         status TEXT NOT NULL,
         error TEXT,
         sent_at BIGINT NOT NULL
     );
     CREATE INDEX IF NOT EXISTS transactions_request ON transactions(request_id);
     CREATE TABLE IF NOT EXISTS batched_transactions (
         hash TEXT NOT NULL,
         request_id BIGINT NOT NULL,
         PRIMARY KEY (hash, request_id)
     );
     CREATE INDEX IF NOT EXISTS batched_transactions_request ON batched_transactions(request_id);
     CREATE TABLE IF NOT EXISTS leases (
         name TEXT PRIMARY KEY,
         holder TEXT NOT NULL,
         epoch BIGINT NOT NULL,
         expires_at BIGINT NOT NULL
     );
     CREATE TABLE IF NOT EXISTS proof_jobs (
         id BIGSERIAL PRIMARY KEY,
         key TEXT NOT NULL UNIQUE,
         model_id BIGINT NOT NULL,
         spec TEXT NOT NULL,
         status TEXT NOT NULL,
         worker TEXT,
         lease_until BIGINT NOT NULL DEFAULT 0,
         attempts BIGINT NOT NULL DEFAULT 0,
         takeovers BIGINT NOT NULL DEFAULT 0,
         result TEXT,
         error TEXT,
         created_at BIGINT NOT NULL,
         updated_at BIGINT NOT NULL
     );
     CREATE INDEX IF NOT EXISTS proof_jobs_status ON proof_jobs(status, model_id);
     CREATE TABLE IF NOT EXISTS schema_version (service TEXT NOT NULL, version BIGINT NOT NULL);";

/// The advisory lock that serializes migrations ("VRDT").
const MIGRATION_LOCK: i64 = 0x5652_4454;

/// The most connections one process opens (callers beyond wait for one to be free): well under
/// the server's default `max_connections` of 100, with room for other instances and workers.
const MAX_OPEN: usize = 16;

/// How long a caller waits for a free connection before it gives up (a retryable error).
const WAIT_FOR_CONNECTION: Duration = Duration::from_secs(30);

impl From<postgres::Error> for DbError {
    fn from(e: postgres::Error) -> Self {
        let message = match e.as_db_error() {
            Some(db) => format!("postgres: {}: {}", db.code().code(), db.message()),
            None => format!("postgres: {e}"),
        };
        // A lost or refused connection, a serialization failure or deadlock, a server shutting
        // down or out of connections: a later try may succeed.
        let retryable = e.is_closed()
            || e.as_db_error().is_none()
            || e.code().is_some_and(|c| {
                let c = c.code();
                c.starts_with("08")
                    || [SqlState::T_R_SERIALIZATION_FAILURE, SqlState::T_R_DEADLOCK_DETECTED]
                        .iter()
                        .any(|s| s.code() == c)
                    || c.starts_with("57P")
                    || c == SqlState::TOO_MANY_CONNECTIONS.code()
            });
        if retryable {
            Self::retryable(message)
        } else {
            Self::new(message)
        }
    }
}

impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => i.to_string().to_sql(ty, out),
                _ => Err(format!("an integer for a {ty} parameter").into()),
            },
            Value::Text(s) => match *ty {
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => s.to_sql(ty, out),
                _ => Err(format!("text for a {ty} parameter").into()),
            },
            Value::Blob(b) => match *ty {
                Type::BYTEA => b.to_sql(ty, out),
                _ => Err(format!("bytes for a {ty} parameter").into()),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// `?N` placeholders as PostgreSQL's `$N`.
fn placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

/// A pooled connection and its prepared statements.
struct Pooled {
    client: Client,
    statements: HashMap<String, Statement>,
}

/// A transaction on a pooled connection, as a [`Conn`].
struct PgConn<'a, 'b> {
    tx: &'a mut postgres::Transaction<'b>,
    statements: &'a mut HashMap<String, Statement>,
}

impl PgConn<'_, '_> {
    fn statement(&mut self, sql: &str) -> DbResult<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.tx.prepare(&placeholders(sql))?;
        self.statements.insert(sql.to_string(), s.clone());
        Ok(s)
    }
}

fn pg_params(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

fn pg_value(row: &postgres::Row, i: usize, ty: &Type) -> DbResult<Value> {
    let v = match *ty {
        Type::INT8 => row.try_get::<_, Option<i64>>(i)?.map(Value::Int),
        Type::INT4 => row.try_get::<_, Option<i32>>(i)?.map(|v| Value::Int(v.into())),
        Type::INT2 => row.try_get::<_, Option<i16>>(i)?.map(|v| Value::Int(v.into())),
        Type::BOOL => row.try_get::<_, Option<bool>>(i)?.map(|v| Value::Int(v.into())),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => row.try_get::<_, Option<String>>(i)?.map(Value::Text),
        Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Blob),
        _ => return Err(DbError::new(format!("unsupported column type {ty} (column {i})"))),
    };
    Ok(v.unwrap_or(Value::Null))
}

impl Conn for PgConn<'_, '_> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> DbResult<u64> {
        let s = self.statement(sql)?;
        Ok(self.tx.execute(&s, &pg_params(params))?)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> DbResult<Vec<Row>> {
        let s = self.statement(sql)?;
        let columns: Arc<[String]> = s.columns().iter().map(|c| c.name().to_string()).collect();
        let types: Vec<Type> = s.columns().iter().map(|c| c.type_().clone()).collect();
        self.tx
            .query(&s, &pg_params(params))?
            .iter()
            .map(|r| {
                let values = types.iter().enumerate().map(|(i, ty)| pg_value(r, i, ty)).collect::<DbResult<_>>()?;
                Ok(Row::new(columns.clone(), values))
            })
            .collect()
    }

    fn backend(&self) -> Backend {
        Backend::Postgres
    }
}

/// Runs `f` where the synchronous client may block: here, or on a scoped thread when this thread
/// drives tokio tasks.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// The pool: idle connections, and how many are open (idle or in use).
#[derive(Default)]
struct Pool {
    idle: Vec<Pooled>,
    open: usize,
}

/// A PostgreSQL database.
pub struct PgDb {
    config: postgres::Config,
    pool: Mutex<Pool>,
    /// Signalled when a connection is put back or closed.
    freed: Condvar,
    commits: AtomicU64,
}

impl PgDb {
    /// Connects to the server at `url` and migrates: the shared tables, then service `name`'s
    /// `migrations[i]` from version `i` to `i + 1`, all in one transaction under an advisory lock
    /// (`None`: the shared tables only, the service's version left as it is). A database of
    /// another service is refused.
    pub fn open(url: &str, service: Option<(&str, &[&str])>) -> DbResult<Self> {
        // The URL may hold a password: errors name neither.
        let mut config: postgres::Config =
            url.parse().map_err(|e| DbError::new(format!("invalid PostgreSQL URL: {e}")))?;
        config.connect_timeout(Duration::from_secs(10));
        let db = Self { config, pool: Mutex::new(Pool::default()), freed: Condvar::new(), commits: AtomicU64::new(0) };
        off_runtime(|| db.migrate(service))?;
        Ok(db)
    }

    /// An idle connection, or a new one while fewer than [`MAX_OPEN`] are open; else waits.
    fn connect(&self) -> DbResult<Pooled> {
        let mut pool = self.pool.lock().map_err(|_| DbError::new("poisoned lock"))?;
        let deadline = std::time::Instant::now() + WAIT_FOR_CONNECTION;
        loop {
            if let Some(p) = pool.idle.pop() {
                if !p.client.is_closed() {
                    return Ok(p);
                }
                pool.open -= 1;
                continue;
            }
            if pool.open < MAX_OPEN {
                pool.open += 1;
                break;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(DbError::retryable(format!("all {MAX_OPEN} database connections stayed busy")));
            }
            pool = self.freed.wait_timeout(pool, left).map_err(|_| DbError::new("poisoned lock"))?.0;
        }
        drop(pool);
        match self.config.connect(NoTls) {
            Ok(client) => Ok(Pooled { client, statements: HashMap::new() }),
            Err(e) => {
                self.release_slot();
                Err(e.into())
            }
        }
    }

    fn release_slot(&self) {
        if let Ok(mut pool) = self.pool.lock() {
            pool.open -= 1;
        }
        self.freed.notify_one();
    }

    /// Returns a connection to the pool (a closed one frees its slot).
    fn put_back(&self, p: Pooled) {
        if p.client.is_closed() {
            drop(p);
            self.release_slot();
            return;
        }
        if let Ok(mut pool) = self.pool.lock() {
            pool.idle.push(p);
        }
        self.freed.notify_one();
    }

    fn migrate(&self, service: Option<(&str, &[&str])>) -> DbResult<()> {
        let mut p = self.connect()?;
        let mut tx = p.client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
        // No "already exists, skipping" notices in the services' logs.
        tx.batch_execute("SET LOCAL client_min_messages = warning")?;
        tx.batch_execute(BASE_SCHEMA)?;
        if let Some((name, migrations)) = service {
            let row = tx.query_opt("SELECT service, version FROM schema_version", &[])?;
            let (owner, version): (String, i64) = match row {
                Some(r) => (r.get(0), r.get(1)),
                None => {
                    tx.execute("INSERT INTO schema_version (service, version) VALUES ($1, 0)", &[&name])?;
                    (name.to_string(), 0)
                }
            };
            if owner != name {
                return Err(DbError::new(format!(
                    "this database belongs to the {owner} service, not the {name}: give each service its own database"
                )));
            }
            let version = usize::try_from(version).map_err(|_| DbError::new(format!("schema version {version}")))?;
            if version > migrations.len() {
                return Err(DbError::new(format!(
                    "the database is at schema v{version}, newer than this binary's v{}",
                    migrations.len()
                )));
            }
            for sql in &migrations[version..] {
                tx.batch_execute(sql)?;
            }
            tx.execute("UPDATE schema_version SET version = $1", &[&(migrations.len() as i64)])?;
        }
        tx.commit()?;
        self.put_back(p);
        Ok(())
    }

    /// Runs `f` in one transaction on a pooled connection (module documentation).
    pub fn with<T: Send>(&self, f: impl FnOnce(&mut dyn Conn) -> DbResult<T> + Send) -> DbResult<T> {
        off_runtime(|| {
            let mut p = self.connect()?;
            let out = (|| {
                let mut tx = p.client.transaction()?;
                let v = f(&mut PgConn { tx: &mut tx, statements: &mut p.statements })?;
                tx.commit()?;
                Ok(v)
            })();
            if out.is_ok() {
                self.commits.fetch_add(1, Ordering::Relaxed);
            }
            self.put_back(p);
            out
        })
    }

    /// Transactions committed since it was opened.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }
}

impl Drop for PgDb {
    /// Closing a connection blocks on the client's runtime too: off the services' runtime.
    fn drop(&mut self) {
        let idle = std::mem::take(&mut self.pool.get_mut().unwrap_or_else(|p| p.into_inner()).idle);
        off_runtime(move || drop(idle));
    }
}

#[cfg(test)]
mod tests {
    use super::placeholders;

    #[test]
    fn placeholders_become_dollars_and_nothing_else_changes() {
        assert_eq!(placeholders("SELECT ?1, ?12 WHERE a = ?2"), "SELECT $1, $12 WHERE a = $2");
        assert_eq!(placeholders("SELECT '?' , ?"), "SELECT '?' , ?");
    }
}
