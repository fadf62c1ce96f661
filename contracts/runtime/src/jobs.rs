//! Proof jobs as rows of the `proof_jobs` table, for `fraud-prover worker` processes that may run
//! on other machines than the chain loop (they need the database, the model files and the keys).
//!
//! The [defender](crate::prover::Defender) of a service started with `--proof-workers` enqueues
//! a job (keyed by what it proves, so a restarted service awaits the same job) and polls it; a
//! worker **claims** the oldest queued job of a model it serves, or a running one whose lease has
//! expired, with `FOR UPDATE SKIP LOCKED` on PostgreSQL (workers never wait on each other's
//! claims; SQLite has one writer at a time and needs no clause). While it proves, the worker
//! renews the job's lease; a worker killed mid-proof leaves the job to be claimed again once its
//! lease runs out (a **takeover**, counted). Results are written only by the job's current holder,
//! and the defender checks every result with the reference verifier before it uses it.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use verdict_circuits::{prover::RequestId, Commitment};

use crate::db::{now_ms, params, Backend, Db, DbError, DbResult, Row};

/// What a proof job proves: everything a worker needs besides the model file (and a private
/// model's blinding) and the keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofSpec {
    /// The request (for logs).
    pub request: u64,
    /// The id the proof's transcript is bound to.
    pub request_id: RequestId,
    /// The model's registry id.
    pub model_id: u64,
    /// Its registered commitment (the worker's model file, and blinding, must open it).
    pub commitment: Commitment,
    /// The stored trace (the layers' activations).
    pub trace: Vec<Vec<i32>>,
    /// A private input's salt (zero for a public input).
    pub salt: Commitment,
    /// The step commitments the proof must prove, z_from..z_to.
    pub expected: Vec<Commitment>,
    /// First step.
    pub from: usize,
    /// One past the last step.
    pub to: usize,
}

impl ProofSpec {
    /// The job's key: one job per request, transcript id and segment.
    pub fn key(&self) -> String {
        format!("{}:{}:{}..{}", self.request, hex(&self.request_id.0), self.from, self.to)
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Where a job stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobState {
    /// Waiting for a worker.
    Queued,
    /// A worker proves it.
    Running {
        /// The worker.
        worker: String,
    },
    /// Proven: the proof file (JSON), not yet checked by the one who asked.
    Done(String),
    /// The worker could not prove it (or its result was refused), and why.
    Failed(String),
}

/// A job as a worker claims it.
#[derive(Clone, Debug)]
pub struct Claimed {
    /// The job's row id.
    pub id: u64,
    /// What to prove.
    pub spec: ProofSpec,
    /// Claims so far, this one included.
    pub attempts: u64,
}

/// The queue's state, for metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct QueueStats {
    /// Jobs waiting for a worker.
    pub queued: u64,
    /// Jobs being proven.
    pub running: u64,
    /// Jobs proven.
    pub done: u64,
    /// Jobs failed.
    pub failed: u64,
    /// Seconds the oldest queued job has waited.
    pub oldest_queued_secs: u64,
    /// Claims of a job whose holder's lease had expired.
    pub takeovers: u64,
}

/// The proof-job queue, on a service's database.
#[derive(Clone)]
pub struct ProofQueue {
    db: std::sync::Arc<Db>,
}

impl ProofQueue {
    /// The queue in `db`.
    pub fn new(db: std::sync::Arc<Db>) -> Self {
        Self { db }
    }

    /// Enqueues `spec` unless its job exists; a failed one is queued again (a new attempt).
    pub fn submit(&self, spec: &ProofSpec) -> DbResult<()> {
        let json = serde_json::to_string(spec).map_err(|e| DbError::new(format!("a proof spec: {e}")))?;
        let now = now_ms();
        self.db.with(|c| {
            c.execute(
                "INSERT INTO proof_jobs (key, model_id, spec, status, created_at, updated_at)
                 VALUES (?1, ?2, ?3, 'queued', ?4, ?4)
                 ON CONFLICT (key) DO UPDATE SET status = 'queued', error = NULL, worker = NULL, updated_at = ?4
                 WHERE proof_jobs.status = 'failed'",
                params![spec.key(), spec.model_id, json, now],
            )
            .map(drop)
        })
    }

    /// Where the job of `spec` stands (`None`: never submitted).
    pub fn state(&self, spec: &ProofSpec) -> DbResult<Option<JobState>> {
        self.db.with(|c| {
            let Some(r) = c.query_opt(
                "SELECT status, worker, result, error FROM proof_jobs WHERE key = ?1",
                params![spec.key()],
            )?
            else {
                return Ok(None);
            };
            let status: String = r.get("status")?;
            Ok(Some(match status.as_str() {
                "queued" => JobState::Queued,
                "running" => JobState::Running { worker: r.get::<Option<String>>("worker")?.unwrap_or_default() },
                "done" => JobState::Done(r.get::<Option<String>>("result")?.unwrap_or_default()),
                "failed" => JobState::Failed(r.get::<Option<String>>("error")?.unwrap_or_default()),
                other => return Err(DbError::new(format!("proof job {}: unknown status {other:?}", spec.key()))),
            }))
        })
    }

    /// Marks the job of `spec` failed (its result was refused).
    pub fn refuse(&self, spec: &ProofSpec, why: &str) -> DbResult<()> {
        self.db.with(|c| {
            c.execute(
                "UPDATE proof_jobs SET status = 'failed', error = ?2, updated_at = ?3 WHERE key = ?1",
                params![spec.key(), why, now_ms()],
            )
            .map(drop)
        })
    }

