//! The service's persistent state, behind [`Store`]: requests with their traces, the transactions
//! sent for them, and the last block the chain watcher processed. SQLite by default
//! ([`SqliteStore`]); everything is written before the service acts on it, so a crash at any
//! point loses nothing.

use std::{
    path::Path,
    sync::Mutex,
    time::{SystemTime, UNIX_EPOCH},
};

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

/// A store failure (I/O, corruption, a failed migration).
#[derive(Debug, thiserror::Error)]
#[error("store: {0}")]
pub struct StoreError(String);

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        Self(e.to_string())
    }
}

/// Store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// Where a request stands, as the service sees it. The chain is the arbiter: on every pass the
/// service reads the request's on-chain status before acting, so a stale local status never
/// causes a second proposal or settlement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// Seen on-chain; not yet computed.
    Received,
    /// The trace is computed and stored; not yet proposed.
    Computed,
    /// A proposal transaction was sent (its hash is in the transactions).
    Proposing,
    /// Our proposal is on-chain; its liveness window runs.
    Proposed,
    /// A settlement transaction was sent.
    Settling,
    /// Our proposal was challenged; the dispute game decides.
    Challenged,
    /// Final on-chain.
    Finalized,
    /// Another operator answered first.
    Taken,
    /// The requester cancelled it.
    Cancelled,
    /// Cannot be served (bad input for the model); the reason is in `error`.
    Failed,
}

impl RequestStatus {
    /// Every status, for metrics.
    pub const ALL: [Self; 10] = [
        Self::Received,
        Self::Computed,
        Self::Proposing,
        Self::Proposed,
        Self::Settling,
        Self::Challenged,
        Self::Finalized,
        Self::Taken,
        Self::Cancelled,
        Self::Failed,
    ];

    /// The status's name (snake_case, as in the API).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Computed => "computed",
            Self::Proposing => "proposing",
            Self::Proposed => "proposed",
            Self::Settling => "settling",
            Self::Challenged => "challenged",
            Self::Finalized => "finalized",
            Self::Taken => "taken",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
        }
    }

    fn parse(s: &str) -> StoreResult<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| StoreError(format!("unknown status {s:?}")))
    }

    /// Whether nothing more will happen to the request.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Finalized | Self::Taken | Self::Cancelled | Self::Failed)
    }
}

/// One request as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RequestRecord {
    /// The on-chain request id.
    pub id: u64,
    /// The model.
    pub model_id: u64,
    /// The int8 input.
    pub input: Vec<i8>,
    /// Who asked.
    pub requester: String,
    /// The block of the request event.
    pub block: u64,
    /// Where it stands.
    pub status: RequestStatus,
    /// The engine's trace (z_0..z_L preimages), once computed.
    pub trace: Option<Vec<Vec<i32>>>,
    /// The step commitments z_0..z_L (bytes32 hex), once computed.
    pub steps: Option<Vec<String>>,
    /// The trace root proposed (hex), once computed.
    pub trace_root: Option<String>,
    /// The end of the liveness window (unix seconds), once proposed.
    pub deadline: Option<u64>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds.
    pub updated_at: u64,
}

/// One transaction sent for a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TxRecord {
    /// The transaction hash (hex).
    pub hash: String,
    /// The request it is for.
    pub request_id: u64,
    /// `request`, `propose`, `settle`, …
    pub kind: String,
    /// `sent`, `mined`, `reverted`, `dropped`.
    pub status: String,
    /// The decoded revert, when it reverted.
    pub error: Option<String>,
    /// Unix seconds.
    pub sent_at: u64,
}

/// Where the watchtower stands on one request of a watched model. The chain decides what
/// happens next (`crate::watch::decide`); this is what the watchtower remembers between passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchStatus {
    /// Followed: no proposal yet, or the live one agrees with our trace (or is trusted).
    Watching,
    /// The live proposal is wrong (or, blind, untrusted): a challenge is due.
    Mismatch,
    /// Our challenge is live: we play the challenger's side.
    Challenged,
    /// A proposal was thrown out and the request is open again: we prove the correct output
    /// (when we hold the weights and a prover) and check any new proposal.
    Reopened,
    /// A wrong proposal whose window closed before we could challenge it.
    Late,
    /// Nothing more will happen (final, cancelled, or our own evaluations disagreed).
    Done,
}

