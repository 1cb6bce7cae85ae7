//! A local stand-in for OpenAI's embeddings endpoint: `POST /v1/embeddings` on 127.0.0.1 with
//! an ephemeral port. Each answer takes a set delay (so that concurrent callers really overlap)
//! and is a deterministic embedding of its input ([`embedding_of`]), so anyone can check a
//! value without asking the server. The server counts its calls per input: the upstream cost
//! that a cache is there to save.
//!
//! Like OpenAI, it wants an `Authorization: Bearer sk-...` header (401 otherwise). It keeps the
//! inputs it saw, to count them, and never prints or returns them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

/// The length of every embedding the mock returns.
pub const DIMENSIONS: usize = 8;

/// A running mock server; it stops with the Tokio runtime that started it.
pub struct MockEmbeddings {
    api_base: String,
    state: Arc<Upstream>,
}

struct Upstream {
    delay: Duration,
    calls: Mutex<HashMap<String, usize>>,
}

/// The embedding the mock returns for `input`: [`DIMENSIONS`] floats in [-1, 1) drawn from a
/// hash of the text. Each is a multiple of 2^-23, so it survives JSON and `f32` exactly.
pub fn embedding_of(input: &str) -> Vec<f32> {
    let mut state = fnv1a(input.as_bytes());
    (0..DIMENSIONS)
        .map(|_| {
            state = splitmix64(state);
            // 24 bits, scaled to [-1, 1): exact in an f32.
            let unit = (state >> 40) as f32 / (1u32 << 24) as f32;
            unit * 2.0 - 1.0
        })
        .collect()
}

/// FNV-1a, 64 bits: a hash that is the same in every process (unlike `std`'s `RandomState`).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn splitmix64(state: u64) -> u64 {
    let mut z = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl MockEmbeddings {
    /// Starts a server whose every answer takes `delay`.
    pub async fn start(delay: Duration) -> std::io::Result<Self> {
        let state = Arc::new(Upstream {
            delay,
            calls: Mutex::default(),
        });
        let app = Router::new()
            .route("/v1/embeddings", post(embeddings))
            .with_state(Arc::clone(&state));
        let api_base = format!("http://{}/v1", crate::serve_locally(app).await?);
        Ok(MockEmbeddings { api_base, state })
    }

    /// The base URL to give `OpenAIConfig::with_api_base` (it includes `/v1`).
    pub fn api_base(&self) -> &str {
        &self.api_base
    }

    /// How many times `input` was embedded so far.
    pub fn calls_for(&self, input: &str) -> usize {
        self.calls().get(input).copied().unwrap_or(0)
    }

    /// Every input embedded so far, over all inputs.
    pub fn total_calls(&self) -> usize {
        self.calls().values().sum()
    }

    fn calls(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.state
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// An OpenAI-shaped error answer.
fn error(status: StatusCode, message: &str, code: &str) -> Response {
    let body = json!({ "error": {
        "message": message,
        "type": "invalid_request_error",
        "param": null,
        "code": code,
    }});
    (status, Json(body)).into_response()
}

async fn embeddings(
    State(upstream): State<Arc<Upstream>>,
    headers: HeaderMap,
    Json(request): Json<Value>,
) -> Response {
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|key| key.starts_with("sk-"));
    if !authorized {
        return error(
            StatusCode::UNAUTHORIZED,
            "Incorrect API key provided.",
            "invalid_api_key",
        );
    }
    // A string, or an array of strings.
    let inputs: Vec<String> = match &request["input"] {
        Value::String(text) => vec![text.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|item| item.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    if inputs.is_empty() || inputs.iter().any(String::is_empty) {
        return error(
            StatusCode::BAD_REQUEST,
            "'input' must be a non-empty string or array of strings.",
            "invalid_input",
        );
    }
    {
        let mut calls = upstream
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for input in &inputs {
            *calls.entry(input.clone()).or_default() += 1;
        }
    }
    tokio::time::sleep(upstream.delay).await;
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, input)| {
            json!({ "object": "embedding", "index": index, "embedding": embedding_of(input) })
        })
        .collect();
    let tokens = inputs
        .iter()
        .map(|input| input.len() / 4 + 1)
        .sum::<usize>();
    Json(json!({
        "object": "list",
        "model": request["model"],
        "data": data,
        "usage": { "prompt_tokens": tokens, "total_tokens": tokens },
    }))
    .into_response()
}
