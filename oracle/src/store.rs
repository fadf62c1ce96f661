//! The service's persistent state, behind [`Store`]: requests with their traces, the transactions
//! sent for them, and the last block the chain watcher processed. One [`SqlStore`] over a SQLite
//! file (the default) or a PostgreSQL database shared by several instances; everything is written
//! before the service acts on it, so a crash at any point loses nothing.

use std::{path::Path, sync::Arc};

use serde::{Deserialize, Serialize};
use verdict_runtime::db::{now, params, Conn, Db, DbResult, Row, Schema, TxLog};
pub use verdict_runtime::db::{DbError as StoreError, DbResult as StoreResult, TxRecord};

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
    /// A private input (only its commitment z_0 is on chain) not delivered yet
    /// (`POST /v1/requests/{id}/input`).
    AwaitingInput,
    /// A private input that was not delivered before the request's timeout: nothing was
    /// proposed, and the requester may cancel it.
    Expired,
}

impl RequestStatus {
    /// Every status, for metrics.
    pub const ALL: [Self; 12] = [
        Self::AwaitingInput,
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
        Self::Expired,
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
            Self::AwaitingInput => "awaiting_input",
            Self::Expired => "expired",
        }
    }

    fn parse(s: &str) -> StoreResult<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| StoreError::new(format!("unknown status {s:?}")))
    }

    /// Whether nothing more will happen to the request.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Finalized | Self::Taken | Self::Cancelled | Self::Failed | Self::Expired)
    }
}

/// A request seen on chain, to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incoming {
    /// The on-chain request id.
    pub id: u64,
    /// Its model.
    pub model_id: u64,
    /// Its input, or a private input's commitment z_0.
    pub input: IncomingInput,
    /// Who asked.
    pub requester: String,
    /// The block it was made in.
    pub block: u64,
}

/// What a request carries on chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IncomingInput {
    /// The int8 input.
    Public(Vec<i8>),
    /// A private input's salted commitment z_0 (hex); the input is delivered later.
    Private(String),
}

/// What a chain pass reads of every open request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenRequest {
    /// The on-chain request id.
    pub id: u64,
    /// Where the service is with it.
    pub status: RequestStatus,
    /// The proposal's window end, once proposed.
    pub deadline: Option<u64>,
}

/// One request as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RequestRecord {
    /// The on-chain request id.
    pub id: u64,
    /// The model.
    pub model_id: u64,
    /// The int8 input (a private input's once delivered; empty before).
    pub input: Vec<i8>,
    /// A private input's commitment z_0 (bytes32 hex) as the request holds it on chain; `None`
    /// for a public input.
    pub input_commitment: Option<String>,
    /// A private input's salt (0x-hex), once the input that opens z_0 is delivered.
    pub salt: Option<String>,
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

impl RequestRecord {
    /// A private input not delivered yet: nothing can be computed or proposed for it.
    pub fn awaiting_input(&self) -> bool {
        self.input_commitment.is_some() && self.salt.is_none()
    }
}

/// Where a request made through the API stands before it has an on-chain id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubmissionStatus {
    /// Accepted and recorded; its transaction is not sent yet.
    Pending,
    /// Its transaction is sent (the hash is recorded); not mined yet.
    Sent,
    /// Mined: the on-chain request exists (`request_id`).
    Created,
    /// The chain refused it (the reason is in `error`); nothing was created.
    Failed,
}

impl SubmissionStatus {
    const ALL: [Self; 4] = [Self::Pending, Self::Sent, Self::Created, Self::Failed];

    /// The status's name (snake_case, as in the API).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Created => "created",
            Self::Failed => "failed",
        }
    }

    fn parse(s: &str) -> StoreResult<Self> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| StoreError::new(format!("unknown submission status {s:?}")))
    }
}

