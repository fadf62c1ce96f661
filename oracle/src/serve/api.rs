//! The HTTP API (axum). Reads are open; writes need the configured bearer token (compared in
//! constant time) and are rate-limited per token. Every error is a JSON body
//! `{"error": {"code", "message", "field"?}}`; internal error text never leaks.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alloy::providers::{DynProvider, Provider};
use axum::{
    extract::{rejection::JsonRejection, ConnectInfo, DefaultBodyLimit, Path, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde::Deserialize;
use serde_json::{json, Value};

use verdict_contracts::inference_oracle::InferenceOracle::InferenceOracleInstance;
use verdict_runtime::{models::Models, RequestStatus as OnChain};

use super::{metrics::Metrics, submit::Submitter};
use crate::store::{Incoming, IncomingInput, Store};

/// The most bytes a request body may have.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Shared state of the handlers.
pub struct AppState {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The served models.
    pub models: Arc<Models>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The chain.
    pub provider: DynProvider,
    /// The oracle contract (a private input delivered before the chain loop has seen its
    /// request is checked against it).
    pub oracle: InferenceOracleInstance<DynProvider>,
    /// Sends the requests made through the API (the operator pays).
    pub submitter: Arc<Submitter>,
    /// The service's lease: a standby instance records requests for the holder to send.
    pub leader: verdict_runtime::lease::Leader,
    /// The bearer token writes need (`None`: writes are disabled).
    pub token: Option<String>,
    /// Writes a token may make a minute.
    pub limiter: RateLimiter,
    /// The one browser origin allowed cross-origin access (`None`: CORS off).
    pub cors_origin: Option<HeaderValue>,
}

/// A token bucket per token: `per_minute` writes a minute, refilled continuously.
pub struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// A limiter allowing `per_minute` writes a minute (and bursts of as many).
    pub fn new(per_minute: u32) -> Self {
        Self { per_minute, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one token from `key`'s bucket; `Err(wait)` when it is empty.
    fn take(&self, key: &str) -> Result<(), Duration> {
        let capacity = f64::from(self.per_minute.max(1));
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let (tokens, last) = buckets.entry(key.to_string()).or_insert((capacity, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * capacity / 60.0).min(capacity);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) * 60.0 / capacity))
        }
    }
}

/// An API error: status, a stable code, a message safe to show, and the field at fault.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<&'static str>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), field: None }
    }

    fn field(mut self, field: &'static str) -> Self {
        self.field = Some(field);
        self
    }

    fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {e}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error (logged)")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "code": self.code, "message": self.message });
        if let Some(f) = self.field {
            body["field"] = Value::from(f);
        }
        (self.status, Json(json!({ "error": body }))).into_response()
    }
}

/// The router with every route; `/openapi.json` documents exactly these.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/requests", post(create_request))
        .route("/v1/requests/{id}", get(get_request))
        .route("/v1/requests/{id}/input", post(deliver_input))
        .route("/v1/requests/{id}/trace", get(get_trace))
        .route("/v1/models", get(list_models))
        .route("/v1/models/{id}", get(get_model))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(state.clone(), cors))
        .with_state(state)
}

/// CORS, off unless an origin is configured: then that origin (only) may read and write, and
/// preflight requests are answered here.
async fn cors(
    State(state): State<Arc<AppState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Some(origin) = state.cors_origin.clone() else {
        return next.run(request).await;
    };
    let matches = request.headers().get(header::ORIGIN) == Some(&origin);
    let preflight = request.method() == axum::http::Method::OPTIONS;
    let mut response = if preflight { StatusCode::NO_CONTENT.into_response() } else { next.run(request).await };
    if matches {
        let h = response.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, OPTIONS"));
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("authorization, content-type"));
        h.insert(header::VARY, HeaderValue::from_static("origin"));
    }
    response
}

/// Constant-time equality of two byte strings (length leaks, content does not).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorize(state: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    let Some(expected) = &state.token else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "writes_disabled",
            "this service takes no writes (no API token configured)",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "missing bearer token"))?;
    if !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "wrong bearer token"));
    }
    state.limiter.take(given).map_err(|wait| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many writes; retry in {} s", wait.as_secs() + 1),
        )
    })?;
    Ok(given.to_string())
}

