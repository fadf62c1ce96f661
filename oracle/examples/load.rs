//! The API's load benchmark (`scripts/bench_load.sh`): a real `oracle serve` process on a fresh
//! anvil chain (1-second blocks, the real contracts, the price-feed model), driven over loopback
//! by this load client. It sends `--requests` `POST /v1/requests` at `--rate` per second (open
//! loop: request i is due at i/rate, whatever the answers), then reads every submission back with
//! `GET /v1/requests/{id}`, and from the chain's logs how many blocks each request waited for its
//! proposal, and whether any was lost or proposed twice.
//!
//! Usage: `load BIN_DIR OUT_DIR [--requests N] [--rate R] [--concurrency C]`.

use std::{
    path::PathBuf,
    process::{Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use alloy::{primitives::U256, providers::Provider, rpc::types::Filter, sol_types::SolEvent};
use anyhow::{bail, Context};
use serde_json::{json, Value};
use verdict_contracts::inference_oracle::InferenceOracle;
use verdict_testkit::{free_port, root, Env, BOND, TOKEN};

struct Options {
    bin: PathBuf,
    out: PathBuf,
    requests: usize,
    rate: f64,
    concurrency: usize,
}

fn options() -> anyhow::Result<Options> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(bin), Some(out)) = (args.first(), args.get(1)) else {
        bail!("usage: load BIN_DIR OUT_DIR [--requests N] [--rate R] [--concurrency C]");
    };
    let flag = |name: &str, default: f64| -> anyhow::Result<f64> {
        match args.iter().position(|a| a == name) {
            Some(i) => {
                args.get(i + 1).with_context(|| format!("{name} needs a value"))?.parse().context(name.to_string())
            }
            None => Ok(default),
        }
    };
    Ok(Options {
        bin: bin.into(),
        out: out.into(),
        requests: flag("--requests", 2000.0)? as usize,
        rate: flag("--rate", 500.0)?,
        concurrency: flag("--concurrency", 128.0)? as usize,
    })
}