/// A request made through the API (`POST /v1/requests`), recorded before its transaction is sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Submission {
    /// The submission's id (`sub-N` in the API).
    pub id: u64,
    /// The model.
    pub model_id: u64,
    /// The int8 input.
    pub input: Vec<i8>,
    /// A private input's salt (0x-hex): the request carries only the salted commitment z_0.
    pub salt: Option<String>,
    /// Where it stands.
    pub status: SubmissionStatus,
    /// The last transaction sent for it (a replacement has another hash).
    pub tx_hash: Option<String>,
    /// The on-chain request, once created.
    pub request_id: Option<u64>,
    /// Why it failed.
    pub error: Option<String>,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds.
    pub updated_at: u64,
}

/// The service's persistent state.
pub trait Store: Send + Sync + 'static {
    /// The last block whose events are processed.
    fn last_block(&self) -> StoreResult<Option<u64>>;
    /// Records that every event up to `block` is processed.
    fn set_last_block(&self, block: u64) -> StoreResult<()>;
    /// Records requests seen on chain in one write (a range of blocks' events; a private input's
    /// request with status `awaiting_input`); `true` for each that was new.
    fn insert_requests(&self, requests: &[Incoming]) -> StoreResult<Vec<bool>>;
    /// Records, in one write, request `request` that API request `submission` created (status
    /// `created`), with the private input it `delivered` (values and salt), if any.
    fn record_created(&self, submission: u64, request: &Incoming, delivered: Option<(&[i8], &str)>) -> StoreResult<()>;
    /// Stores the input (and salt) of private-input request `id`, checked by the caller to open
    /// its z_0; `false` when one is stored already (delivered twice), or the request is unknown
    /// or not a private input's. A request awaiting its input moves to `received`.
    fn deliver_input(&self, id: u64, input: &[i8], salt: &str) -> StoreResult<bool>;
    /// One request.
    fn request(&self, id: u64) -> StoreResult<Option<RequestRecord>>;
    /// Every request not in a terminal status, oldest first: its id, status and deadline (a
    /// chain pass reads these for every open request, and the whole record only of those it acts
    /// on).
    fn open_requests(&self) -> StoreResult<Vec<OpenRequest>>;
    /// Stores a computed trace, with the status to record with it (`computed`, or `proposing`
    /// when the proposal follows at once: one write, not two).
    fn set_trace(
        &self,
        id: u64,
        trace: &[Vec<i32>],
        steps: &[String],
        root: &str,
        status: RequestStatus,
    ) -> StoreResult<()>;
    /// Moves a request to `status` (with a deadline or an error when there is one).
    fn set_status(&self, id: u64, status: RequestStatus, deadline: Option<u64>, error: Option<&str>)
        -> StoreResult<()>;
    /// Where the responder records what it sends.
    fn as_tx_log(&self) -> &dyn TxLog;
    /// Records an API request (status `pending`), with a private input's salt; returns its id.
    fn insert_submission(&self, model_id: u64, input: &[i8], salt: Option<&str>) -> StoreResult<u64>;
    /// One API request.
    fn submission(&self, id: u64) -> StoreResult<Option<Submission>>;
    /// API requests `pending` or `sent`, oldest first.
    fn open_submissions(&self) -> StoreResult<Vec<Submission>>;
    /// Moves an API request on: `sent` with its transaction's hash, `created` with its request
    /// id, or `failed` with the reason.
    fn set_submission(
        &self,
        id: u64,
        status: SubmissionStatus,
        tx_hash: Option<&str>,
        request_id: Option<u64>,
        error: Option<&str>,
    ) -> StoreResult<()>;
    /// Records API requests as `sent` in the transaction `tx_hash` (one batch, or one of them).
    fn set_submissions_sent(&self, ids: &[u64], tx_hash: &str) -> StoreResult<()>;
    /// The API requests recorded as sent in the transaction `tx_hash`, in ascending order.
    fn submissions_sent_in(&self, tx_hash: &str) -> StoreResult<Vec<u64>>;
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
    /// The database (for the service's lease).
    fn db(&self) -> &Arc<Db>;
}