impl WatchStatus {
    /// Every status, for metrics.
    pub const ALL: [Self; 6] =
        [Self::Watching, Self::Mismatch, Self::Challenged, Self::Reopened, Self::Late, Self::Done];

    /// The status's name (snake_case).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Watching => "watching",
            Self::Mismatch => "mismatch",
            Self::Challenged => "challenged",
            Self::Reopened => "reopened",
            Self::Late => "late",
            Self::Done => "done",
        }
    }

    fn parse(s: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| format!("unknown watch status {s:?}"))
    }
}

impl std::fmt::Display for WatchStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One request of a watched model, as the watchtower keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WatchRecord {
    /// The request.
    pub id: u64,
    /// Its model.
    pub model_id: u64,
    /// The block of the request (where log queries about it start).
    pub block: u64,
    /// The request's int8 input (empty for a blind record).
    pub input: Vec<i8>,
    /// Our trace (z_0..z_L preimages); empty for a blind record.
    pub trace: Vec<Vec<i32>>,
    /// Our step commitments (bytes32 hex); empty for a blind record.
    pub steps: Vec<String>,
    /// Where we stand.
    pub status: WatchStatus,
    /// The last proposal we checked (keccak of proposer, output hash and trace root), so that
    /// each proposal is counted once; cleared when the request reopens.
    pub checked: Option<String>,
    /// What happened last.
    pub detail: Option<String>,
}

/// The service's persistent state.
pub trait Store: Send + Sync + 'static {
    /// Records a watched request; `false` when it was already known.
    fn insert_watched(&self, r: &WatchRecord) -> StoreResult<bool>;
    /// Watched requests not `done`, oldest first.
    fn open_watched(&self) -> StoreResult<Vec<WatchRecord>>;
    /// One watched request.
    fn watched(&self, id: u64) -> StoreResult<Option<WatchRecord>>;
    /// Moves a watched request to `status`, with the last checked proposal (written as given)
    /// and a detail (kept when `None`).
    fn set_watched(&self, id: u64, status: WatchStatus, checked: Option<&str>, detail: Option<&str>)
        -> StoreResult<()>;
    /// Watched requests by status.
    fn watched_counts(&self) -> StoreResult<Vec<(WatchStatus, u64)>>;
    /// The last block whose events are processed.
    fn last_block(&self) -> StoreResult<Option<u64>>;
    /// Records that every event up to `block` is processed.
    fn set_last_block(&self, block: u64) -> StoreResult<()>;
    /// Records a request seen on-chain; `false` when it was already known.
    fn insert_request(&self, id: u64, model_id: u64, input: &[i8], requester: &str, block: u64) -> StoreResult<bool>;
    /// One request.
    fn request(&self, id: u64) -> StoreResult<Option<RequestRecord>>;
    /// Every request not in a terminal status, oldest first.
    fn open_requests(&self) -> StoreResult<Vec<RequestRecord>>;
    /// Stores a computed trace (status `computed`).
    fn set_trace(&self, id: u64, trace: &[Vec<i32>], steps: &[String], root: &str) -> StoreResult<()>;
    /// Moves a request to `status` (with a deadline or an error when there is one).
    fn set_status(&self, id: u64, status: RequestStatus, deadline: Option<u64>, error: Option<&str>)
        -> StoreResult<()>;
    /// Records a sent transaction (before waiting for it).
    fn record_tx(&self, hash: &str, request_id: u64, kind: &str) -> StoreResult<()>;
    /// Records a transaction's outcome.
    fn finish_tx(&self, hash: &str, status: &str, error: Option<&str>) -> StoreResult<()>;
    /// The transactions of a request, oldest first.
    fn transactions(&self, request_id: u64) -> StoreResult<Vec<TxRecord>>;
    /// Requests by status.
    fn counts(&self) -> StoreResult<Vec<(RequestStatus, u64)>>;
    /// Writes and reads back a probe value (health check).
    fn probe(&self) -> StoreResult<()>;
    /// A small named value (feed cursors and the like).
    fn meta(&self, key: &str) -> StoreResult<Option<String>>;
    /// Sets a small named value.
    fn set_meta(&self, key: &str, value: &str) -> StoreResult<()>;
}

