//! Proof workers (`fraud-prover worker`) on a real PostgreSQL database: a watchtower started with
//! `--proof-workers` leaves its proof of the correct output to them; the worker proving it is
//! SIGKILLed mid-proof, and another claims the job after its lease and proves it. An operator
//! started with `--proof-workers` defends a challenged proposal with a worker's proof.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use alloy::primitives::{FixedBytes, U256};
use serde_json::Value;
use verdict_contracts::{dispute::Trace, inference_oracle::InferenceOracle};
use verdict_testkit::{free_port, root, sample_input, status_of, wait_for, Env, BOND, CLOCK, PROOF_WINDOW};

use crate::{
    operator::Operator,
    watch::{assert_the_watchtower_answered, dishonest_service, wait_for_watching, watch_process, Process},
};

/// `fraud-prover worker` for model 1 on `db`, named `name`, with a 3-second job lease and the
/// watchtower's key cache; its health URL.
fn worker(env: &Env, db: &str, name: &str, log: &std::path::Path) -> (Process, String) {
    worker_with_keys(db, name, log, &env.path("watch-keys"))
}

/// [`worker`] with the key cache `keys`.
fn worker_with_keys(db: &str, name: &str, log: &std::path::Path, keys: &std::path::Path) -> (Process, String) {
    let port = free_port();
    let model = format!("1={}", root().join("models/price_feed.model.json").display());
    let child = Command::new(env!("CARGO_BIN_EXE_fraud-prover"))
        .args(["worker", "--db", db, "--model", &model, "--insecure-test-setup", "--instance", name])
        .arg("--keys-dir")
        .arg(keys)
        .args(["--lease-secs", "3", "--poll-ms", "100", "--listen", &format!("127.0.0.1:{port}")])
        .env("VERDICT_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap())
        .spawn()
        .map(Process)
        .unwrap();
    (child, format!("http://127.0.0.1:{port}"))
}

async fn get(url: &str) -> Option<reqwest::Response> {
    reqwest::get(url).await.ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_proof_job_survives_its_worker_being_killed_and_is_checked_before_use() {
    let env = Env::new().await;
    let input = sample_input(&env.model);
    let honest = env.model.run(&input).unwrap();
    let mut liar = dishonest_service(&env).await;
    let db = verdict_testkit::postgres::database();
    let log = env.path("workers.log");
    let mut watcher = watch_process(&env, &log, &["--db", &db, "--proof-workers"]);
    wait_for_watching(&log, 1).await;
    let (mut first, first_url) = worker(&env, &db, "first", &log);

    let id = env.request_round(&input).await;
    let started = Instant::now();
    let limit = Duration::from_secs(6 * CLOCK + PROOF_WINDOW + 120);
    let failed = |what: &str| {
        format!(
            "{what}; log:\n{}\nservice log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default(),
            crate::operator::log()
        )
    };
    // The watchtower wins the dispute and enqueues the proof of the correct output: killed as
    // soon as the first worker is proving it.
    loop {
        assert!(started.elapsed() < limit, "{}", failed("the first worker never took the job"));
        if let Some(r) = get(&format!("{first_url}/healthz")).await {
            let doc: Value = r.json().await.unwrap_or_default();
            if !doc["job"].is_null() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    first.kill(); // SIGKILL, mid-proof
    let killed = Instant::now();
    let (mut second, second_url) = worker(&env, &db, "second", &log);
    while env.count::<InferenceOracle::Finalized>(id).await == 0 {
        assert!(started.elapsed() < limit, "{}", failed("the correct output was never proven"));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let recovered = killed.elapsed();
    let metrics = get(&format!("{second_url}/metrics")).await.unwrap().text().await.unwrap();
    second.kill();
    watcher.kill();
    liar.kill();
    assert_the_watchtower_answered(&env, id, &honest).await;
    assert!(metrics.contains("verdict_worker_jobs_proven_total 1"), "the second worker proved it: {metrics}");
    assert!(metrics.contains("verdict_worker_proof_job_takeovers_total 1"), "one takeover: {metrics}");
    assert!(metrics.contains("verdict_worker_proof_jobs{status=\"done\"} 1"), "{metrics}");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(text.contains("segment proven by a worker and checked"), "{}", failed("no check"));
    eprintln!("the job was proven {recovered:?} after its first worker was killed (lease 3 s)");
}

/// An honest operator started with `--proof-workers` on PostgreSQL: challenged by a liar, it
/// plays the bisection, leaves the disputed segment's proof to a worker, checks it and submits
/// it; the dispute is won and the request settles.
#[tokio::test(flavor = "multi_thread")]
async fn an_operator_defends_its_proposal_with_a_proof_made_by_a_worker() {
    let env = Env::new().await;
    let input = sample_input(&env.model);
    let trace = env.model.run(&input).unwrap();
    let db = verdict_testkit::postgres::database();
    let keys = env.path("keys");
    let operator = Operator::start_at(
        &env,
        &db,
        &["--insecure-test-setup", "--keys-dir", keys.to_str().unwrap(), "--proof-workers"],
    );
    operator.ready().await;
    let log = env.path("worker.log");
    let (mut worker, worker_url) = worker_with_keys(&db, "w", &log, &keys);
    let id = env.request_round(&input).await;
    wait_for(Duration::from_secs(60), || async { status_of(&operator.url, id).await.as_deref() == Some("proposed") })
        .await;
    // A liar's trace: the honest step commitments, from step 2 on with one bit flipped.
    let mut words: Vec<FixedBytes<32>> =
        env.model.step_commitments(&trace).iter().map(|c| FixedBytes::from(c.0)).collect();
    for w in words.iter_mut().skip(2) {
        w.0[31] ^= 1;
    }
    let liar = Trace::from_words(&words);
    let challenge = env.oracle.challenge(U256::from(id), liar.root()).value(U256::from(BOND / 2)).from(env.watcher);
    challenge.send().await.unwrap().get_receipt().await.unwrap();
    let started = Instant::now();
    while status_of(&operator.url, id).await.as_deref() != Some("finalized") {
        assert!(
            started.elapsed() < Duration::from_secs(4 * CLOCK + 120),
            "the dispute did not end; worker log:\n{}\nservice log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default(),
            crate::operator::log()
        );
        env.challenger_move(id, env.model.steps(), &liar, env.watcher).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let metrics = get(&format!("{worker_url}/metrics")).await.unwrap().text().await.unwrap();
    worker.kill();
    let resolved = env.resolution(id, 0).await;
    assert_eq!(resolved.winner, env.operator, "the operator won its dispute");
    let doc: Value = reqwest::get(format!("{}/v1/requests/{id}", operator.url)).await.unwrap().json().await.unwrap();
    let kinds: Vec<&str> =
        doc["transactions"].as_array().unwrap().iter().map(|t| t["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"prove_segment"), "{kinds:?}");
    assert!(metrics.contains("verdict_worker_jobs_proven_total 1"), "the worker proved it: {metrics}");
    let own = crate::operator::full_log();
    assert!(
        own.lines()
            .any(|l| l.contains("segment proven by a worker and checked") && l.contains(&format!("request={id}"))),
        "the operator checked the worker's proof"
    );
}
