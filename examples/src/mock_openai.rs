//! A local stand-in for the OpenAI API: `GET /v1/models` and `POST /v1/chat/completions` on
//! 127.0.0.1 with an ephemeral port. It knows each tenant's API key, answers each tenant by
//! name, rejects unknown keys with a 401 as OpenAI does, and records per tenant the requests
//! it answered and the TCP connections they came over.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

/// A running mock server; it stops with the Tokio runtime that started it.
pub struct MockOpenAi {
    api_base: String,
    state: Arc<Tenants>,
}

/// What the server saw of one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Requests answered with a 200.
    pub answered: usize,
    /// Distinct client connections the requests arrived on.
    pub connections: usize,
}

struct Tenants {
    names: HashMap<String, String>,
    seen: Mutex<HashMap<String, (usize, HashSet<SocketAddr>)>>,
}

impl MockOpenAi {
    /// Starts a server that accepts the given `(api_key, tenant_name)` pairs.
    pub async fn start(
        tenants: impl IntoIterator<Item = (String, String)>,
    ) -> std::io::Result<Self> {
        let state = Arc::new(Tenants {
            names: tenants.into_iter().collect(),
            seen: Mutex::default(),
        });
        let app = Router::new()
            .route("/v1/models", get(models))
            .route("/v1/chat/completions", post(chat))
            .with_state(Arc::clone(&state));
        let api_base = format!("http://{}/v1", crate::serve_locally(app).await?);
        Ok(MockOpenAi { api_base, state })
    }

    /// The base URL to give `OpenAIConfig::with_api_base` (it includes `/v1`).
    pub fn api_base(&self) -> &str {
        &self.api_base
    }

    /// What the server saw of `tenant` so far.
    pub fn traffic(&self, tenant: &str) -> Traffic {
        let seen = self
            .state
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        seen.get(tenant)
            .map_or_else(Traffic::default, |(answered, connections)| Traffic {
                answered: *answered,
                connections: connections.len(),
            })
    }
}

impl Tenants {
    /// The tenant whose key is in the `Authorization: Bearer` header, counting the request.
    fn authorize(&self, headers: &HeaderMap, peer: SocketAddr) -> Option<&str> {
        let key = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))?;
        let name = self.names.get(key)?;
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let (answered, connections) = seen.entry(name.clone()).or_default();
        *answered += 1;
        connections.insert(peer);
        Some(name)
    }
}

/// OpenAI's answer to an unknown key.
fn unauthorized() -> Response {
    let body = json!({ "error": {
        "message": "Incorrect API key provided.",
        "type": "invalid_request_error",
        "param": null,
        "code": "invalid_api_key",
    }});
    (StatusCode::UNAUTHORIZED, Json(body)).into_response()
}

async fn models(
    State(tenants): State<Arc<Tenants>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if tenants.authorize(&headers, peer).is_none() {
        return unauthorized();
    }
    Json(json!({
        "object": "list",
        "data": [{ "id": "gpt-4o-mini", "object": "model", "created": 1_721_172_741u32, "owned_by": "system" }],
    }))
    .into_response()
}

async fn chat(
    State(tenants): State<Arc<Tenants>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(request): Json<Value>,
) -> Response {
    let Some(tenant) = tenants.authorize(&headers, peer) else {
        return unauthorized();
    };
    let said = request["messages"]
        .as_array()
        .and_then(|messages| messages.last())
        .and_then(|message| message["content"].as_str())
        .unwrap_or_default();
    Json(json!({
        "id": "chatcmpl-mock",
        "object": "chat.completion",
        "created": 1_721_172_741u32,
        "model": request["model"],
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": format!("Hello, {tenant}! You said: {said}") },
            "finish_reason": "stop",
        }],
        "usage": { "prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21 },
    }))
    .into_response()
}