const MIGRATIONS: &[&str] = &[
    // v1
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE requests (
         id INTEGER PRIMARY KEY,
         model_id INTEGER NOT NULL,
         input BLOB NOT NULL,
         requester TEXT NOT NULL,
         block INTEGER NOT NULL,
         status TEXT NOT NULL,
         trace TEXT,
         steps TEXT,
         trace_root TEXT,
         deadline INTEGER,
         error TEXT,
         created_at INTEGER NOT NULL,
         updated_at INTEGER NOT NULL
     );
     CREATE INDEX requests_status ON requests(status);
     CREATE TABLE transactions (
         hash TEXT PRIMARY KEY,
         request_id INTEGER NOT NULL,
         kind TEXT NOT NULL,
         status TEXT NOT NULL,
         error TEXT,
         sent_at INTEGER NOT NULL
     );
     CREATE INDEX transactions_request ON transactions(request_id);",
    // v2: the watchtower's view of other operators' proposals
    "CREATE TABLE watched (
         id INTEGER PRIMARY KEY,
         model_id INTEGER NOT NULL,
         proposer TEXT NOT NULL,
         input BLOB NOT NULL,
         trace TEXT NOT NULL,
         steps TEXT NOT NULL,
         status TEXT NOT NULL,
         detail TEXT,
         updated_at INTEGER NOT NULL
     );
     CREATE INDEX watched_status ON watched(status);",
    // v3: the watchtower follows requests, not proposals: every proposal of a request is checked
    "ALTER TABLE watched ADD COLUMN block INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE watched ADD COLUMN checked TEXT;
     UPDATE watched SET status = 'watching' WHERE status IN ('agree', 'won', 'blind');
     UPDATE watched SET status = 'done' WHERE status IN ('proven', 'lost');",
];

/// The SQLite store: one file, WAL journal, migrations by `user_version`.
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl SqliteStore {
    /// Opens (creating and migrating when needed) the store at `path`.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        let path = path.as_ref();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError(format!("cannot create {}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > MIGRATIONS.len() {
            return Err(StoreError(format!(
                "the database is at schema v{version}, newer than this binary's v{}",
                MIGRATIONS.len()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            let tx = conn.unchecked_transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i + 1)?;
            tx.commit()?;
        }
        Ok(Self { conn: Mutex::new(conn) })
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> StoreResult<T> {
        let conn = self.conn.lock().map_err(|_| StoreError("poisoned lock".into()))?;
        Ok(f(&conn)?)
    }
}

fn json_col<T: serde::de::DeserializeOwned>(s: Option<String>) -> rusqlite::Result<Option<T>> {
    s.map(|s| serde_json::from_str(&s))
        .transpose()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

fn row_to_request(r: &rusqlite::Row<'_>) -> rusqlite::Result<(RequestRecord, String)> {
    let input: Vec<u8> = r.get("input")?;
    let status: String = r.get("status")?;
    Ok((
        RequestRecord {
            id: r.get::<_, i64>("id")? as u64,
            model_id: r.get::<_, i64>("model_id")? as u64,
            input: input.into_iter().map(|b| b as i8).collect(),
            requester: r.get("requester")?,
            block: r.get::<_, i64>("block")? as u64,
            status: RequestStatus::Received,
            trace: json_col(r.get("trace")?)?,
            steps: json_col(r.get("steps")?)?,
            trace_root: r.get("trace_root")?,
            deadline: r.get::<_, Option<i64>>("deadline")?.map(|d| d as u64),
            error: r.get("error")?,
            created_at: r.get::<_, i64>("created_at")? as u64,
            updated_at: r.get::<_, i64>("updated_at")? as u64,
        },
        status,
    ))
}

fn finish(rows: Vec<(RequestRecord, String)>) -> StoreResult<Vec<RequestRecord>> {
    rows.into_iter()
        .map(|(mut r, s)| {
            r.status = RequestStatus::parse(&s)?;
            Ok(r)
        })
        .collect()
}

fn watch_status(s: String) -> rusqlite::Result<WatchStatus> {
    WatchStatus::parse(&s)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(StoreError(e))))
}

