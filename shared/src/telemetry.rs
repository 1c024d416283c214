//! Logging and the operational HTTP endpoints shared by every service.
//!
//! Logs: human-readable lines by default, JSON lines with `LOG_FORMAT=json`;
//! the level comes from `RUST_LOG` (default `info`); stderr, so stdout stays
//! for command output. Endpoints ([`serve`]): `GET /metrics` (Prometheus text
//! format) and `GET /healthz` (200 `ok` while the service's health check
//! passes, 503 with the reason otherwise).

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

pub fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let result = if std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json")) {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
}

/// Answers `/healthz`: `Ok(())` when healthy, `Err(reason)` otherwise.
/// Healthy with a note for people (empty: none), or unhealthy with the reason.
pub type HealthCheck = std::sync::Arc<dyn Fn() -> Result<String, String> + Send + Sync>;

/// Serves `/metrics` and `/healthz` on `listen` until the process ends.
/// Returns the bound address (port 0 picks a free one).
/// A flag that becomes true on SIGTERM or Ctrl-C (logged with `what`, e.g.
/// "finishing the batch in hand"); services poll it between units of work.
pub fn shutdown_flag(what: &'static str) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let set = flag.clone();
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("shutdown requested: {what}");
        set.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    flag
}

pub async fn serve(
    listen: std::net::SocketAddr,
    registry: prometheus::Registry,
    health: HealthCheck,
) -> std::io::Result<std::net::SocketAddr> {
    use axum::http::StatusCode;
    use axum::routing::get;
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let registry = registry.clone();
                async move {
                    let mut text = String::new();
                    match prometheus::TextEncoder::new().encode_utf8(&registry.gather(), &mut text) {
                        Ok(()) => (StatusCode::OK, text),
                        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
                    }
                }
            }),
        )
        .route(
            "/healthz",
            get(move || {
                let health = health.clone();
                async move {
                    match health() {
                        Ok(note) if note.is_empty() => (StatusCode::OK, "ok\n".to_string()),
                        Ok(note) => (StatusCode::OK, format!("ok; {note}\n")),
                        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("unhealthy: {reason}\n")),
                    }
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("metrics endpoint stopped: {e}");
        }
    });
    tracing::info!(%bound, "serving /metrics and /healthz");
    Ok(bound)
}
