//! `oracle serve` against a real anvil chain (1-second blocks) and the real contracts: a price
//! feed round from request to `latestRoundData`, the HTTP API route by route, and SIGKILL at
//! every stage of a request followed by a restart that finishes it exactly once.

use std::{
    io::Write,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use alloy::{
    primitives::{FixedBytes, U256},
    providers::Provider,
};
use serde_json::{json, Value};
use verdict_circuits::Model;
use verdict_contracts::inference_oracle::InferenceOracle;
pub(crate) use verdict_testkit::{
    deploy_feed, free_port, root, sample_input, status_of, wait_for, Env, BOND, CLOCK, TOKEN,
};

/// `oracle serve` processes on a test chain.
pub(crate) trait Serve {
    /// Starts `oracle serve` on a free port; returns the process and the API's base URL.
    fn spawn(&self, extra: &[&str]) -> Service;
    /// The services' log.
    fn log(&self) -> String;
}

impl Serve for Env {
    fn spawn(&self, extra: &[&str]) -> Service {
        let port = free_port();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path()).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_oracle"))
            .args(["serve", "--rpc-url", &self.rpc])
            .args(if extra.contains(&"--poll-ms") { &[][..] } else { &["--poll-ms", "200"][..] })
            .arg("--deployment")
            .arg(self.path("deployment.json"))
            .arg("--key-file")
            .arg(self.path("operator.key"))
            .arg("--api-token-file")
            .arg(self.path("api.token"))
            .args(if extra.contains(&"--db") { vec![] } else { vec!["--db".into(), self.path("oracle.sqlite")] })
            .arg("--model")
            .arg(format!("1={}", root().join("models/price_feed.model.json").display()))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(extra)
            .env_remove("VERDICT_OPERATOR_KEY")
            .env_remove("VERDICT_API_TOKEN")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Service { child, url: format!("http://127.0.0.1:{port}") }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

/// A running service.
pub(crate) struct Service {
    child: Child,
    pub(crate) url: String,
}

impl Service {
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }

    pub(crate) async fn ready(&self) {
        let client = reqwest::Client::new();
        wait_for(Duration::from_secs(60), || async {
            client.get(format!("{}/healthz", self.url)).send().await.is_ok_and(|r| r.status().is_success())
        })
        .await;
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_feed_round_is_proposed_settled_and_read_by_a_consumer() {
    let env = Env::new().await;
    let service = env.spawn(&[]);
    service.ready().await;
    let input = sample_input(&env.model);
    let id = env.request_round(&input).await;
    wait_for(Duration::from_secs(60), || async { status_of(&service.url, id).await.as_deref() == Some("finalized") })
        .await;

    let expected = env.model.run(&input).unwrap().output()[0];
    let (round, answer, _, _, _) = {
        let r = env.feed.latestRoundData().call().await.unwrap();
        (r._0, r._1, r._2, r._3, r._4)
    };
    assert_eq!(round, 1);
    assert_eq!(answer, alloy::primitives::I256::try_from(expected).unwrap());
    let doc: Value = reqwest::get(format!("{}/v1/requests/{id}", service.url)).await.unwrap().json().await.unwrap();
    let kinds: Vec<&str> =
        doc["transactions"].as_array().unwrap().iter().map(|t| t["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["propose", "settle"], "{doc}");
    assert!(doc["transactions"].as_array().unwrap().iter().all(|t| t["status"] == "mined"));
    assert_eq!(doc["output"], json!([expected]));
    assert_eq!(doc["steps"].as_array().unwrap().len(), env.model.steps() + 1);
}

/// Two instances of one operator (one key) share one PostgreSQL database: one holds the lease and
/// acts, the other serves the API and stands by (a request made through it is sent by the holder).
/// SIGKILL the holder while a request waits in its liveness window: the standby takes the lease
/// over within a lease period and settles it, and answers the next request; every request is
/// proposed and finalized exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn a_standby_instance_takes_over_within_a_lease_period_after_the_holder_is_killed() {
    let env = Env::new().await;
    let db = verdict_testkit::postgres::database();
    let ttl = 3u64;
    let args = |name: &'static str| {
        ["--db".to_string(), db.clone(), "--instance".into(), name.into(), "--lease-ttl-secs".into(), ttl.to_string()]
    };
    let (a_args, b_args) = (args("a"), args("b"));
    let mut a = env.spawn(&a_args.iter().map(String::as_str).collect::<Vec<_>>());
    a.ready().await;
    let b = env.spawn(&b_args.iter().map(String::as_str).collect::<Vec<_>>());
    b.ready().await;
    let lease = |url: String| async move {
        let doc: Value = reqwest::get(format!("{url}/healthz")).await.unwrap().json().await.unwrap();
        doc["lease"].clone()
    };
    assert_eq!(lease(a.url.clone()).await, json!({ "instance": "a", "held": true, "epoch": 1 }));
    assert_eq!(lease(b.url.clone()).await, json!({ "instance": "b", "held": false, "epoch": 0 }));

    // A request made through the standby's API is sent by the holder.
    let input = sample_input(&env.model);
    let body = json!({ "model_id": 1, "input": input }).to_string();
    let doc: Value = post(&b.url, Some(TOKEN), &body).send().await.unwrap().json().await.unwrap();
    let via_standby = request_of(&b.url, doc["url"].as_str().unwrap()).await;
    wait_for(Duration::from_secs(60), || async {
        status_of(&b.url, via_standby).await.as_deref() == Some("finalized")
    })
    .await;

    // The holder proposes, then dies inside the liveness window.
    let id = env.request_round(&input).await;
    wait_for(Duration::from_secs(30), || async { env.count::<InferenceOracle::Proposed>(id).await == 1 }).await;
    a.kill();
    let killed = Instant::now();
    wait_for(Duration::from_secs(30), || async { lease(b.url.clone()).await["held"] == true }).await;
    let took = killed.elapsed();
    assert!(took < Duration::from_secs(ttl + 2), "taken over in {took:?}, lease {ttl} s");
    wait_for(Duration::from_secs(60), || async { status_of(&b.url, id).await.as_deref() == Some("finalized") }).await;
    // And serves what comes next.
    let next = env.request_round(&input).await;
    wait_for(Duration::from_secs(60), || async { status_of(&b.url, next).await.as_deref() == Some("finalized") }).await;
    for request in [via_standby, id, next] {
        assert_eq!(env.count::<InferenceOracle::Proposed>(request).await, 1, "request {request}: one proposal");
        assert_eq!(env.count::<InferenceOracle::Finalized>(request).await, 1, "request {request}: one finalization");
    }
    assert_eq!(lease(b.url.clone()).await, json!({ "instance": "b", "held": true, "epoch": 2 }));
    let metrics = reqwest::get(format!("{}/metrics", b.url)).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("verdict_oracle_lease_takeovers_total 1"), "{metrics}");
    assert!(!env.log().contains("panicked"), "{}", env.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_at_any_stage_then_restart_finishes_each_request_exactly_once() {
    let env = Env::new().await;
    let input = sample_input(&env.model);
    // Kill after these delays from the request: before it is seen, while computing/proposing,
    // inside the liveness window, around settlement.
    for (round, delay_ms) in [0u64, 400, 1_500, 3_000, 4_500].into_iter().enumerate() {
        let id = env.request_round(&input).await;
        let mut service = env.spawn(&[]);
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        service.kill();
        let restarted = env.spawn(&[]);
        restarted.ready().await;
        wait_for(Duration::from_secs(60), || async {
            status_of(&restarted.url, id).await.as_deref() == Some("finalized")
        })
        .await;
        assert_eq!(env.count::<InferenceOracle::Proposed>(id).await, 1, "round {round}: one proposal");
        assert_eq!(env.count::<InferenceOracle::Finalized>(id).await, 1, "round {round}: one finalization");
        let latest = env.feed.latestRound().call().await.unwrap();
        assert_eq!(latest, round as u128 + 1, "one feed round per request");
        drop(restarted);
    }
    assert!(!env.log().contains("panicked"), "{}", env.log());
}

fn post(url: &str, token: Option<&str>, body: &str) -> reqwest::RequestBuilder {
    let mut r = reqwest::Client::new()
        .post(format!("{url}/v1/requests"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r
}

/// The on-chain request id of an API submission (`/v1/requests/sub-N`), once created.
async fn request_of(url: &str, sub: &str) -> u64 {
    let started = Instant::now();
    loop {
        let doc: Value = reqwest::get(format!("{url}{sub}")).await.unwrap().json().await.unwrap();
        assert_ne!(doc["status"], "failed", "{doc}");
        if doc["submission"]["status"] == "created" {
            return doc["request_id"].as_u64().unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(30), "not created: {doc}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn error_of(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_and_every_validation_error() {
    let env = Env::new().await;
    let service = env.spawn(&["--rate-limit", "4"]);
    service.ready().await;
    let url = &service.url;
    let input: Vec<f64> = (0..16).map(|i| f64::from(i) / 10.0 - 0.8).collect();
    let good = json!({ "model_id": 1, "input": input }).to_string();

    // Writes: token checks, then validation with the field named.
    type Case<'a> = (Option<&'a str>, String, u16, &'a str, Option<&'a str>);
    let cases: Vec<Case<'_>> = vec![
        (None, good.clone(), 401, "unauthorized", None),
        (Some("wrong-token-0000"), good.clone(), 401, "unauthorized", None),
        (Some(TOKEN), "{not json".into(), 400, "invalid_body", None),
        (Some(TOKEN), json!({ "model_id": 9, "input": [1.0] }).to_string(), 404, "unknown_model", Some("model_id")),
    ];
    for (token, body, code, err, field) in cases {
        let (status, doc) = error_of(post(url, token, &body).send().await.unwrap()).await;
        assert_eq!(status, code, "{body}: {doc}");
        assert_eq!(doc["error"]["code"], err, "{doc}");
        if let Some(f) = field {
            assert_eq!(doc["error"]["field"], f, "{doc}");
        }
        assert!(!doc["error"]["message"].as_str().unwrap().is_empty());
    }
    // Oversized bodies are refused before parsing.
    let huge = format!("{{\"model_id\": 1, \"input\": [{}]}}", vec!["1.0"; 40_000].join(","));
    let (status, doc) = error_of(post(url, Some(TOKEN), &huge).send().await.unwrap()).await;
    assert_eq!((status, doc["error"]["code"].as_str()), (413, Some("body_too_large")), "{doc}");

    // The rate limit (4 a minute) counts authorized writes: three above were authorized.
    let (status, doc) = error_of(
        post(url, Some(TOKEN), &json!({ "model_id": 1, "input": [1.0, 2.0] }).to_string()).send().await.unwrap(),
    )
    .await;
    assert_eq!((status, doc["error"]["field"].as_str()), (422, Some("input")), "{doc}");
    let (status, doc) = error_of(post(url, Some(TOKEN), &good).send().await.unwrap()).await;
    assert_eq!(status, 429, "{doc}");
    assert_eq!(doc["error"]["code"], "rate_limited");

    // Reads.
    let get = |path: &str| reqwest::get(format!("{url}{path}"));
    let (status, doc) = error_of(get("/v1/requests/abc").await.unwrap()).await;
    assert_eq!((status, doc["error"]["field"].as_str()), (400, Some("id")));
    let (status, doc) = error_of(get("/v1/requests/999").await.unwrap()).await;
    assert_eq!((status, doc["error"]["code"].as_str()), (404, Some("unknown_request")));
    let (status, _) = error_of(get("/v1/requests/999/trace").await.unwrap()).await;
    assert_eq!(status, 404);
    let (status, doc) = error_of(get("/v1/models").await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(doc["models"][0]["commitment"], env.model.commitment().to_string());
    let (status, doc) = error_of(get("/v1/models/1").await.unwrap()).await;
    assert_eq!((status, doc["input_len"].as_u64()), (200, Some(16)));
    let (status, _) = error_of(get("/v1/models/2").await.unwrap()).await;
    assert_eq!(status, 404);
    let (status, doc) = error_of(get("/healthz").await.unwrap()).await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["store"]["writable"], true);
    let (status, doc) = error_of(get("/nope").await.unwrap()).await;
    assert_eq!((status, doc["error"]["code"].as_str()), (404, Some("not_found")));
    // CORS is off unless configured.
    let r = reqwest::Client::new()
        .get(format!("{url}/v1/models"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());

    // A request made through the API (a fresh service: the first one's token bucket is empty),
    // with CORS allowed for one origin.
    drop(service);
    let service = env.spawn(&["--cors-origin", "https://app.example"]);
    service.ready().await;
    let url = &service.url;
    let client = reqwest::Client::new();
    let r = client.get(format!("{url}/v1/models")).header("origin", "https://app.example").send().await.unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "https://app.example");
    let r = client.get(format!("{url}/v1/models")).header("origin", "https://evil.example").send().await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let r = client
        .request(reqwest::Method::OPTIONS, format!("{url}/v1/requests"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert!(r.headers()["access-control-allow-headers"].to_str().unwrap().contains("authorization"));
    let started = Instant::now();
    let r = post(url, Some(TOKEN), &good).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["status"], "pending", "{doc}");
    let sub = doc["url"].as_str().unwrap().to_string();
    // Answered before its transaction could be mined (1-second blocks).
    assert!(started.elapsed() < Duration::from_millis(900), "{:?}", started.elapsed());
    let id = request_of(url, &sub).await;
    let doc: Value = reqwest::get(format!("{url}{sub}")).await.unwrap().json().await.unwrap();
    assert_eq!(doc["id"], id, "{doc}");
    assert_eq!(doc["submission"]["status"], "created", "{doc}");
    assert!(doc["submission"]["tx_hash"].as_str().is_some_and(|h| h.starts_with("0x")), "{doc}");
    wait_for(Duration::from_secs(60), || async { status_of(url, id).await.as_deref() == Some("finalized") }).await;
    let trace: Value = reqwest::get(format!("{url}/v1/requests/{id}/trace")).await.unwrap().json().await.unwrap();
    assert_eq!(trace["steps"].as_array().unwrap().len(), env.model.steps() + 1);
    let quantized = env.model.quantize_input(&input).unwrap();
    assert_eq!(trace["steps"][0]["values"], json!(quantized));
    let metrics = reqwest::get(format!("{url}/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("verdict_oracle_requests{status=\"finalized\"} 1"), "{metrics}");
    assert!(metrics.contains("verdict_oracle_api_requests_total 1"), "{metrics}");
    assert!(metrics.contains("verdict_oracle_proposals_total 1"), "{metrics}");

    // The OpenAPI document lists exactly the routes.
    let doc: Value = reqwest::get(format!("{url}/openapi.json")).await.unwrap().json().await.unwrap();
    let mut paths: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(p, ops)| ops.as_object().unwrap().keys().map(move |m| (m.clone(), p.clone())))
        .collect();
    paths.sort();
    let mut routes: Vec<(String, String)> = [
        ("post", "/v1/requests"),
        ("get", "/v1/requests/{id}"),
        ("get", "/v1/requests/{id}/trace"),
        ("post", "/v1/requests/{id}/input"),
        ("get", "/v1/models"),
        ("get", "/v1/models/{id}"),
        ("get", "/healthz"),
        ("get", "/metrics"),
        ("get", "/openapi.json"),
    ]
    .iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    routes.sort();
    assert_eq!(paths, routes);
    // And every documented route answers (not the fallback's 404 "no such route").
    for (method, path) in &routes {
        let concrete = path.replace("{id}", &id.to_string());
        let r = match method.as_str() {
            "get" => reqwest::get(format!("{url}{concrete}")).await.unwrap(),
            _ => reqwest::Client::new()
                .post(format!("{url}{concrete}"))
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap(),
        };
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        assert!(!body.contains("no such route"), "{method} {path}: {status} {body}");
    }
}

#[test]
fn bad_configuration_fails_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    let mut f = std::fs::File::create(&config).unwrap();
    writeln!(f, "operator_key = \"0x01\"").unwrap();
    let model = format!("1={}", root().join("models/price_feed.model.json").display());
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["serve".into(), "--deployment".into(), "/nonexistent.json".into(), "--model".into(), model.clone()],
            "no operator key",
        ),
        (
            vec!["serve".into(), "--config".into(), config.display().to_string(), "--deployment".into(), "x".into()],
            "secrets do not belong in the config file",
        ),
        (vec!["serve".into(), "--deployment".into(), "x".into(), "--model".into(), "one=2".into()], "is not a number"),
    ];
    for (args, expected) in cases {
        let out =
            Command::new(env!("CARGO_BIN_EXE_oracle")).args(&args).env_remove("VERDICT_OPERATOR_KEY").output().unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}

/// The engine's answers for a feed's first rounds, from the calibration rows in order.
fn expected_rounds(model: &Model, rows: &[Vec<f64>]) -> Vec<alloy::primitives::I256> {
    rows.iter()
        .map(|r| {
            let input = model.quantize_input(r).unwrap();
            alloy::primitives::I256::try_from(model.run(&input).unwrap().output()[0]).unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduled_feeds_produce_final_rounds_from_csv_and_http_sources() {
    let env = Env::new().await;
    let csv = root().join("models/price_feed.calibration.csv");
    let rows: Vec<Vec<f64>> = std::fs::read_to_string(&csv)
        .unwrap()
        .lines()
        .skip(1)
        .take(2)
        .map(|l| verdict_circuits::parse_csv_row(l).unwrap())
        .collect();

    // An HTTP JSON source: a local server answering {"input": row 1}.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = format!("http://{}/price", listener.local_addr().unwrap());
    let row = rows[1].clone();
    let app = axum::Router::new()
        .route("/price", axum::routing::get(move || async move { axum::Json(json!({ "input": row })) }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    // The service requests the rounds: it is the feeds' updater.
    let first = deploy_feed(&env.provider, *env.oracle.address(), "AI/USD (csv)", env.operator).await;
    let second = deploy_feed(&env.provider, *env.oracle.address(), "AI/USD (http)", env.operator).await;

    let csv_feed = format!("contract={},source=csv:{},every=2", first.address(), csv.display());
    let http_feed = format!("contract={},source={http},every=3", second.address());
    let service = env.spawn(&["--feed", &csv_feed, "--feed", &http_feed]);
    service.ready().await;
    wait_for(Duration::from_secs(90), || async {
        first.latestRound().call().await.unwrap() >= 2 && second.latestRound().call().await.unwrap() >= 1
    })
    .await;
    let expected = expected_rounds(&env.model, &rows);
    for (round, answer) in expected.iter().enumerate() {
        let r = first.getRoundData(alloy::primitives::aliases::U80::from(round + 1)).call().await.unwrap();
        assert_eq!(&r._1, answer, "csv round {}", round + 1);
    }
    let r = second.getRoundData(alloy::primitives::aliases::U80::from(1)).call().await.unwrap();
    assert_eq!(r._1, expected[1], "http round 1");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_challenged_honest_proposal_is_defended_with_a_real_proof_and_the_challenger_loses() {
    use verdict_contracts::dispute::Phase;

    let env = Env::new().await;
    let input = sample_input(&env.model);
    let trace = env.model.run(&input).unwrap();
    let honest: Vec<FixedBytes<32>> =
        env.model.step_commitments(&trace).iter().map(|c| FixedBytes::from(c.0)).collect();
    let keys = env.path("keys");
    let args = ["--insecure-test-setup", "--keys-dir", keys.to_str().unwrap()];
    let mut service = env.spawn(&args);
    service.ready().await;
    let id = env.request_round(&input).await;
    wait_for(Duration::from_secs(60), || async { status_of(&service.url, id).await.as_deref() == Some("proposed") })
        .await;

    // A lying watcher: its trace diverges from step 2 on.
    let liar = diverging_from_step_2(&honest);
    let bond = U256::from(BOND / 2);
    env.oracle
        .challenge(U256::from(id), liar.root())
        .value(bond)
        .from(env.watcher)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let before = env.provider.get_balance(env.watcher).await.unwrap();

    // The watcher plays its side with the solver; the service plays the proposer's. The service
    // is SIGKILLed once, after its first dispute move, and restarted.
    let mut killed = false;
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < Duration::from_secs(150), "the dispute did not end; service log:\n{}", env.log());
        let phase = env.challenger_move(id, env.model.steps(), &liar, env.watcher).await;
        if !killed && phase != Phase::AwaitingProposerOpen {
            killed = true;
            service.kill();
            service = env.spawn(&args);
            service.ready().await;
        }
        if status_of(&service.url, id).await.as_deref() == Some("finalized") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let doc: Value = reqwest::get(format!("{}/v1/requests/{id}", service.url)).await.unwrap().json().await.unwrap();
    let kinds: Vec<&str> =
        doc["transactions"].as_array().unwrap().iter().map(|t| t["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"propose"), "{doc}");
    assert!(kinds.contains(&"open_dispute") && kinds.contains(&"prove_segment"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"settle"), "{kinds:?}");
    // The challenger's bond went to the proposer (and the treasury): nothing came back to it.
    let account = env.oracle.accountOf(env.watcher).call().await.unwrap();
    assert_eq!(account.credit, alloy::primitives::aliases::U80::ZERO);
    assert!(env.provider.get_balance(env.watcher).await.unwrap() <= before);
    assert_eq!(env.count::<InferenceOracle::DisputeResolved>(id).await, 1);
    let r = env.feed.latestRoundData().call().await.unwrap();
    assert_eq!(r._1, alloy::primitives::I256::try_from(trace.output()[0]).unwrap());
    let metrics = reqwest::get(format!("{}/metrics", service.url)).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("verdict_oracle_dispute_outcomes_total{outcome=\"won\"} 1"), "{metrics}");
}

/// A challenger's lying trace: the honest step commitments, each from step 2 on with one bit
/// flipped.
fn diverging_from_step_2(honest: &[FixedBytes<32>]) -> verdict_contracts::dispute::Trace {
    let mut lie = honest.to_vec();
    for z in lie.iter_mut().skip(2) {
        z.0[31] ^= 1;
    }
    verdict_contracts::dispute::Trace::from_words(&lie)
}

/// New blocks by subscription: with polls ten minutes apart, the service still answers a request
/// within seconds when it follows the node's `newHeads` over WebSocket, and does not without it.
#[tokio::test(flavor = "multi_thread")]
async fn new_blocks_by_subscription_wake_the_service() {
    let env = Env::new().await;
    let input = sample_input(&env.model);
    let ws = env.rpc.replace("http://", "ws://");

    // Control: polling only, ten minutes apart: the request waits.
    let mut service = env.spawn(&["--poll-ms", "600000"]);
    service.ready().await;
    tokio::time::sleep(Duration::from_secs(3)).await; // the startup pass is over
    let id = env.request_round(&input).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(status_of(&service.url, id).await, None, "polling only: not seen yet");
    service.kill();

    // Subscribed: every new block wakes it; the request goes through to the feed.
    let mut service = env.spawn(&["--poll-ms", "600000", "--ws-url", &ws]);
    service.ready().await;
    wait_for(Duration::from_secs(40), || async { status_of(&service.url, id).await.as_deref() == Some("finalized") })
        .await;
    assert!(env.log().contains("subscribed to new heads"), "log:\n{}", env.log());
    let id2 = env.request_round(&input).await;
    let started = Instant::now();
    wait_for(Duration::from_secs(30), || async { status_of(&service.url, id2).await.as_deref() == Some("finalized") })
        .await;
    eprintln!("request to finalized with subscriptions: {:?}", started.elapsed());
    service.kill();
}

/// A challenger that challenges an honest proposal and then walks away: the service opens its
/// side, calls the timeout once the challenger's clock has run out, collects the forfeited bond,
/// and the proposal, back in its window, settles. (Before, a challenger's timeout confirmed the
/// proposal; now it only dismisses the challenge, so the proposer must call it to move on.)
#[tokio::test(flavor = "multi_thread")]
async fn a_challenger_that_walks_away_is_timed_out_and_the_honest_proposal_settles() {
    let env = Env::new().await;
    let input = sample_input(&env.model);
    let mut service = env.spawn(&[]);
    service.ready().await;
    let id = env.request_round(&input).await;
    wait_for(Duration::from_secs(60), || async { status_of(&service.url, id).await.as_deref() == Some("proposed") })
        .await;
    let junk = FixedBytes::<32>::repeat_byte(0x42);
    let challenge = env.oracle.challenge(U256::from(id), junk).value(U256::from(BOND / 2)).from(env.watcher);
    challenge.send().await.unwrap().get_receipt().await.unwrap();
    let started = Instant::now();
    while env.count::<InferenceOracle::Finalized>(id).await == 0 {
        let limit = Duration::from_secs(2 * CLOCK + 60);
        assert!(started.elapsed() < limit, "the proposal did not settle; service log:\n{}", env.log());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    service.kill();
    assert_eq!(env.count::<InferenceOracle::ChallengeDismissed>(id).await, 1, "dismissed, not confirmed");
    let resolved = env.resolution(id, 0).await;
    assert_eq!((resolved.winner, resolved.loser), (env.operator, env.watcher), "the bond went to the proposer");
    let result = env.oracle.resultOf(U256::from(id)).call().await.unwrap();
    assert_eq!(result.operator, env.operator);
    let honest = env.model.run(&input).unwrap();
    let r = env.feed.latestRoundData().call().await.unwrap();
    assert_eq!(r._1, alloy::primitives::I256::try_from(honest.output()[0]).unwrap(), "the honest answer");
}

/// One transaction of the operator held stuck while a dispute of the same operator runs: request
/// X's proposal enters the pool just before the base fee jumps far above its fee cap (mining
/// paused, then `anvil_setNextBlockBaseFeePerGas`), with replacement by timer 10 minutes away. The
/// dispute of request Y still gets every move in time, because Y's job does not wait on X's (one job
/// a request), and X's stuck transaction, which Y's next move now waits behind (nonce order), is
/// replaced within seconds. The test plays the challenger and calls the timeout the moment the
/// operator's clock runs out: the operator must still win.
#[tokio::test(flavor = "multi_thread")]
async fn a_stuck_transaction_does_not_cost_the_operator_a_dispute_clock() {
    use verdict_contracts::dispute::{next_action, Action, DisputeView, Phase, Role};
    // The challenger's fees: well above the spike.
    const HIGH_FEE: u128 = 500_000_000_000;
    const TIP: u128 = 2_000_000_000;

    let env = Env::new().await;
    let rpc = |method: &'static str, params: Value| {
        let provider = env.provider.clone();
        async move {
            let _: Value = provider.raw_request(method.into(), params).await.unwrap();
        }
    };
    let input = sample_input(&env.model);
    let trace = env.model.run(&input).unwrap();
    let honest: Vec<FixedBytes<32>> =
        env.model.step_commitments(&trace).iter().map(|c| FixedBytes::from(c.0)).collect();
    let keys = env.path("keys");
    let args = ["--insecure-test-setup", "--keys-dir", keys.to_str().unwrap(), "--replace-after-secs", "600"];
    let service = env.spawn(&args);
    service.ready().await;
    let y = env.request_round(&input).await;
    wait_for(Duration::from_secs(60), || async { status_of(&service.url, y).await.as_deref() == Some("proposed") })
        .await;
    let liar = diverging_from_step_2(&honest);
    let ry = U256::from(y);
    let challenge = env.oracle.challenge(ry, liar.root()).value(U256::from(BOND / 2)).from(env.watcher);
    challenge.send().await.unwrap().get_receipt().await.unwrap();

    let mut x = None;
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < Duration::from_secs(200), "the dispute did not end; log:\n{}", env.log());
        let d = env.game.disputeOf(ry).call().await.unwrap();
        let view =
            DisputeView { phase: Phase::from(d.phase), steps: env.model.steps(), lo: d.lo as usize, hi: d.hi as usize };
        // A real challenger: the operator's clock run out is the operator's loss.
        let clock = env.game.deadlineOf(ry).call().await.ok(); // none once the dispute is over
        let now = env.provider.get_block(alloy::eips::BlockId::latest()).await.unwrap().unwrap().header.timestamp;
        if clock.is_some_and(|c| c.proposerToMove && now > c.expiresAt) {
            let timed_out = env.game.timeout(ry).from(env.watcher).send().await;
            panic!("the operator ran out of clock in {:?} ({timed_out:?}); log:\n{}", view.phase, env.log());
        }
        let action = next_action(Role::Challenger, &view, &liar);
        if x.is_none() && matches!(action, Action::Open { .. }) {
            // Before our next move: request X with mining paused, let the operator's proposal of X
            // into the pool, then make blocks cost 160 gwei, far above its fee cap.
            rpc("evm_setIntervalMining", json!([0])).await;
            rpc("evm_setAutomine", json!([false])).await;
            let fee = env.oracle.estimateFee(U256::from(1)).call().await.unwrap();
            let other: Vec<u8> = sample_input(&env.model).iter().map(|v| v.wrapping_add(3) as u8).collect();
            let pending = env.feed.requestRound(other.into()).value(fee).from(env.user).send().await.unwrap();
            rpc("evm_mine", json!([])).await;
            let receipt = pending.get_receipt().await.unwrap();
            let created = receipt.decoded_log::<InferenceOracle::RequestCreated>().unwrap();
            x = Some(created.requestId.to::<u64>());
            wait_for(Duration::from_secs(30), || async {
                let latest = env.provider.get_transaction_count(env.operator).await.unwrap();
                env.provider.get_transaction_count(env.operator).pending().await.unwrap() > latest
            })
            .await;
            rpc("anvil_setNextBlockBaseFeePerGas", json!(["0x2540be4000"])).await;
        }
        match action {
            Action::Open { z0, z_last } => {
                let o = verdict_contracts::dispute_game::DisputeGame::Opening {
                    z0: z0.0,
                    proof0: z0.1,
                    zL: z_last.0,
                    proofL: z_last.1,
                };
                let call = env.game.challengerOpen(ry, o).from(env.watcher);
                let sent = call.max_fee_per_gas(HIGH_FEE).max_priority_fee_per_gas(TIP).send().await.unwrap();
                rpc("evm_setIntervalMining", json!([1])).await;
                sent.get_receipt().await.unwrap();
            }
            Action::Bisect { z, proof, .. } => {
                let call = env.game.challengerBisect(ry, z, proof).from(env.watcher);
                let sent = call.max_fee_per_gas(HIGH_FEE).max_priority_fee_per_gas(TIP).send().await.unwrap();
                sent.get_receipt().await.unwrap();
            }
            _ => {}
        }
        if env.count::<InferenceOracle::DisputeResolved>(y).await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let resolved = env.resolution(y, 0).await;
    assert_eq!(resolved.winner, env.operator, "the operator won its dispute");
    // And X's stuck proposal was replaced (not left for 10 minutes) and mined.
    let x = x.expect("the stuck transaction was set up");
    wait_for(Duration::from_secs(60), || async { env.count::<InferenceOracle::Proposed>(x).await == 1 }).await;
    let doc: Value = reqwest::get(format!("{}/v1/requests/{x}", service.url)).await.unwrap().json().await.unwrap();
    let statuses: Vec<(&str, &str)> = doc["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["kind"].as_str().unwrap(), t["status"].as_str().unwrap()))
        .collect();
    assert!(statuses.contains(&("propose", "replaced")), "X's proposal was replaced: {statuses:?}");
    assert!(statuses.contains(&("propose", "mined")), "{statuses:?}");
}

/// A private model (`--blinding`) challenged blind: the service opens the dispute and starts its
/// whole-inference proof in private-weight mode, is SIGKILLed while it proves, restarts, proves
/// again from its store and wins; the challenger loses its bond and the proposal settles.
#[tokio::test(flavor = "multi_thread")]
async fn a_private_defence_survives_a_sigkill_while_proving() {
    private_defence_survives_a_sigkill(false).await;
}

/// Both private (a private model, a private input delivered over the API): the salt survives
/// the SIGKILL with the input, and the defence's whole proof opens the request's salted z_0.
#[tokio::test(flavor = "multi_thread")]
async fn a_defence_of_a_private_input_to_a_private_model_survives_a_sigkill_while_proving() {
    private_defence_survives_a_sigkill(true).await;
}

async fn private_defence_survives_a_sigkill(private_input: bool) {
    use verdict_contracts::dispute::Phase;

    let env = Env::new().await;
    let model_id = env.register_private().await;
    let keys = env.path("keys");
    let model = format!("{model_id}={}", root().join("models/price_feed.model.json").display());
    let blinding = format!("{model_id}={}", env.path("blinding.json").display());
    let args =
        ["--insecure-test-setup", "--keys-dir", keys.to_str().unwrap(), "--model", &model, "--blinding", &blinding];
    let mut service = env.spawn(&args);
    service.ready().await;
    let input = sample_input(&env.model);
    let id = if private_input {
        let (id, salt) = env.request_private(model_id, &input).await;
        let (status, body) = Env::deliver_input(&service.url, id, &input, &salt).await;
        assert_eq!(status, 200, "{body}");
        id
    } else {
        env.request_model(model_id, &input).await
    };
    wait_for(Duration::from_secs(60), || async { status_of(&service.url, id).await.as_deref() == Some("proposed") })
        .await;
    let rid = U256::from(id);
    let blind = env.oracle.challenge(rid, FixedBytes::ZERO).value(U256::from(BOND / 2)).from(env.watcher);
    blind.send().await.unwrap().get_receipt().await.unwrap();

    // Opened: the whole inference is due (a private model's dispute goes straight to the proof),
    // and the service is proving it. Kill it there.
    wait_for(Duration::from_secs(60), || async {
        Phase::from(env.game.disputeOf(rid).call().await.unwrap().phase) == Phase::AwaitingProof
    })
    .await;
    service.kill();
    let mut service = env.spawn(&args);
    service.ready().await;
    let started = Instant::now();
    while status_of(&service.url, id).await.as_deref() != Some("finalized") {
        assert!(started.elapsed() < Duration::from_secs(150), "the defence did not finish; log:\n{}", env.log());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let resolved = env.resolution(id, 0).await;
    assert_eq!((resolved.winner, resolved.loser), (env.operator, env.watcher));
    let expected: Vec<u8> = env.model.run(&input).unwrap().output().iter().flat_map(|v| v.to_be_bytes()).collect();
    let result = env.oracle.resultOf(rid).call().await.unwrap();
    assert_eq!(result.outputHash, alloy::primitives::keccak256(&expected), "the model's output");
    service.kill();
}

/// Private inputs (issue 18): a requester puts only the salted commitment z_0 on chain and hands
/// the input to the operator over the API. Delivered: checked to open z_0, then answered and
/// settled like any request, and never shown. Delivered twice, not opening z_0, malformed, for a
/// public request or an unknown one: a 4xx with a JSON body naming the field. Never delivered:
/// the request expires at its timeout, nothing is proposed, and its requester cancels it. A
/// private input made through `POST /v1/requests` (`private_input`) goes on chain as z_0 only.
#[tokio::test(flavor = "multi_thread")]
async fn private_inputs_are_delivered_checked_once_and_expire_when_never_delivered() {
    let env = Env::new().await;
    let service = env.spawn(&["--rate-limit", "1000"]);
    service.ready().await;
    let url = service.url.clone();
    let input = sample_input(&env.model);
    let (id, salt) = env.request_private(U256::from(1), &input).await;
    wait_for(Duration::from_secs(30), || async { status_of(&url, id).await.as_deref() == Some("awaiting_input") })
        .await;
    let doc: Value = reqwest::get(format!("{url}/v1/requests/{id}")).await.unwrap().json().await.unwrap();
    assert_eq!((doc["private_input"].clone(), doc["input_delivered"].clone()), (json!(true), json!(false)), "{doc}");
    assert!(doc["input"].is_null(), "{doc}");

    // Every refusal: a 4xx naming the field at fault; nothing stored.
    let other_salt = verdict_circuits::Commitment::from_field(verdict_circuits::step::random_salt()).to_string();
    let mut wrong = input.clone();
    wrong[0] = wrong[0].wrapping_add(1);
    let public = env.request_round(&input).await;
    let cases = [
        (id, input.clone(), other_salt, 422, "input_mismatch", "input"),
        (id, wrong, salt.clone(), 422, "input_mismatch", "input"),
        (id, input.clone(), "0x12".to_string(), 422, "invalid_salt", "salt"),
        (id, input[1..].to_vec(), salt.clone(), 422, "invalid_input", "input"),
        (public, input.clone(), salt.clone(), 409, "public_input", "input"),
        (9_999, input.clone(), salt.clone(), 404, "unknown_request", "id"),
    ];
    for (rid, values, s, status, code, field) in cases {
        let (got, body) = Env::deliver_input(&url, rid, &values, &s).await;
        assert_eq!(
            (got, body["error"]["code"].as_str(), body["error"]["field"].as_str()),
            (status, Some(code), Some(field)),
            "{body}"
        );
    }
    assert_eq!(status_of(&url, id).await.as_deref(), Some("awaiting_input"), "a refused delivery stores nothing");

    // Delivered: answered, settled, the on-chain output the model's; a second delivery refused.
    let (got, body) = Env::deliver_input(&url, id, &input, &salt).await;
    assert_eq!(got, 200, "{body}");
    let (got, body) = Env::deliver_input(&url, id, &input, &salt).await;
    assert_eq!(
        (got, body["error"]["code"].as_str(), body["error"]["field"].as_str()),
        (409, Some("input_already_delivered"), Some("input"))
    );
    wait_for(Duration::from_secs(60), || async { status_of(&url, id).await.as_deref() == Some("finalized") }).await;
    let expected = env.model.run(&input).unwrap().output().to_vec();
    let doc: Value = reqwest::get(format!("{url}/v1/requests/{id}")).await.unwrap().json().await.unwrap();
    assert_eq!(doc["output"], json!(expected), "{doc}");
    assert!(doc["input"].is_null() && doc["steps"].is_null(), "the input and inner commitments stay private: {doc}");
    let (got, body) = error_of(reqwest::get(format!("{url}/v1/requests/{id}/trace")).await.unwrap()).await;
    assert_eq!((got, body["error"]["code"].as_str()), (403, Some("private_input")), "{body}");
    let (_, outputs, _) = {
        let r = env.oracle.resultOf(U256::from(id)).call().await.unwrap();
        (r.finalized, r.outputHash, r.operator)
    };
    let encoded: Vec<u8> = expected.iter().flat_map(|v| v.to_be_bytes()).collect();
    assert_eq!(outputs, alloy::primitives::keccak256(&encoded));

    // Through the API: the operator draws the salt; only z_0 goes on chain.
    let r = post(
        &url,
        Some(TOKEN),
        &json!({ "model_id": 1, "input": input, "quantized": true, "private_input": true }).to_string(),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 202);
    let sub: Value = r.json().await.unwrap();
    let via_api = request_of(&url, sub["url"].as_str().unwrap()).await;
    let onchain = env.oracle.requestOf(U256::from(via_api)).call().await.unwrap();
    assert!(onchain.privateInput && onchain.input != FixedBytes::ZERO);
    wait_for(Duration::from_secs(60), || async { status_of(&url, via_api).await.as_deref() == Some("finalized") })
        .await;
    let logs = env
        .provider
        .get_logs(
            &alloy::rpc::types::Filter::new()
                .address(*env.oracle.address())
                .event_signature(<InferenceOracle::RequestCreated as alloy::sol_types::SolEvent>::SIGNATURE_HASH)
                .topic1(U256::from(via_api))
                .from_block(0),
        )
        .await
        .unwrap();
    let created = logs[0].log_decode::<InferenceOracle::RequestCreated>().unwrap().inner.data;
    assert!(created.input.is_empty(), "the input never goes on chain");

    // Never delivered: expires at the request's timeout (600 s here); then refused as such, and
    // the requester cancels it.
    let (late, late_salt) = env.request_private(U256::from(1), &input).await;
    wait_for(Duration::from_secs(30), || async { status_of(&url, late).await.as_deref() == Some("awaiting_input") })
        .await;
    let _: Value = env.provider.raw_request("evm_increaseTime".into(), json!([601])).await.unwrap();
    let _: Value = env.provider.raw_request("evm_mine".into(), json!([])).await.unwrap();
    wait_for(Duration::from_secs(30), || async { status_of(&url, late).await.as_deref() == Some("expired") }).await;
    let (got, body) = Env::deliver_input(&url, late, &input, &late_salt).await;
    assert_eq!(
        (got, body["error"]["code"].as_str(), body["error"]["field"].as_str()),
        (410, Some("request_expired"), Some("id"))
    );
    let cancel = env.oracle.cancel(U256::from(late)).from(env.user).send().await.unwrap().get_receipt().await.unwrap();
    assert!(cancel.status());
    let kinds = env.count::<InferenceOracle::Proposed>(late).await;
    assert_eq!(kinds, 0, "nothing was proposed for it");
    assert!(!env.log().contains("panicked"), "{}", env.log());
}

/// The on-chain transactions (distinct hashes) that emitted event `E` for the requests `ids`.
async fn carried_by<E: alloy::sol_types::SolEvent>(
    env: &Env,
    ids: &[u64],
) -> std::collections::HashSet<FixedBytes<32>> {
    let filter = alloy::rpc::types::Filter::new()
        .address(*env.oracle.address())
        .event_signature(E::SIGNATURE_HASH)
        .from_block(0);
    let logs = env.provider.get_logs(&filter).await.unwrap();
    logs.iter()
        .filter(|l| l.topics().get(1).is_some_and(|t| ids.contains(&U256::from_be_bytes(t.0).to::<u64>())))
        .filter_map(|l| l.transaction_hash)
        .collect()
}

/// Requests posted together go on chain in one `requestMany` and are proposed in one
/// `proposeMany`; each request lists the batch's proposal among its transactions. Killed once
/// its batch was sent (mining paused, so it is still pending) and restarted, the service maps
/// each submission to its own request by its place in the batch (the inputs differ), and
/// creates none twice.
#[tokio::test(flavor = "multi_thread")]
async fn requests_posted_together_share_one_transaction_each_way_and_survive_a_restart() {
    let env = Env::new().await;
    let rpc = |method: &'static str, params: Value| {
        let provider = env.provider.clone();
        async move {
            let _: Value = provider.raw_request(method.into(), params).await.unwrap();
        }
    };
    let width = env.model.input.len;
    let body = |k: usize| json!({ "model_id": 1, "quantized": true, "input": vec![k as f64; width] }).to_string();
    for round in 0..2 {
        let mut service = env.spawn(&["--rate-limit", "1000"]);
        service.ready().await;
        let before = env.oracle.requestCount().call().await.unwrap().to::<u64>();
        if round == 1 {
            rpc("evm_setIntervalMining", json!([0])).await;
            rpc("evm_setAutomine", json!([false])).await;
        }
        let posts = (0..6).map(|k| {
            let (url, body) = (service.url.clone(), body(10 * round + k));
            async move {
                let r = post(&url, Some(TOKEN), &body).send().await.unwrap();
                assert_eq!(r.status().as_u16(), 202);
                r.json::<Value>().await.unwrap()["url"].as_str().unwrap().to_string()
            }
        });
        let subs: Vec<String> = futures_util::future::join_all(posts).await;
        if round == 1 {
            for sub in &subs {
                wait_for(Duration::from_secs(10), || async {
                    let doc: Value = reqwest::get(format!("{}{sub}", service.url)).await.unwrap().json().await.unwrap();
                    doc["submission"]["status"] == "sent"
                })
                .await;
            }
            service.kill();
            service = env.spawn(&["--rate-limit", "1000"]);
            service.ready().await;
            rpc("evm_setIntervalMining", json!([1])).await;
        }
        let url = service.url.clone();
        let mut ids = Vec::new();
        for (k, sub) in subs.iter().enumerate() {
            let id = request_of(&url, sub).await;
            // Its own input: the chain's request is the submission's.
            let onchain = env.oracle.requestOf(U256::from(id)).call().await.unwrap();
            let input: Vec<u8> = vec![(10 * round + k) as u8; width];
            assert_eq!(onchain.input, alloy::primitives::keccak256(&input), "round {round}: submission {k}");
            ids.push(id);
        }
        assert_eq!(
            env.oracle.requestCount().call().await.unwrap().to::<u64>(),
            before + 6,
            "round {round}: none twice"
        );
        for id in &ids {
            wait_for(Duration::from_secs(60), || async {
                matches!(status_of(&url, *id).await.as_deref(), Some("proposed" | "finalized"))
            })
            .await;
            assert_eq!(env.count::<InferenceOracle::Proposed>(*id).await, 1, "round {round}: one proposal");
        }
        let requested = carried_by::<InferenceOracle::RequestCreated>(&env, &ids).await;
        let proposed = carried_by::<InferenceOracle::Proposed>(&env, &ids).await;
        assert!(requested.len() <= 2 && proposed.len() <= 2, "round {round}: {requested:?} {proposed:?}");
        // Every request lists the proposal transaction that carried it.
        for id in &ids {
            let doc: Value = reqwest::get(format!("{url}/v1/requests/{id}")).await.unwrap().json().await.unwrap();
            let hashes: Vec<FixedBytes<32>> = doc["transactions"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| t["kind"] == "propose" && t["status"] == "mined")
                .map(|t| t["hash"].as_str().unwrap().parse().unwrap())
                .collect();
            assert!(hashes.len() == 1 && proposed.contains(&hashes[0]), "request {id}: {doc}");
        }
        drop(service);
    }
    assert!(!env.log().contains("panicked"), "{}", env.log());
}
