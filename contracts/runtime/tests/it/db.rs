//! The database on both backends, a SQLite file and a real PostgreSQL server: the same
//! statements, the shared tables, atomic transactions, migrations, the lease and the proof-job
//! queue.

use std::{sync::Arc, time::Duration};

use verdict_circuits::{prover::RequestId, Commitment};
use verdict_runtime::{
    db::{params, Backend, Db, DbResult, Schema, TxLog},
    jobs::{JobState, ProofQueue, ProofSpec},
    lease::Leader,
    Nonces,
};

const SCHEMA: Schema = Schema {
    service: "test",
    sqlite: &["CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL, b BLOB, n INTEGER);"],
    postgres: &["CREATE TABLE t (id BIGINT PRIMARY KEY, v TEXT NOT NULL, b BYTEA, n BIGINT);"],
};

/// A fresh database of each backend (the directory keeps the SQLite file alive).
fn both() -> Vec<(Db, String, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("db.sqlite").to_string_lossy().into_owned();
    let url = verdict_testkit::postgres::database();
    vec![(Db::open(&file, &SCHEMA).unwrap(), file, Some(dir)), (Db::open(&url, &SCHEMA).unwrap(), url, None)]
}

#[test]
fn both_backends_run_the_same_statements_and_read_the_same_values() {
    for (db, location, _dir) in both() {
        let backend = db.backend();
        db.with(|c| {
            c.execute(
                "INSERT INTO t (id, v, b, n) VALUES (?1, ?2, ?3, ?4)",
                params![1u64, "one", vec![0u8, 255], None::<u64>],
            )?;
            c.execute(
                "INSERT INTO t (id, v, b, n) VALUES (?1, ?2, ?3, ?4)",
                params![2u64, "two", None::<Vec<u8>>, 7u64],
            )?;
            Ok(())
        })
        .unwrap();
        let rows = db.with(|c| c.query("SELECT id, v, b, n FROM t ORDER BY id", &[])).unwrap();
        assert_eq!(rows.len(), 2, "{backend:?}");
        assert_eq!(rows[0].get::<u64>("id").unwrap(), 1);
        assert_eq!(rows[0].get::<String>("v").unwrap(), "one");
        assert_eq!(rows[0].get::<Option<Vec<u8>>>("b").unwrap(), Some(vec![0, 255]));
        assert_eq!(rows[0].get::<Option<u64>>("n").unwrap(), None);
        assert_eq!(rows[1].get::<Option<u64>>("n").unwrap(), Some(7));
        assert!(rows[0].get::<u64>("v").is_err(), "{backend:?}: text read as an integer is an error");
        assert!(rows[0].get::<u64>("nowhere").is_err());
        // An upsert, and a count.
        let n: u64 = db
            .with(|c| {
                c.execute("INSERT INTO t (id, v) VALUES (?1, ?2) ON CONFLICT (id) DO NOTHING", params![1u64, "again"])?;
                c.query("SELECT COUNT(*) AS n FROM t", &[])?[0].get("n")
            })
            .unwrap();
        assert_eq!(n, 2, "{backend:?}");
        // Reopening migrates nothing twice, and keeps the rows.
        drop(db);
        let db = Db::open(&location, &SCHEMA).unwrap();
        assert_eq!(db.with(|c| c.query("SELECT id FROM t", &[])).unwrap().len(), 2, "{backend:?}");
        let newer = Schema { sqlite: &[], postgres: &[], ..SCHEMA };
        let err = Db::open(&location, &newer).err().expect("a database newer than the binary is refused");
        assert!(err.to_string().contains("newer than this binary"), "{backend:?}: {err}");
        if backend == Backend::Postgres {
            let other = Schema { service: "watchtower", ..SCHEMA };
            let err = Db::open(&location, &other).err().expect("another service's database is refused");
            assert!(err.to_string().contains("belongs to the test service"), "{err}");
        }
    }
}