/// SQLite's migrations.
const SQLITE: &[&str] = &[
    // v1: requests (the shared `meta` and `transactions` tables are the runtime's)
    "CREATE TABLE requests (
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
     CREATE INDEX requests_status ON requests(status);",
    // v2 and v3 made the watchtower's tables when both services shared this store; the
    // watchtower keeps them in its own store now (`fraud-prover`), and files made before keep them.
    "",
    "",
    // v4: requests made through the API, recorded before their transaction is sent
    "CREATE TABLE submissions (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         model_id INTEGER NOT NULL,
         input BLOB NOT NULL,
         status TEXT NOT NULL,
         tx_hash TEXT,
         request_id INTEGER,
         error TEXT,
         created_at INTEGER NOT NULL,
         updated_at INTEGER NOT NULL
     );
     CREATE INDEX submissions_status ON submissions(status);",
    // v5: private inputs: the request's z_0 on chain, the input and salt once delivered
    "ALTER TABLE requests ADD COLUMN input_commitment TEXT;
     ALTER TABLE requests ADD COLUMN salt TEXT;
     ALTER TABLE submissions ADD COLUMN salt TEXT;",
    // v6: submissions by transaction (a batch's, looked up after a restart)
    "CREATE INDEX submissions_tx ON submissions(tx_hash);",
];

/// PostgreSQL's migrations: v1 is SQLite's v5.
const POSTGRES: &[&str] = &[
    "CREATE TABLE requests (
         id BIGINT PRIMARY KEY,
         model_id BIGINT NOT NULL,
         input BYTEA NOT NULL,
         requester TEXT NOT NULL,
         block BIGINT NOT NULL,
         status TEXT NOT NULL,
         trace TEXT,
         steps TEXT,
         trace_root TEXT,
         deadline BIGINT,
         error TEXT,
         created_at BIGINT NOT NULL,
         updated_at BIGINT NOT NULL,
         input_commitment TEXT,
         salt TEXT
     );
     CREATE INDEX requests_status ON requests(status);
     CREATE TABLE submissions (
         id BIGSERIAL PRIMARY KEY,
         model_id BIGINT NOT NULL,
         input BYTEA NOT NULL,
         status TEXT NOT NULL,
         tx_hash TEXT,
         request_id BIGINT,
         error TEXT,
         created_at BIGINT NOT NULL,
         updated_at BIGINT NOT NULL,
         salt TEXT
     );
     CREATE INDEX submissions_status ON submissions(status);",
    // v2: as SQLite's v6
    "CREATE INDEX submissions_tx ON submissions(tx_hash);",
];

/// The operator's tables, in both backends.
const SCHEMA: Schema = Schema { service: "oracle", sqlite: SQLITE, postgres: POSTGRES };

/// The store, over a SQLite file or a PostgreSQL database ([`Db`]).
pub struct SqlStore {
    db: Arc<Db>,
}

impl SqlStore {
    /// Opens (creating and migrating when needed) the store at `location`: a SQLite file's path,
    /// or a `postgres://` URL.
    pub fn open(location: impl AsRef<Path>) -> StoreResult<Self> {
        Ok(Self { db: Arc::new(Db::open(location, &SCHEMA)?) })
    }
}

/// The columns `SELECT *` reads from `requests`.
fn request_from(r: &Row) -> StoreResult<RequestRecord> {
    let input: Vec<u8> = r.get("input")?;
    Ok(RequestRecord {
        id: r.get("id")?,
        model_id: r.get("model_id")?,
        input: input.into_iter().map(|b| b as i8).collect(),
        input_commitment: r.get("input_commitment")?,
        salt: r.get("salt")?,
        requester: r.get("requester")?,
        block: r.get("block")?,
        status: RequestStatus::parse(&r.get::<String>("status")?)?,
        trace: r.json("trace")?,
        steps: r.json("steps")?,
        trace_root: r.get("trace_root")?,
        deadline: r.get("deadline")?,
        error: r.get("error")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
    })
}

/// The columns `SELECT *` reads from `submissions`.
fn submission_from(r: &Row) -> StoreResult<Submission> {
    let input: Vec<u8> = r.get("input")?;
    Ok(Submission {
        id: r.get("id")?,
        model_id: r.get("model_id")?,
        input: input.into_iter().map(|b| b as i8).collect(),
        salt: r.get("salt")?,
        status: SubmissionStatus::parse(&r.get::<String>("status")?)?,
        tx_hash: r.get("tx_hash")?,
        request_id: r.get("request_id")?,
        error: r.get("error")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
    })
}