fn row_to_watched(r: &rusqlite::Row<'_>) -> rusqlite::Result<WatchRecord> {
    let input: Vec<u8> = r.get("input")?;
    Ok(WatchRecord {
        id: r.get::<_, i64>("id")? as u64,
        model_id: r.get::<_, i64>("model_id")? as u64,
        block: r.get::<_, i64>("block")? as u64,
        input: input.into_iter().map(|b| b as i8).collect(),
        trace: json_col(r.get("trace")?)?.unwrap_or_default(),
        steps: json_col(r.get("steps")?)?.unwrap_or_default(),
        status: watch_status(r.get("status")?)?,
        checked: r.get("checked")?,
        detail: r.get("detail")?,
    })
}

impl Store for SqliteStore {
    fn insert_watched(&self, w: &WatchRecord) -> StoreResult<bool> {
        let input: Vec<u8> = w.input.iter().map(|v| *v as u8).collect();
        let trace = serde_json::to_string(&w.trace).expect("a trace serializes");
        let steps = serde_json::to_string(&w.steps).expect("strings serialize");
        self.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO watched
                     (id, model_id, proposer, input, trace, steps, status, detail, updated_at, block, checked)
                 VALUES (?1, ?2, '', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    w.id as i64,
                    w.model_id as i64,
                    input,
                    trace,
                    steps,
                    w.status.as_str(),
                    w.detail,
                    now() as i64,
                    w.block as i64,
                    w.checked,
                ],
            )
            .map(|n| n == 1)
        })
    }

    fn open_watched(&self) -> StoreResult<Vec<WatchRecord>> {
        self.with(|c| {
            let mut s = c.prepare("SELECT * FROM watched WHERE status != 'done' ORDER BY id")?;
            let rows = s.query_map([], row_to_watched)?.collect::<rusqlite::Result<Vec<_>>>();
            rows
        })
    }

    fn watched(&self, id: u64) -> StoreResult<Option<WatchRecord>> {
        self.with(|c| c.query_row("SELECT * FROM watched WHERE id = ?1", [id as i64], row_to_watched).optional())
    }

    fn set_watched(
        &self,
        id: u64,
        status: WatchStatus,
        checked: Option<&str>,
        detail: Option<&str>,
    ) -> StoreResult<()> {
        self.with(|c| {
            c.execute(
                "UPDATE watched SET status = ?2, checked = ?3, detail = COALESCE(?4, detail), updated_at = ?5
                 WHERE id = ?1",
                params![id as i64, status.as_str(), checked, detail, now() as i64],
            )
            .map(drop)
        })
    }

    fn watched_counts(&self) -> StoreResult<Vec<(WatchStatus, u64)>> {
        self.with(|c| {
            let mut s = c.prepare("SELECT status, COUNT(*) FROM watched GROUP BY status")?;
            let rows = s
                .query_map([], |r| Ok((watch_status(r.get(0)?)?, r.get::<_, i64>(1)? as u64)))?
                .collect::<rusqlite::Result<Vec<_>>>();
            rows
        })
    }

    fn last_block(&self) -> StoreResult<Option<u64>> {
        let v = self.meta("last_block")?;
        v.map(|v| v.parse().map_err(|_| StoreError(format!("corrupt last_block {v:?}")))).transpose()
    }

    fn set_last_block(&self, block: u64) -> StoreResult<()> {
        self.set_meta("last_block", &block.to_string())
    }

    fn meta(&self, key: &str) -> StoreResult<Option<String>> {
        self.with(|c| c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional())
    }

    fn set_meta(&self, key: &str, value: &str) -> StoreResult<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(drop)
        })
    }

    fn insert_request(&self, id: u64, model_id: u64, input: &[i8], requester: &str, block: u64) -> StoreResult<bool> {
        let bytes: Vec<u8> = input.iter().map(|v| *v as u8).collect();
        let t = now() as i64;
        self.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO requests (id, model_id, input, requester, block, status, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'received', ?6, ?6)",
                params![id as i64, model_id as i64, bytes, requester, block as i64, t],
            )
            .map(|n| n == 1)
        })
    }

    fn request(&self, id: u64) -> StoreResult<Option<RequestRecord>> {
        let row =
            self.with(|c| c.query_row("SELECT * FROM requests WHERE id = ?1", [id as i64], row_to_request).optional())?;
        Ok(finish(row.into_iter().collect())?.pop())
    }

    fn open_requests(&self) -> StoreResult<Vec<RequestRecord>> {
        let rows = self.with(|c| {
            let mut s = c.prepare(
                "SELECT * FROM requests
                 WHERE status NOT IN ('finalized', 'taken', 'cancelled', 'failed') ORDER BY id",
            )?;
            let rows = s.query_map([], row_to_request)?.collect::<rusqlite::Result<Vec<_>>>();
            rows
        })?;
        finish(rows)
    }

    fn set_trace(&self, id: u64, trace: &[Vec<i32>], steps: &[String], root: &str) -> StoreResult<()> {
        let trace = serde_json::to_string(trace).expect("a trace serializes");
        let steps = serde_json::to_string(steps).expect("strings serialize");
        self.with(|c| {
            c.execute(
                "UPDATE requests SET trace = ?2, steps = ?3, trace_root = ?4, status = 'computed', updated_at = ?5
                 WHERE id = ?1",
                params![id as i64, trace, steps, root, now() as i64],
            )
            .map(drop)
        })
    }

    fn set_status(
        &self,
        id: u64,
        status: RequestStatus,
        deadline: Option<u64>,
        error: Option<&str>,
    ) -> StoreResult<()> {
        self.with(|c| {
            c.execute(
                "UPDATE requests SET status = ?2, deadline = COALESCE(?3, deadline), error = COALESCE(?4, error),
                 updated_at = ?5 WHERE id = ?1",
                params![id as i64, status.as_str(), deadline.map(|d| d as i64), error, now() as i64],
            )
            .map(drop)
        })
    }

    fn record_tx(&self, hash: &str, request_id: u64, kind: &str) -> StoreResult<()> {
        self.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO transactions (hash, request_id, kind, status, sent_at)
                 VALUES (?1, ?2, ?3, 'sent', ?4)",
                params![hash, request_id as i64, kind, now() as i64],
            )
            .map(drop)
        })
    }

    fn finish_tx(&self, hash: &str, status: &str, error: Option<&str>) -> StoreResult<()> {
        self.with(|c| {
            c.execute("UPDATE transactions SET status = ?2, error = ?3 WHERE hash = ?1", params![hash, status, error])
                .map(drop)
        })
    }

    fn transactions(&self, request_id: u64) -> StoreResult<Vec<TxRecord>> {
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

    fn counts(&self) -> StoreResult<Vec<(RequestStatus, u64)>> {
        let rows: Vec<(String, i64)> = self.with(|c| {
            let mut s = c.prepare("SELECT status, COUNT(*) FROM requests GROUP BY status")?;
            let rows = s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<Vec<_>>>();
            rows
        })?;
        rows.into_iter().map(|(s, n)| Ok((RequestStatus::parse(&s)?, n as u64))).collect()
    }

    fn probe(&self) -> StoreResult<()> {
        let t = now().to_string();
        self.set_meta("probe", &t)?;
        match self.meta("probe")? {
            Some(v) if v == t => Ok(()),
            other => Err(StoreError(format!("probe read back {other:?}"))),
        }
    }
}