#[test]
fn a_failing_transaction_changes_nothing_on_either_backend() {
    for (db, _, _dir) in both() {
        let err = db.with(|c| -> DbResult<()> {
            c.execute("INSERT INTO t (id, v) VALUES (?1, ?2)", params![1u64, "gone"])?;
            c.execute("INSERT INTO nowhere VALUES (1)", &[])?;
            Ok(())
        });
        assert!(err.is_err());
        assert!(!err.unwrap_err().is_retryable(), "{:?}: a missing table is not retryable", db.backend());
        assert!(db.with(|c| c.query("SELECT id FROM t", &[])).unwrap().is_empty(), "{:?}", db.backend());
    }
}

#[test]
fn the_shared_tables_keep_meta_and_transactions_in_order() {
    for (db, _, _dir) in both() {
        assert_eq!(db.meta("cursor").unwrap(), None);
        db.set_meta("cursor", "10").unwrap();
        db.set_meta("cursor", "11").unwrap();
        assert_eq!(db.block("cursor").unwrap(), Some(11));
        db.probe().unwrap();
        for (i, hash) in ["0xcc", "0xaa", "0xbb"].iter().enumerate() {
            db.record_tx(hash, 5, if i == 0 { "propose" } else { "settle" }).unwrap();
        }
        db.record_tx("0xaa", 5, "settle").unwrap();
        db.finish_tx("0xaa", "reverted", Some("TooLate")).unwrap();
        let txs = db.transactions(5).unwrap();
        let hashes: Vec<&str> = txs.iter().map(|t| t.hash.as_str()).collect();
        assert_eq!(hashes, ["0xcc", "0xaa", "0xbb"], "{:?}: in the order sent, once each", db.backend());
        assert_eq!(txs[1].status, "reverted");
        assert_eq!(txs[1].error.as_deref(), Some("TooLate"));
        assert!(db.transactions(6).unwrap().is_empty());
        // A batch's transaction (and its replacement) is every carried request's.
        db.record_batch_tx("0xdd", &[6, 7, 8], "propose").unwrap();
        db.record_batch_tx("0xee", &[6, 7, 8], "propose").unwrap();
        db.finish_tx("0xdd", "replaced", None).unwrap();
        for id in [6, 7, 8] {
            let txs = db.transactions(id).unwrap();
            let seen: Vec<(&str, &str)> = txs.iter().map(|t| (t.hash.as_str(), t.status.as_str())).collect();
            assert_eq!(seen, [("0xdd", "replaced"), ("0xee", "sent")], "{:?}: request {id}", db.backend());
        }
        assert_eq!(db.transactions(5).unwrap().len(), 3, "no other request's");
        assert!(db.transactions(9).unwrap().is_empty());
    }
}

/// One holder at a time: renewed by its holder, refused to another until it expires, then taken
/// with the next epoch; given up, it is free at once.
#[test]
fn a_lease_has_one_holder_until_it_expires_or_is_given_up() {
    let ttl = Duration::from_secs(10);
    for (db, _, _dir) in both() {
        let b = db.backend();
        assert_eq!(db.try_lease("operator", "a", 1_000, ttl).unwrap(), Some(1), "{b:?}: free, taken");
        assert_eq!(db.try_lease("operator", "a", 5_000, ttl).unwrap(), Some(1), "{b:?}: renewed");
        assert_eq!(db.try_lease("operator", "b", 14_000, ttl).unwrap(), None, "{b:?}: held until 15 000");
        assert_eq!(db.try_lease("watchtower", "b", 14_000, ttl).unwrap(), Some(1), "{b:?}: another lease");
        assert_eq!(db.try_lease("operator", "b", 15_001, ttl).unwrap(), Some(2), "{b:?}: expired, taken over");
        assert_eq!(db.try_lease("operator", "a", 16_000, ttl).unwrap(), None, "{b:?}: the old holder is out");
        let held = db.lease("operator").unwrap().unwrap();
        assert_eq!((held.holder.as_str(), held.epoch, held.expires_at_ms), ("b", 2, 25_001));
        db.release_lease("operator", "a").unwrap();
        assert_eq!(db.try_lease("operator", "a", 17_000, ttl).unwrap(), None, "{b:?}: only the holder gives it up");
        db.release_lease("operator", "b").unwrap();
        assert_eq!(db.try_lease("operator", "a", 17_000, ttl).unwrap(), Some(3), "{b:?}: given up, free at once");
    }
}

