//! The watchtower's persistent state, behind [`WatchStore`]: one record per request of a watched
//! model (our trace of it, where we stand, the last proposal we checked), the scan cursor, and
//! the transactions sent. One [`SqlWatchStore`] over a SQLite file (the default) or a PostgreSQL
//! database shared by several instances; written before the watchtower acts on it, so a crash at
//! any point loses nothing.

use std::{path::Path, sync::Arc};

use serde::{Deserialize, Serialize};
use verdict_runtime::db::{now, params, Db, Row, Schema, TxLog};
pub use verdict_runtime::db::{DbError as StoreError, DbResult as StoreResult};

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

/// The watchtower's persistent state.
pub trait WatchStore: Send + Sync + 'static {
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
    /// A small named value (the scan cursor).
    fn meta(&self, key: &str) -> StoreResult<Option<String>>;
    /// Sets a small named value.
    fn set_meta(&self, key: &str, value: &str) -> StoreResult<()>;
    /// Writes and reads back a probe value (health check).
    fn probe(&self) -> StoreResult<()>;
    /// Where the responder records what it sends.
    fn as_tx_log(&self) -> &dyn TxLog;
    /// The database (for the service's lease).
    fn db(&self) -> &Arc<Db>;
}

/// The watchtower's own migrations, numbered as they were when it shared the operator's store
/// (so a file made then opens as it is): v1 made the operator's tables (now only the shared
/// `meta` and `transactions`, made by the runtime), v2 the watched requests, v3 the change from
/// proposals to requests.
const SQLITE: &[&str] = &[
    "",
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
    "ALTER TABLE watched ADD COLUMN block INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE watched ADD COLUMN checked TEXT;
     UPDATE watched SET status = 'watching' WHERE status IN ('agree', 'won', 'blind');
     UPDATE watched SET status = 'done' WHERE status IN ('proven', 'lost');",
];

/// PostgreSQL's migrations: v1 is SQLite's v3 (less the unused `proposer` column).
const POSTGRES: &[&str] = &["CREATE TABLE watched (
         id BIGINT PRIMARY KEY,
         model_id BIGINT NOT NULL,
         input BYTEA NOT NULL,
         trace TEXT NOT NULL,
         steps TEXT NOT NULL,
         status TEXT NOT NULL,
         detail TEXT,
         updated_at BIGINT NOT NULL,
         block BIGINT NOT NULL DEFAULT 0,
         checked TEXT
     );
     CREATE INDEX watched_status ON watched(status);"];

/// The watchtower's tables, in both backends.
const SCHEMA: Schema = Schema { service: "watchtower", sqlite: SQLITE, postgres: POSTGRES };

/// The watch store, over a SQLite file or a PostgreSQL database ([`Db`]).
pub struct SqlWatchStore {
    db: Arc<Db>,
}

impl SqlWatchStore {
    /// Opens (creating and migrating when needed) the store at `location`: a SQLite file's path,
    /// or a `postgres://` URL.
    pub fn open(location: impl AsRef<Path>) -> StoreResult<Self> {
        Ok(Self { db: Arc::new(Db::open(location, &SCHEMA)?) })
    }
}

fn watch_status(s: &str) -> StoreResult<WatchStatus> {
    WatchStatus::parse(s).map_err(StoreError::new)
}

fn watched_from(r: &Row) -> StoreResult<WatchRecord> {
    let input: Vec<u8> = r.get("input")?;
    Ok(WatchRecord {
        id: r.get("id")?,
        model_id: r.get("model_id")?,
        block: r.get("block")?,
        input: input.into_iter().map(|b| b as i8).collect(),
        trace: r.json("trace")?.unwrap_or_default(),
        steps: r.json("steps")?.unwrap_or_default(),
        status: watch_status(&r.get::<String>("status")?)?,
        checked: r.get("checked")?,
        detail: r.get("detail")?,
    })
}

impl WatchStore for SqlWatchStore {
    fn insert_watched(&self, w: &WatchRecord) -> StoreResult<bool> {
        let input: Vec<u8> = w.input.iter().map(|v| *v as u8).collect();
        let trace = serde_json::to_string(&w.trace).expect("a trace serializes");
        let steps = serde_json::to_string(&w.steps).expect("strings serialize");
        // SQLite files made before v3 keep a `proposer` column; it is written empty there.
        self.db.with(|c| {
            let sql = match c.backend() {
                verdict_runtime::db::Backend::Sqlite => {
                    "INSERT INTO watched
                         (id, model_id, proposer, input, trace, steps, status, detail, updated_at, block, checked)
                     VALUES (?1, ?2, '', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (id) DO NOTHING"
                }
                verdict_runtime::db::Backend::Postgres => {
                    "INSERT INTO watched (id, model_id, input, trace, steps, status, detail, updated_at, block, checked)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (id) DO NOTHING"
                }
            };
            c.execute(
                sql,
                params![
                    w.id,
                    w.model_id,
                    input,
                    trace,
                    steps,
                    w.status.as_str(),
                    w.detail.clone(),
                    now(),
                    w.block,
                    w.checked.clone()
                ],
            )
            .map(|n| n == 1)
        })
    }

    fn open_watched(&self) -> StoreResult<Vec<WatchRecord>> {
        self.db.with(|c| {
            c.query("SELECT * FROM watched WHERE status != 'done' ORDER BY id", &[])?.iter().map(watched_from).collect()
        })
    }

    fn watched(&self, id: u64) -> StoreResult<Option<WatchRecord>> {
        self.db.with(|c| {
            c.query_opt("SELECT * FROM watched WHERE id = ?1", params![id])?.as_ref().map(watched_from).transpose()
        })
    }

    fn set_watched(
        &self,
        id: u64,
        status: WatchStatus,
        checked: Option<&str>,
        detail: Option<&str>,
    ) -> StoreResult<()> {
        self.db.with(|c| {
            c.execute(
                "UPDATE watched SET status = ?2, checked = ?3, detail = COALESCE(?4, detail), updated_at = ?5
                 WHERE id = ?1",
                params![id, status.as_str(), checked, detail, now()],
            )
            .map(drop)
        })
    }

    fn watched_counts(&self) -> StoreResult<Vec<(WatchStatus, u64)>> {
        self.db.with(|c| {
            c.query("SELECT status, COUNT(*) AS n FROM watched GROUP BY status", &[])?
                .iter()
                .map(|r| Ok((watch_status(&r.get::<String>("status")?)?, r.get("n")?)))
                .collect()
        })
    }

    fn meta(&self, key: &str) -> StoreResult<Option<String>> {
        self.db.meta(key)
    }

    fn set_meta(&self, key: &str, value: &str) -> StoreResult<()> {
        self.db.set_meta(key, value)
    }

    fn probe(&self) -> StoreResult<()> {
        self.db.probe()
    }

    fn as_tx_log(&self) -> &dyn TxLog {
        self.db.as_ref()
    }

    fn db(&self) -> &Arc<Db> {
        &self.db
    }
}