/// An int8 input as stored (one byte a value).
/// Inserts request `r` (nothing when it is known); whether it was new.
fn insert_incoming(c: &mut dyn Conn, r: &Incoming, t: u64) -> DbResult<bool> {
    let n = match &r.input {
        IncomingInput::Public(input) => c.execute(
            "INSERT INTO requests (id, model_id, input, requester, block, status, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'received', ?6, ?6) ON CONFLICT (id) DO NOTHING",
            params![r.id, r.model_id, input_bytes(input), r.requester.as_str(), r.block, t],
        )?,
        IncomingInput::Private(z0) => c.execute(
            "INSERT INTO requests
             (id, model_id, input, input_commitment, requester, block, status, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'awaiting_input', ?7, ?7) ON CONFLICT (id) DO NOTHING",
            params![r.id, r.model_id, Vec::<u8>::new(), z0.as_str(), r.requester.as_str(), r.block, t],
        )?,
    };
    Ok(n == 1)
}

/// Stores a private input's values and salt (see [`Store::deliver_input`]).
fn deliver(c: &mut dyn Conn, id: u64, input: &[i8], salt: &str) -> DbResult<bool> {
    c.execute(
        "UPDATE requests SET input = ?2, salt = ?3, updated_at = ?4,
         status = CASE status WHEN 'awaiting_input' THEN 'received' ELSE status END
         WHERE id = ?1 AND input_commitment IS NOT NULL AND salt IS NULL",
        params![id, input_bytes(input), salt, now()],
    )
    .map(|n| n == 1)
}

fn input_bytes(input: &[i8]) -> Vec<u8> {
    input.iter().map(|v| *v as u8).collect()
}

impl Store for SqlStore {
    fn last_block(&self) -> StoreResult<Option<u64>> {
        self.db.block("last_block")
    }

    fn set_last_block(&self, block: u64) -> StoreResult<()> {
        self.db.set_meta("last_block", &block.to_string())
    }

    fn meta(&self, key: &str) -> StoreResult<Option<String>> {
        self.db.meta(key)
    }

    fn set_meta(&self, key: &str, value: &str) -> StoreResult<()> {
        self.db.set_meta(key, value)
    }

    fn insert_requests(&self, requests: &[Incoming]) -> StoreResult<Vec<bool>> {
        let t = now();
        self.db.with(|c| requests.iter().map(|r| insert_incoming(c, r, t)).collect())
    }

    fn record_created(&self, submission: u64, request: &Incoming, delivered: Option<(&[i8], &str)>) -> StoreResult<()> {
        self.db.with(|c| {
            insert_incoming(c, request, now())?;
            if let Some((input, salt)) = delivered {
                deliver(c, request.id, input, salt)?;
            }
            c.execute(
                "UPDATE submissions SET status = ?2, request_id = ?3, updated_at = ?4 WHERE id = ?1",
                params![submission, SubmissionStatus::Created.as_str(), request.id, now()],
            )
            .map(drop)
        })
    }

    fn deliver_input(&self, id: u64, input: &[i8], salt: &str) -> StoreResult<bool> {
        self.db.with(|c| deliver(c, id, input, salt))
    }

    fn request(&self, id: u64) -> StoreResult<Option<RequestRecord>> {
        self.db.with(|c| {
            c.query_opt("SELECT * FROM requests WHERE id = ?1", params![id])?.as_ref().map(request_from).transpose()
        })
    }

    fn open_requests(&self) -> StoreResult<Vec<OpenRequest>> {
        self.db.with(|c| {
            c.query(
                "SELECT id, status, deadline FROM requests
                 WHERE status NOT IN ('finalized', 'taken', 'cancelled', 'failed', 'expired') ORDER BY id",
                &[],
            )?
            .iter()
            .map(|r| {
                Ok(OpenRequest {
                    id: r.get("id")?,
                    status: RequestStatus::parse(&r.get::<String>("status")?)?,
                    deadline: r.get("deadline")?,
                })
            })
            .collect()
        })
    }