/// Instances racing for one PostgreSQL lease: every round, exactly one of them gets it.
#[test]
fn racing_instances_never_hold_one_postgres_lease_together() {
    let url = verdict_testkit::postgres::database();
    let db = Arc::new(Db::open(&url, &SCHEMA).unwrap());
    assert_eq!(db.backend(), Backend::Postgres);
    let ttl = Duration::from_millis(50);
    let (mut last, mut changes) = (None, 0);
    for round in 0..20u64 {
        // Every lease of the last round has expired at `now`.
        let now = 1_000_000 + round * 1_000;
        let winners: Vec<bool> = (0..6)
            .map(|i| {
                let db = db.clone();
                std::thread::spawn(move || db.try_lease("race", &format!("i{i}"), now, ttl).unwrap().is_some())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        assert_eq!(winners.iter().filter(|w| **w).count(), 1, "round {round}: {winners:?}");
        let winner = winners.iter().position(|w| *w);
        if last.is_some() && last != winner {
            changes += 1;
        }
        last = winner;
    }
    assert_eq!(db.lease("race").unwrap().unwrap().epoch, 1 + changes, "the epoch counts the changes of holder");
}

/// The service-side view: the first instance acts; a second stands by until the first stops
/// (gives its lease up), then acts with the next epoch.
#[tokio::test(flavor = "multi_thread")]
async fn a_standby_instance_acts_once_the_holder_stops() {
    let url = verdict_testkit::postgres::database();
    let db = Arc::new(Db::open(&url, &SCHEMA).unwrap());
    let ttl = Duration::from_millis(800);
    let (stop_a, stopped_a) = tokio::sync::watch::channel(false);
    let (_stop_b, stopped_b) = tokio::sync::watch::channel(false);
    let a = Leader::spawn(db.clone(), "operator", "a", ttl, Nonces::default(), stopped_a).await.unwrap();
    let b = Leader::spawn(db.clone(), "operator", "b", ttl, Nonces::default(), stopped_b).await.unwrap();
    assert!(a.is_held() && !b.is_held());
    tokio::time::sleep(ttl * 2).await;
    assert!(a.is_held() && !b.is_held(), "renewed, never shared");
    stop_a.send(true).unwrap();
    verdict_testkit::wait_for(Duration::from_secs(5), || {
        let b = b.clone();
        async move { b.is_held() }
    })
    .await;
    assert!(!a.is_held(), "the stopped instance no longer counts itself the holder");
    assert_eq!(b.epoch(), 2);
    assert_eq!(b.takeovers(), 1);
}

/// A proof spec of request `request`, model `model`, steps `0..to`.
fn spec(request: u64, model: u64, to: usize) -> ProofSpec {
    ProofSpec {
        request,
        request_id: RequestId::from_u64(request),
        model_id: model,
        commitment: Commitment([7; 32]),
        trace: vec![vec![1, 2], vec![3]],
        salt: Commitment([0; 32]),
        expected: vec![Commitment([1; 32]); to + 1],
        from: 0,
        to,
    }
}

/// The proof-job queue on both backends: claims in order and only for the worker's models; a
/// lapsed claim is taken over, and its first holder can neither renew nor finish it; a refused
/// result is queued again on the next submit; the stats count it all.
#[test]
fn proof_jobs_are_claimed_once_taken_over_after_their_lease_and_fenced() {
    for (db, _, _dir) in both() {
        let b = db.backend();
        let queue = ProofQueue::new(Arc::new(db));
        let (a, other, c) = (spec(1, 1, 3), spec(2, 9, 3), spec(3, 1, 2));
        for s in [&a, &other, &c] {
            queue.submit(s).unwrap();
        }
        queue.submit(&a).unwrap();
        assert_eq!(queue.state(&a).unwrap(), Some(JobState::Queued), "{b:?}: submitted once");
        let lease = Duration::from_millis(300);
        let first = queue.claim("w1", &[1], lease).unwrap().unwrap();
        assert_eq!((first.spec.clone(), first.attempts), (a.clone(), 1), "{b:?}: the oldest of model 1");
        assert_eq!(queue.state(&a).unwrap(), Some(JobState::Running { worker: "w1".into() }));
        let second = queue.claim("w2", &[1], lease).unwrap().unwrap();
        assert_eq!(second.spec, c, "{b:?}: the next one (model 9's is not w2's)");
        assert!(queue.claim("w2", &[1], lease).unwrap().is_none(), "{b:?}: nothing left for model 1");
        assert!(queue.heartbeat(first.id, "w1", lease).unwrap());
        assert!(!queue.heartbeat(first.id, "w2", lease).unwrap(), "{b:?}: not w2's to renew");
        std::thread::sleep(lease + Duration::from_millis(50));
        // w1's lease ran out: w3 takes its job over.
        let again = queue.claim("w3", &[1, 9], lease).unwrap().unwrap();
        assert_eq!((again.spec.clone(), again.attempts), (a.clone(), 2), "{b:?}: the lapsed job, claimed again");
        assert!(!queue.heartbeat(first.id, "w1", lease).unwrap(), "{b:?}: w1 lost it");
        assert!(!queue.finish(first.id, "w1", Ok("{}")).unwrap(), "{b:?}: w1's late result is discarded");
        assert!(queue.finish(again.id, "w3", Ok("proof")).unwrap());
        assert_eq!(queue.state(&a).unwrap(), Some(JobState::Done("proof".into())));
        queue.submit(&a).unwrap();
        assert_eq!(queue.state(&a).unwrap(), Some(JobState::Done("proof".into())), "{b:?}: done stays done");
        // A result the asker refuses fails the job; submitting again queues it again.
        queue.refuse(&a, "the reference verifier refused it").unwrap();
        assert_eq!(queue.state(&a).unwrap(), Some(JobState::Failed("the reference verifier refused it".into())));
        queue.submit(&a).unwrap();
        assert_eq!(queue.state(&a).unwrap(), Some(JobState::Queued), "{b:?}: queued for another attempt");
        assert!(queue.finish(second.id, "w2", Err("cannot prove")).unwrap());
        assert_eq!(queue.state(&c).unwrap(), Some(JobState::Failed("cannot prove".into())));
        assert_eq!(queue.state(&spec(4, 1, 3)).unwrap(), None);
        let stats = queue.stats().unwrap();
        assert_eq!((stats.queued, stats.running, stats.done, stats.failed), (2, 0, 0, 1), "{b:?}: {stats:?}");
        assert_eq!(stats.takeovers, 1, "{b:?}");
    }
}

/// Workers claiming at once from PostgreSQL never get the same job (`FOR UPDATE SKIP LOCKED`).
#[test]
fn concurrent_workers_claim_distinct_jobs_from_postgres() {
    let url = verdict_testkit::postgres::database();
    let queue = ProofQueue::new(Arc::new(Db::open(&url, &SCHEMA).unwrap()));
    for request in 0..24 {
        queue.submit(&spec(request, 1, 1)).unwrap();
    }
    let claims: Vec<u64> = (0..6)
        .map(|w| {
            let queue = queue.clone();
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                while let Some(job) = queue.claim(&format!("w{w}"), &[1], Duration::from_secs(60)).unwrap() {
                    mine.push(job.spec.request);
                }
                mine
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let mut sorted = claims.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..24).collect::<Vec<_>>(), "every job claimed exactly once: {claims:?}");
}

/// A proof worker opens a service's database for the shared tables only, whatever the service's
/// schema version.
#[test]
fn a_worker_opens_a_services_database_at_any_schema_version() {
    for (db, location, _dir) in both() {
        drop(db);
        let shared = Db::open_shared(&location).unwrap();
        ProofQueue::new(Arc::new(shared)).submit(&spec(1, 1, 1)).unwrap();
        // And the service still opens it at its own version.
        Db::open(&location, &SCHEMA).unwrap();
    }
}

/// Many callers at once share at most 16 PostgreSQL connections: the others wait for a free one,
/// and every call succeeds.
#[test]
fn concurrent_callers_share_a_bounded_postgres_pool() {
    let url = verdict_testkit::postgres::database();
    let db = Arc::new(Db::open(&url, &SCHEMA).unwrap());
    let most = (0..40)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || {
                db.with(|c| {
                    c.execute("SELECT pg_sleep(0.05)", &[])?;
                    c.query("SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database()", &[])?[0]
                        .get::<u64>("n")
                })
                .unwrap()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .max()
        .unwrap();
    assert!((2..=16).contains(&most), "{most} connections open at once");
}