/// `POST /v1/requests` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    /// The registry's model id.
    pub model_id: u64,
    /// Input values: real (quantized with the model's scale) or int8 when `quantized`.
    pub input: Vec<f64>,
    /// The input is already int8.
    #[serde(default)]
    pub quantized: bool,
    /// Keep the input off chain: the request carries only its salted commitment z_0 (the
    /// service draws the salt), and the service keeps the input to answer it.
    #[serde(default)]
    pub private_input: bool,
}

/// `POST /v1/requests/{id}/input` body: the input of a private-input request made on chain by
/// its requester, with the salt of its z_0.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverInput {
    /// Input values: real (quantized with the model's scale) or int8 when `quantized`.
    pub input: Vec<f64>,
    /// The input is already int8.
    #[serde(default)]
    pub quantized: bool,
    /// The salt of z_0 (`0x`-hex, 32 bytes, below the BN254 scalar modulus).
    pub salt: String,
}

/// A JSON body, or the 4xx that says why not.
fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    let Json(body) = body.map_err(|e| {
        let code = if e.status() == StatusCode::PAYLOAD_TOO_LARGE { "body_too_large" } else { "invalid_body" };
        ApiError::new(e.status(), code, e.body_text())
    })?;
    Ok(body)
}

/// An input for `served`'s model: real values quantized with its scale, or int8 values; either
/// way exactly its input width.
fn model_input(
    served: &verdict_runtime::models::ServedModel,
    values: Vec<f64>,
    quantized: bool,
) -> Result<Vec<i8>, ApiError> {
    verdict_circuits::InputValues(values)
        .for_model(&served.model, quantized)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", e.to_string()).field("input"))
}

/// A served model whose private inputs we can answer: a blind challenge of one is answered by a
/// whole-inference proof, which must fit a transaction.
fn private_input_model(served: &verdict_runtime::models::ServedModel) -> Result<(), ApiError> {
    if served.defends_blind_challenges() {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "private_input_unsupported",
        format!(
            "model {} has {} tiles: a private input's blind challenge is answered by a whole-inference proof, \
             limited to {} tiles",
            served.id,
            served.steps(),
            verdict_contracts::nova::MAX_WHOLE_PROOF_TILES
        ),
    )
    .field("private_input"))
}

async fn create_request(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Json<CreateRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    authorize(&state, &headers)?;
    let body = json_body(body)?;
    let served = state.models.get(&body.model_id).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "unknown_model", format!("model {} is not served here", body.model_id))
            .field("model_id")
    })?;
    let input = model_input(served, body.input, body.quantized)?;
    let salt = if body.private_input {
        private_input_model(served)?;
        Some(verdict_circuits::Commitment::from_field(verdict_circuits::step::random_salt()).to_string())
    } else {
        None
    };
    // Recorded before anything is sent: the submitter's job sends it, and a restart resumes it.
    let id = state.store.insert_submission(body.model_id, &input, salt.as_deref()).map_err(ApiError::internal)?;
    // A standby instance leaves it to the holder's next pass.
    if state.leader.is_held() {
        state.submitter.start(id);
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "id": format!("sub-{id}"), "status": "pending", "url": format!("/v1/requests/sub-{id}") })),
    ))
}

/// Delivers a private input: checked to open the request's z_0 before it is stored, then the
/// chain loop answers the request like any other. No token: only whoever knows the input and
/// its salt can open z_0 (attempts are rate-limited per source address).
async fn deliver_input(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Path(raw): Path<String>,
    body: Result<Json<DeliverInput>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&raw)?;
    // Per source address, not per request: a flood of wrong openings from one place must not
    // lock the requester out of its own request.
    state.limiter.take(&format!("input:{}", peer.ip())).map_err(|wait| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many deliveries from {}; retry in {} s", peer.ip(), wait.as_secs() + 1),
        )
    })?;
    let body = json_body(body)?;
    let already_delivered = || {
        ApiError::new(
            StatusCode::CONFLICT,
            "input_already_delivered",
            format!("the input of request {id} is delivered already"),
        )
        .field("input")
    };
    let salt = verdict_circuits::parse_salt(&body.salt).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_salt",
            "expected 0x-hex of 32 bytes below the BN254 scalar modulus",
        )
        .field("salt")
    })?;
    let record = match state.store.request(id).map_err(ApiError::internal)? {
        Some(r) => r,
        None => record_from_chain(&state, id).await?,
    };
    let Some(z0) = &record.input_commitment else {
        return Err(public_input(id));
    };
    if record.salt.is_some() {
        return Err(already_delivered());
    }
    if record.status == crate::store::RequestStatus::Expired {
        return Err(ApiError::new(
            StatusCode::GONE,
            "request_expired",
            format!("request {id} timed out before its input arrived; its requester may cancel it"),
        )
        .field("id"));
    }
    if record.status.is_terminal() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "request_closed",
            format!("request {id} is {}: nothing more is proposed for it", record.status.as_str()),
        )
        .field("id"));
    }
    let served = state.models.get(&record.model_id).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "unknown_model", format!("model {} is not served here", record.model_id))
            .field("id")
    })?;
    private_input_model(served)?;
    let input = model_input(served, body.input, body.quantized)?;
    let opened = verdict_circuits::private_input_commitment(&input, salt);
    // INVARIANT: nothing is stored, let alone proposed, for an input that does not open z_0.
    if z0.parse::<verdict_circuits::Commitment>().ok() != Some(opened) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "input_mismatch",
            format!("the input and salt do not open request {id}'s input commitment z_0 = {z0}"),
        )
        .field("input"));
    }
    let salt = verdict_circuits::Commitment::from_field(salt).to_string();
    if !state.store.deliver_input(id, &input, &salt).map_err(ApiError::internal)? {
        return Err(already_delivered());
    }
    tracing::info!(request = id, "private input delivered");
    Ok(Json(json!({ "id": id, "status": "received", "input_commitment": z0 })))
}