    /// Claims for `worker`, with a lease of `lease`, the oldest job of one of `models` that is
    /// queued or whose holder's lease has expired.
    pub fn claim(&self, worker: &str, models: &[u64], lease: Duration) -> DbResult<Option<Claimed>> {
        if models.is_empty() {
            return Ok(None);
        }
        let now = now_ms();
        let ids = models.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
        self.db.with(|c| {
            let skip_locked = match c.backend() {
                Backend::Postgres => "FOR UPDATE SKIP LOCKED",
                Backend::Sqlite => "",
            };
            let sql = format!(
                "UPDATE proof_jobs SET status = 'running', worker = ?1, lease_until = ?2, attempts = attempts + 1,
                     takeovers = takeovers + CASE WHEN status = 'running' THEN 1 ELSE 0 END, updated_at = ?3
                 WHERE id = (SELECT id FROM proof_jobs
                             WHERE model_id IN ({ids}) AND (status = 'queued' OR (status = 'running' AND lease_until < ?3))
                             ORDER BY id LIMIT 1 {skip_locked})
                 RETURNING id, spec, attempts"
            );
            let Some(r) = c.query_opt(&sql, params![worker, now + lease.as_millis() as u64, now])? else {
                return Ok(None);
            };
            claimed(&r).map(Some)
        })
    }

    /// Renews the lease of job `id` held by `worker`; `false` when it is no longer `worker`'s
    /// (its lease ran out and another worker claimed it).
    pub fn heartbeat(&self, id: u64, worker: &str, lease: Duration) -> DbResult<bool> {
        let now = now_ms();
        self.db.with(|c| {
            c.execute(
                "UPDATE proof_jobs SET lease_until = ?3, updated_at = ?4
                 WHERE id = ?1 AND worker = ?2 AND status = 'running'",
                params![id, worker, now + lease.as_millis() as u64, now],
            )
            .map(|n| n == 1)
        })
    }

    /// Records the proof of job `id` (if `worker` still holds it): `Ok` with the proof file, or
    /// `Err` with why it could not be made. `false` when the job is no longer `worker`'s.
    pub fn finish(&self, id: u64, worker: &str, result: Result<&str, &str>) -> DbResult<bool> {
        let (status, proof, error) = match result {
            Ok(proof) => ("done", Some(proof), None),
            Err(why) => ("failed", None, Some(why)),
        };
        self.db.with(|c| {
            c.execute(
                "UPDATE proof_jobs SET status = ?3, result = ?4, error = ?5, updated_at = ?6
                 WHERE id = ?1 AND worker = ?2 AND status = 'running'",
                params![id, worker, status, proof, error, now_ms()],
            )
            .map(|n| n == 1)
        })
    }

    /// The queue's state.
    pub fn stats(&self) -> DbResult<QueueStats> {
        let now = now_ms();
        self.db.with(|c| {
            let mut stats = QueueStats::default();
            let rows = c.query(
                "SELECT status, COUNT(*) AS n, MIN(created_at) AS oldest, CAST(SUM(takeovers) AS BIGINT) AS takeovers
                 FROM proof_jobs GROUP BY status",
                &[],
            )?;
            for r in rows {
                let n: u64 = r.get("n")?;
                stats.takeovers += r.get::<Option<u64>>("takeovers")?.unwrap_or(0);
                match r.get::<String>("status")?.as_str() {
                    "queued" => {
                        stats.queued = n;
                        let oldest = r.get::<Option<u64>>("oldest")?.unwrap_or(now);
                        stats.oldest_queued_secs = now.saturating_sub(oldest) / 1000;
                    }
                    "running" => stats.running = n,
                    "done" => stats.done = n,
                    _ => stats.failed += n,
                }
            }
            Ok(stats)
        })
    }
}

fn claimed(r: &Row) -> DbResult<Claimed> {
    let spec: String = r.get("spec")?;
    Ok(Claimed {
        id: r.get("id")?,
        spec: serde_json::from_str(&spec).map_err(|e| DbError::new(format!("a stored proof spec: {e}")))?,
        attempts: r.get("attempts")?,
    })
}

impl QueueStats {
    /// The queue's Prometheus gauges and counter, named `{prefix}_proof_jobs…`.
    pub fn render(&self, out: &mut String, prefix: &str) {
        use std::fmt::Write;
        let _ = writeln!(
            out,
            "# HELP {prefix}_proof_jobs Proof jobs in the queue, by status.\n# TYPE {prefix}_proof_jobs gauge"
        );
        for (status, n) in
            [("queued", self.queued), ("running", self.running), ("done", self.done), ("failed", self.failed)]
        {
            let _ = writeln!(out, "{prefix}_proof_jobs{{status=\"{status}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP {prefix}_proof_job_oldest_queued_seconds How long the oldest queued proof job has waited.\n\
             # TYPE {prefix}_proof_job_oldest_queued_seconds gauge\n{prefix}_proof_job_oldest_queued_seconds {}",
            self.oldest_queued_secs
        );
        let _ = writeln!(
            out,
            "# HELP {prefix}_proof_job_takeovers_total Proof jobs claimed again after their worker's lease ran out.\n\
             # TYPE {prefix}_proof_job_takeovers_total counter\n{prefix}_proof_job_takeovers_total {}",
            self.takeovers
        );
    }
}
