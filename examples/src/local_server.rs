//! A tiny HTTP service on 127.0.0.1 for the per-key client examples: `GET /hello` answers
//! with the service's name, `GET /health` fails a set number of times before succeeding, and
//! the server counts the connections it was reached over.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::routing::get;

/// A running service; it stops with the Tokio runtime that started it.
pub struct LocalServer {
    base_url: String,
    state: Arc<Service>,
}

struct Service {
    name: String,
    failing_health_checks: AtomicUsize,
    connections: Mutex<HashSet<SocketAddr>>,
}

impl LocalServer {
    /// Starts `name` on an ephemeral port; its first `failing_health_checks` health checks
    /// answer 503.
    pub async fn start(name: &str, failing_health_checks: usize) -> std::io::Result<Self> {
        let state = Arc::new(Service {
            name: name.to_string(),
            failing_health_checks: AtomicUsize::new(failing_health_checks),
            connections: Mutex::default(),
        });
        let app = Router::new()
            .route("/hello", get(hello))
            .route("/health", get(health))
            .with_state(Arc::clone(&state));
        let base_url = format!("http://{}", crate::serve_locally(app).await?);
        Ok(LocalServer { base_url, state })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Distinct connections the service has been reached over.
    pub fn connections(&self) -> usize {
        let connections = self.state.connections.lock();
        connections.unwrap_or_else(PoisonError::into_inner).len()
    }
}

impl Service {
    fn saw(&self, peer: SocketAddr) {
        let mut connections = self
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        connections.insert(peer);
    }
}

async fn hello(
    State(service): State<Arc<Service>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> String {
    service.saw(peer);
    format!("hello from {}", service.name)
}

async fn health(
    State(service): State<Arc<Service>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> StatusCode {
    service.saw(peer);
    let failing = service
        .failing_health_checks
        .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1));
    if failing.is_ok() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    }
}