/// A delivery for a request whose input is public (on chain already).
fn public_input(id: u64) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "public_input",
        format!("request {id} has a public input: it is on chain already"),
    )
    .field("input")
}

/// A request the chain loop has not recorded yet (its block is not deep enough, or the loop is
/// behind), read from the chain and recorded when it is a private input of a served model.
async fn record_from_chain(state: &AppState, id: u64) -> Result<crate::store::RequestRecord, ApiError> {
    let unknown =
        || ApiError::new(StatusCode::NOT_FOUND, "unknown_request", format!("request {id} is unknown here")).field("id");
    let r = state.oracle.requestOf(alloy::primitives::U256::from(id)).call().await.map_err(ApiError::internal)?;
    if r.requester == alloy::primitives::Address::ZERO {
        return Err(unknown());
    }
    if !r.privateInput {
        return Err(public_input(id));
    }
    if !state.models.contains_key(&r.modelId) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_model",
            format!("request {id} is for model {}, which is not served here", r.modelId),
        )
        .field("id"));
    }
    if OnChain::read(id, r.status).map_err(ApiError::internal)? != OnChain::Requested {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "request_closed",
            format!("request {id} is answered or closed on chain already"),
        )
        .field("id"));
    }
    let block = state.provider.get_block_number().await.map_err(ApiError::internal)?;
    let request = Incoming {
        id,
        model_id: r.modelId,
        input: IncomingInput::Private(r.input.to_string()),
        requester: r.requester.to_string(),
        block,
    };
    state.store.insert_requests(&[request]).map_err(ApiError::internal)?;
    state.store.request(id).map_err(ApiError::internal)?.ok_or_else(unknown)
}

fn parse_id(raw: &str) -> Result<u64, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_id", format!("{raw:?} is not a request id")).field("id")
    })
}

fn find(state: &AppState, raw: &str) -> Result<crate::store::RequestRecord, ApiError> {
    let id = parse_id(raw)?;
    state
        .store
        .request(id)
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "unknown_request", format!("request {id} is unknown here")))
}

async fn get_request(State(state): State<Arc<AppState>>, Path(raw): Path<String>) -> Result<Json<Value>, ApiError> {
    match raw.strip_prefix("sub-") {
        Some(sub) => get_submission(&state, sub),
        None => request_view(&state, find(&state, &raw)?).map(Json),
    }
}

/// What the API shows of a request.
fn request_view(state: &AppState, r: crate::store::RequestRecord) -> Result<Value, ApiError> {
    let txs = state.store.transactions(r.id).map_err(ApiError::internal)?;
    let (output, prediction) = match (&r.trace, state.models.get(&r.model_id)) {
        (Some(trace), Some(served)) => {
            let out = trace.last().cloned().unwrap_or_default();
            let p = served.model.predict(&out);
            (Some(out), Some(p))
        }
        _ => (None, None),
    };
    let dispute = (r.status == crate::store::RequestStatus::Challenged).then(|| json!({ "state": "challenged" }));
    // A private model's or a private input's inner step commitments commit to hidden
    // activations: not shown; nor is a private input.
    let private_input = r.input_commitment.is_some();
    let private = private_input || state.models.get(&r.model_id).is_some_and(|m| m.is_private());
    let steps = if private { None } else { r.steps.clone() };
    Ok(json!({
        "id": r.id,
        "model_id": r.model_id,
        "status": r.status,
        "input": (!private_input).then_some(&r.input),
        "private_input": private_input,
        "input_commitment": r.input_commitment,
        "input_delivered": private_input.then_some(r.salt.is_some()),
        "output": output,
        "prediction": prediction,
        "steps": steps,
        "trace_root": r.trace_root,
        "deadline": r.deadline,
        "error": r.error,
        "transactions": txs,
        "dispute": dispute,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
    }))
}