    fn set_trace(
        &self,
        id: u64,
        trace: &[Vec<i32>],
        steps: &[String],
        root: &str,
        status: RequestStatus,
    ) -> StoreResult<()> {
        let trace = serde_json::to_string(trace).expect("a trace serializes");
        let steps = serde_json::to_string(steps).expect("strings serialize");
        self.db.with(|c| {
            c.execute(
                "UPDATE requests SET trace = ?2, steps = ?3, trace_root = ?4, status = ?5, updated_at = ?6
                 WHERE id = ?1",
                params![id, trace, steps, root, status.as_str(), now()],
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
        self.db.with(|c| {
            c.execute(
                "UPDATE requests SET status = ?2, deadline = COALESCE(?3, deadline), error = COALESCE(?4, error),
                 updated_at = ?5 WHERE id = ?1",
                params![id, status.as_str(), deadline, error, now()],
            )
            .map(drop)
        })
    }

    fn as_tx_log(&self) -> &dyn TxLog {
        self.db.as_ref()
    }

    fn db(&self) -> &Arc<Db> {
        &self.db
    }

    fn transactions(&self, request_id: u64) -> StoreResult<Vec<TxRecord>> {
        self.db.transactions(request_id)
    }

    fn insert_submission(&self, model_id: u64, input: &[i8], salt: Option<&str>) -> StoreResult<u64> {
        let t = now();
        self.db.with(|c| {
            c.query(
                "INSERT INTO submissions (model_id, input, salt, status, created_at, updated_at)
                 VALUES (?1, ?2, ?3, 'pending', ?4, ?4) RETURNING id",
                params![model_id, input_bytes(input), salt, t],
            )?
            .first()
            .ok_or_else(|| StoreError::new("no id returned for a submission"))?
            .at(0)
        })
    }

    fn submission(&self, id: u64) -> StoreResult<Option<Submission>> {
        self.db.with(|c| {
            c.query_opt("SELECT * FROM submissions WHERE id = ?1", params![id])?
                .as_ref()
                .map(submission_from)
                .transpose()
        })
    }

    fn open_submissions(&self) -> StoreResult<Vec<Submission>> {
        self.db.with(|c| {
            c.query("SELECT * FROM submissions WHERE status IN ('pending', 'sent') ORDER BY id", &[])?
                .iter()
                .map(submission_from)
                .collect()
        })
    }

    fn set_submission(
        &self,
        id: u64,
        status: SubmissionStatus,
        tx_hash: Option<&str>,
        request_id: Option<u64>,
        error: Option<&str>,
    ) -> StoreResult<()> {
        self.db.with(|c| {
            c.execute(
                "UPDATE submissions SET status = ?2, tx_hash = COALESCE(?3, tx_hash),
                 request_id = COALESCE(?4, request_id), error = COALESCE(?5, error), updated_at = ?6 WHERE id = ?1",
                params![id, status.as_str(), tx_hash, request_id, error, now()],
            )
            .map(drop)
        })
    }

    fn set_submissions_sent(&self, ids: &[u64], tx_hash: &str) -> StoreResult<()> {
        self.db.with(|c| {
            for id in ids {
                c.execute(
                    "UPDATE submissions SET status = ?2, tx_hash = ?3, updated_at = ?4 WHERE id = ?1",
                    params![*id, SubmissionStatus::Sent.as_str(), tx_hash, now()],
                )?;
            }
            Ok(())
        })
    }

    fn submissions_sent_in(&self, tx_hash: &str) -> StoreResult<Vec<u64>> {
        self.db.with(|c| {
            c.query("SELECT id FROM submissions WHERE tx_hash = ?1 ORDER BY id", params![tx_hash])?
                .iter()
                .map(|r| r.get("id"))
                .collect()
        })
    }

    fn counts(&self) -> StoreResult<Vec<(RequestStatus, u64)>> {
        self.db.with(|c| {
            c.query("SELECT status, COUNT(*) AS n FROM requests GROUP BY status", &[])?
                .iter()
                .map(|r| Ok((RequestStatus::parse(&r.get::<String>("status")?)?, r.get("n")?)))
                .collect()
        })
    }

    fn probe(&self) -> StoreResult<()> {
        self.db.probe()
    }
}