/// The p-th percentile (0..=100) of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let o = options()?;
    std::fs::create_dir_all(&o.out)?;
    // A block holds the load: 500 requests and their proposals are ~100M gas a second.
    let env = Env::start(Some(1), &["--gas-limit", "2000000000"]).await;
    // Bonds for every proposal in flight (one bond each until its window ends).
    let bonds = U256::from(BOND) * U256::from(o.requests as u64 + 100);
    env.oracle.depositBond().from(env.operator).value(bonds).send().await?.get_receipt().await?;
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(o.out.join(format!("load.sqlite{suffix}")));
    }
    let log = std::fs::File::create(o.out.join("load-service.log"))?;
    let mut service = Command::new(o.bin.join("oracle"))
        .args(["serve", "--rpc-url", &env.rpc, "--ws-url", &env.rpc.replace("http://", "ws://")])
        .args(["--poll-ms", "200", "--rate-limit", "100000000", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--deployment")
        .arg(env.path("deployment.json"))
        .arg("--key-file")
        .arg(env.path("operator.key"))
        .arg("--api-token-file")
        .arg(env.path("api.token"))
        .arg("--db")
        .arg(o.out.join("load.sqlite"))
        .arg("--model")
        .arg(format!("1={}", root().join("models/price_feed.model.json").display()))
        .env_remove("VERDICT_OPERATOR_KEY")
        .env("VERDICT_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("cannot start oracle serve")?;
    let result = run(&o, &env, &url).await;
    let _ = service.kill();
    let _ = service.wait();
    result
}

async fn run(o: &Options, env: &Env, url: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(o.concurrency).build()?;
    let started = Instant::now();
    while !client.get(format!("{url}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
        if started.elapsed() > Duration::from_secs(60) {
            bail!("the service did not start (see load-service.log)");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let input: Vec<f64> = (0..env.model.input.len).map(|i| ((i as f64) * 0.37).sin()).collect();
    let body = json!({ "model_id": 1, "input": input }).to_string();

    // POST, open loop.
    eprintln!("POST /v1/requests: {} at {}/s, {} connections", o.requests, o.rate, o.concurrency);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let t0 = Instant::now() + Duration::from_millis(200);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..o.concurrency {
        let (client, next, body, url) = (client.clone(), next.clone(), body.clone(), url.to_string());
        let (rate, total) = (o.rate, o.requests);
        workers.spawn(async move {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    return out;
                }
                tokio::time::sleep_until((t0 + Duration::from_secs_f64(i as f64 / rate)).into()).await;
                let sent = Instant::now();
                let at = sent.saturating_duration_since(t0).as_secs_f64() * 1e3;
                let r = client
                    .post(format!("{url}/v1/requests"))
                    .bearer_auth(TOKEN)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                let ms = sent.elapsed().as_secs_f64() * 1e3;
                let id = match r {
                    Ok(r) if r.status().as_u16() == 202 => {
                        r.json::<Value>().await.ok().and_then(|v| v["id"].as_str().map(str::to_string))
                    }
                    _ => None,
                };
                out.push((at, ms, id));
            }
        });
    }
    let mut post_ms = Vec::new();
    let mut subs = Vec::new();
    let mut timeline = Vec::new();
    while let Some(done) = workers.join_next().await {
        for (at, ms, id) in done? {
            post_ms.push(ms);
            timeline.push((at, ms));
            subs.extend(id);
        }
    }
    // Each POST's send time (ms after the start) and latency, for a look at where the tail is.
    timeline.sort_by(|a, b| a.0.total_cmp(&b.0));
    let csv: String = timeline.iter().map(|(at, ms)| format!("{at:.1},{ms:.2}\n")).collect();
    std::fs::write(o.out.join("post-latency.csv"), format!("sent_ms,latency_ms\n{csv}"))?;
    let post_secs = (Instant::now() - t0).as_secs_f64();
    let post_ms = sorted(post_ms);
    let refused = o.requests - subs.len();

    // GET each submission until its request is created (and read its id).
    let mut get_ms = Vec::new();
    let mut ids = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut waiting: Vec<String> = subs.clone();
    while !waiting.is_empty() && Instant::now() < deadline {
        let mut still = Vec::new();
        let mut batch = tokio::task::JoinSet::new();
        for (k, sub) in waiting.iter().enumerate() {
            let (client, url, sub) = (client.clone(), url.to_string(), sub.clone());
            batch.spawn(async move {
                let sent = Instant::now();
                let doc: Option<Value> = match client.get(format!("{url}/v1/requests/{sub}")).send().await {
                    Ok(r) => r.json().await.ok(),
                    Err(_) => None,
                };
                (k, sent.elapsed().as_secs_f64() * 1e3, doc)
            });
            if batch.len() >= o.concurrency {
                let (k, ms, doc) = batch.join_next().await.unwrap()?;
                get_ms.push(ms);
                match doc.as_ref().and_then(|d| d["request_id"].as_u64()) {
                    Some(id) => ids.push(id),
                    None => still.push(waiting[k].clone()),
                }
            }
        }
        while let Some(r) = batch.join_next().await {
            let (k, ms, doc) = r?;
            get_ms.push(ms);
            match doc.as_ref().and_then(|d| d["request_id"].as_u64()) {
                Some(id) => ids.push(id),
                None => still.push(waiting[k].clone()),
            }
        }
        waiting = still;
        if !waiting.is_empty() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let get_ms = sorted(get_ms);

    // From the chain: each request's block, and its proposals.
    let wait_proposals = Instant::now() + Duration::from_secs(120);
    let (created, proposed) = loop {
        let created = env
            .provider
            .get_logs(
                &Filter::new()
                    .address(*env.oracle.address())
                    .event_signature(InferenceOracle::RequestCreated::SIGNATURE_HASH)
                    .from_block(0),
            )
            .await?;
        let proposed = env
            .provider
            .get_logs(
                &Filter::new()
                    .address(*env.oracle.address())
                    .event_signature(InferenceOracle::Proposed::SIGNATURE_HASH)
                    .from_block(0),
            )
            .await?;
        if proposed.len() >= created.len() || Instant::now() > wait_proposals {
            break (created, proposed);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let topic = |l: &alloy::rpc::types::Log| l.topics().get(1).map(|t| U256::from_be_bytes(t.0).to::<u64>());
    let mut request_block = std::collections::HashMap::new();
    for l in &created {
        if let (Some(id), Some(b)) = (topic(l), l.block_number) {
            request_block.insert(id, b);
        }
    }
    let mut proposals: std::collections::HashMap<u64, Vec<u64>> = std::collections::HashMap::new();
    for l in &proposed {
        if let (Some(id), Some(b)) = (topic(l), l.block_number) {
            proposals.entry(id).or_default().push(b);
        }
    }
    let mut blocks = Vec::new();
    let (mut lost, mut duplicated) = (0usize, 0usize);
    for id in &ids {
        match (request_block.get(id), proposals.get(id)) {
            (Some(r), Some(p)) => {
                blocks.push((p[0].saturating_sub(*r)) as f64);
                if p.len() > 1 {
                    duplicated += 1;
                }
            }
            _ => lost += 1,
        }
    }
    let blocks = sorted(blocks);
    let within2 = blocks.iter().filter(|b| **b <= 2.0).count();
    let extra_requests = created.len().saturating_sub(ids.len());

    println!(
        "load: {} POST /v1/requests at a target of {}/s ({} connections), anvil 1-second blocks",
        o.requests, o.rate, o.concurrency
    );
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| POST throughput | {:.0} requests/s ({} in {:.2} s) |",
        o.requests as f64 / post_secs,
        o.requests,
        post_secs
    );
    println!(
        "| POST latency p50 / p99 / max | {:.1} / {:.1} / {:.1} ms |",
        percentile(&post_ms, 50.0),
        percentile(&post_ms, 99.0),
        percentile(&post_ms, 100.0)
    );
    println!("| POST refused (not 202) | {refused} |");
    println!(
        "| GET /v1/requests/{{id}} latency p50 / p99 ({} reads) | {:.1} / {:.1} ms |",
        get_ms.len(),
        percentile(&get_ms, 50.0),
        percentile(&get_ms, 99.0)
    );
    println!("| requests created on-chain | {} of {} (never created: {}) |", ids.len(), subs.len(), waiting.len());
    println!(
        "| request to proposal, blocks p50 / p99 / max | {} / {} / {} |",
        percentile(&blocks, 50.0),
        percentile(&blocks, 99.0),
        percentile(&blocks, 100.0)
    );
    println!("| proposed within 2 blocks | {within2} of {} |", ids.len());
    println!("| lost (created, never proposed) | {lost} |");
    println!("| duplicated (proposed twice, or requests beyond the submissions) | {} |", duplicated + extra_requests);
    Ok(())
}