/// An API request by its submission id: where it stands, and the request itself once created.
fn get_submission(state: &AppState, raw: &str) -> Result<Json<Value>, ApiError> {
    let id: u64 = raw.parse().map_err(|_| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_id", format!("sub-{raw:?} is not a submission id")).field("id")
    })?;
    let s = state.store.submission(id).map_err(ApiError::internal)?.ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "unknown_request", format!("submission sub-{id} is unknown here"))
    })?;
    let created = match s.request_id {
        Some(request) => state.store.request(request).map_err(ApiError::internal)?,
        None => None,
    };
    let mut doc = match created {
        Some(r) => request_view(state, r)?,
        None => json!({
            "id": Value::Null,
            "model_id": s.model_id,
            "status": s.status,
            "error": s.error,
            "created_at": s.created_at,
            "updated_at": s.updated_at,
        }),
    };
    doc["submission"] =
        json!({ "id": format!("sub-{id}"), "status": s.status, "tx_hash": s.tx_hash, "error": s.error });
    doc["request_id"] = json!(s.request_id);
    Ok(Json(doc))
}

async fn get_trace(State(state): State<Arc<AppState>>, Path(raw): Path<String>) -> Result<Json<Value>, ApiError> {
    let r = find(&state, &raw)?;
    if r.input_commitment.is_some() {
        // INVARIANT: a private input (and the activations it determines) never leaves the operator.
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "private_input",
            format!("request {} has a private input: its trace is not served", r.id),
        ));
    }
    if state.models.get(&r.model_id).is_some_and(|m| m.is_private()) {
        // INVARIANT: a private model's weights and activations never leave the operator.
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "private_model",
            format!("model {} is private: its traces are not served", r.model_id),
        ));
    }
    let (Some(trace), Some(steps)) = (&r.trace, &r.steps) else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_computed",
            format!("request {} is not computed yet", r.id),
        ));
    };
    let tiled = state.models.get(&r.model_id).is_some_and(|m| m.tiled.is_some());
    let mut doc = json!({ "id": r.id, "model_id": r.model_id, "trace_root": r.trace_root });
    if tiled {
        // Steps are tiles: their commitments, and the layers' activations the tiles read.
        let items: Vec<Value> = steps.iter().enumerate().map(|(i, z)| json!({ "step": i, "commitment": z })).collect();
        doc["steps"] = json!(items);
        doc["activations"] = json!(trace);
    } else {
        let items: Vec<Value> = trace
            .iter()
            .zip(steps)
            .enumerate()
            .map(|(i, (values, z))| json!({ "step": i, "commitment": z, "values": values }))
            .collect();
        doc["steps"] = json!(items);
    }
    Ok(Json(doc))
}

async fn list_models(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({ "models": state.models.values().map(|m| m.view()).collect::<Vec<_>>() }))
}

async fn get_model(State(state): State<Arc<AppState>>, Path(raw): Path<String>) -> Result<Json<Value>, ApiError> {
    let id: u64 = raw.parse().map_err(|_| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_id", format!("{raw:?} is not a model id")).field("id")
    })?;
    let m = state.models.get(&id).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "unknown_model", format!("model {id} is not served here"))
    })?;
    Ok(Json(json!(m.view())))
}

async fn healthz(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Value>) {
    let head = state.provider.get_block_number().await;
    let store_ok = state.store.probe().is_ok();
    let last = state.store.last_block().ok().flatten();
    let chain_ok = head.is_ok();
    let lag = match (&head, last) {
        (Ok(h), Some(l)) => Some(h.saturating_sub(l)),
        _ => None,
    };
    let ok = chain_ok && store_ok;
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (
        status,
        Json(json!({
            "ok": ok,
            "chain": { "reachable": chain_ok, "head": head.ok() },
            "store": { "writable": store_ok },
            "last_processed_block": last,
            "lag_blocks": lag,
            "lease": state.leader.health(),
        })),
    )
}

async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render(state.store.as_ref(), &state.leader))
}

async fn openapi() -> Json<Value> {
    Json(openapi_document())
}

/// The OpenAPI 3.1 document of [`router`].
pub fn openapi_document() -> Value {
    let error = json!({ "$ref": "#/components/schemas/Error" });
    let errors = |codes: &[&str]| -> Value {
        codes
            .iter()
            .map(|c| {
                (
                    c.to_string(),
                    json!({ "description": "error", "content": { "application/json": { "schema": error } } }),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    let ok = |desc: &str| json!({ "description": desc, "content": { "application/json": { "schema": { "type": "object" } } } });
    let id_param =
        json!([{ "name": "id", "in": "path", "required": true, "schema": { "type": "integer", "minimum": 0 } }]);
    let mut get_request = errors(&["400", "404"]);
    get_request["200"] = ok("the request: status, output, step commitments, transactions, dispute");
    let mut get_trace = errors(&["400", "403", "404", "409"]);
    get_trace["200"] = ok("the full trace: every step's commitment and values (a tiled model: every tile's commitment, and each layer's activations)");
    let mut post = errors(&["400", "401", "403", "404", "409", "413", "422", "429"]);
    post["202"] = ok("accepted and recorded: { id: \"sub-N\", status: \"pending\", url }; GET the url for the rest");
    let mut deliver = errors(&["400", "404", "409", "410", "413", "422", "429"]);
    deliver["200"] =
        ok("the input opens the request's z_0 and is stored: { id, status: \"received\", input_commitment }");
    let mut get_model = errors(&["400", "404"]);
    get_model["200"] = ok("one model");
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Verdict oracle", "version": env!("CARGO_PKG_VERSION") },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": { "type": "object", "required": ["error"], "properties": { "error": {
                    "type": "object", "required": ["code", "message"],
                    "properties": { "code": { "type": "string" }, "message": { "type": "string" }, "field": { "type": "string" } }
                } } },
                "CreateRequest": { "type": "object", "required": ["model_id", "input"], "additionalProperties": false, "properties": {
                    "model_id": { "type": "integer", "minimum": 0 },
                    "input": { "type": "array", "items": { "type": "number" } },
                    "quantized": { "type": "boolean", "default": false },
                    "private_input": { "type": "boolean", "default": false }
                } },
                "DeliverInput": { "type": "object", "required": ["input", "salt"], "additionalProperties": false, "properties": {
                    "input": { "type": "array", "items": { "type": "number" } },
                    "quantized": { "type": "boolean", "default": false },
                    "salt": { "type": "string", "pattern": "^0x[0-9a-fA-F]{64}$" }
                } }
            }
        },
        "paths": {
            "/v1/requests": { "post": {
                "summary": "Create an inference request on-chain (the operator pays the fee); answers once it is recorded, before its transaction is mined",
                "security": [{ "bearer": [] }],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/CreateRequest" } } } },
                "responses": post
            } },
            "/v1/requests/{id}": { "get": { "summary": "A request through its lifecycle, by its on-chain id or by the sub-N id POST returned", "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "pattern": "^(sub-)?[0-9]+$" } }], "responses": get_request } },
            "/v1/requests/{id}/input": { "post": {
                "summary": "Deliver a private input (a request made on chain with only its salted commitment z_0): checked to open z_0 before anything is proposed",
                "parameters": id_param,
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/DeliverInput" } } } },
                "responses": deliver
            } },
            "/v1/requests/{id}/trace": { "get": { "summary": "The full trace a challenger needs (public models)", "parameters": id_param, "responses": get_trace } },
            "/v1/models": { "get": { "summary": "The served models", "responses": { "200": ok("{ models: [...] }") } } },
            "/v1/models/{id}": { "get": { "summary": "One served model", "parameters": id_param, "responses": get_model } },
            "/healthz": { "get": { "summary": "Chain reachable, store writable, lag in blocks", "responses": { "200": ok("healthy"), "503": ok("unhealthy") } } },
            "/metrics": { "get": { "summary": "Prometheus metrics", "responses": { "200": { "description": "text exposition", "content": { "text/plain": {} } } } } },
            "/openapi.json": { "get": { "summary": "This document", "responses": { "200": ok("OpenAPI 3.1") } } }
        }
    })
}
