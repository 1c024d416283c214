//! Retrying what failed for a transient reason (ClickHouse, Redis, the
//! registry or the broker unreachable) with capped exponential backoff,
//! forever: data is never skipped because a dependency was down. Each retry
//! is logged and counted; a shutdown request ends the wait.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const FIRST: Duration = Duration::from_millis(100);
const CAP: Duration = Duration::from_secs(30);
/// How often a backoff wait looks for a shutdown request.
const WATCH: Duration = Duration::from_millis(200);

/// Shared by every retry loop of the process.
#[derive(Clone)]
pub struct RetryPolicy {
    /// Counts every retry (exported by each service, e.g. `ingest_sink_retries_total`).
    pub retries: prometheus::IntCounter,
    pub shutdown: Arc<AtomicBool>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            retries: prometheus::IntCounter::new("retries", "retries").expect("valid metric"),
            shutdown: Arc::default(),
        }
    }
}

/// Why a retried operation gave up.
#[derive(Debug)]
pub enum Gave<E> {
    /// Not transient: retrying cannot help.
    Up(E),
    /// Shutdown was requested while waiting to retry.
    Shutdown(E),
}

impl<E> Gave<E> {
    /// The last error, whichever way the retries ended.
    pub fn into_inner(self) -> E {
        match self {
            Gave::Up(e) | Gave::Shutdown(e) => e,
        }
    }
}

impl RetryPolicy {
    /// Sleeps `delay`, looking at the shutdown flag every [`WATCH`]; `false`
    /// when shutdown came first (a 30 s backoff never delays a stop).
    async fn wait(&self, delay: Duration) -> bool {
        let until = tokio::time::Instant::now() + delay;
        loop {
            if self.shutdown.load(Ordering::Relaxed) {
                return false;
            }
            let now = tokio::time::Instant::now();
            if now >= until {
                return true;
            }
            tokio::time::sleep((until - now).min(WATCH)).await;
        }
    }

    pub async fn run<T, E, F, Fut>(&self, what: &str, mut attempt: F, transient: impl Fn(&E) -> bool) -> Result<T, Gave<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: std::fmt::Display,
    {
        let mut delay = FIRST;
        let mut failures = 0u32;
        loop {
            match attempt().await {
                Ok(value) => {
                    if failures > 0 {
                        tracing::info!("{what}: succeeded after {failures} retries");
                    }
                    return Ok(value);
                }
                Err(e) if !transient(&e) => return Err(Gave::Up(e)),
                Err(e) => {
                    if self.shutdown.load(Ordering::Relaxed) {
                        return Err(Gave::Shutdown(e));
                    }
                    failures += 1;
                    self.retries.inc();
                    tracing::warn!("{what} failed (attempt {failures}), retrying in {delay:?}: {e}");
                    if !self.wait(delay).await {
                        return Err(Gave::Shutdown(e));
                    }
                    delay = (delay * 2).min(CAP);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[tokio::test]
    async fn shutdown_ends_a_backoff_wait_at_once() {
        let policy = RetryPolicy::default();
        let shutdown = policy.shutdown.clone();
        // Waits of 0.1, 0.2, 0.4, 0.8 s (1.5 s), then one of 1.6 s, cut at 1.7 s.
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1700)).await;
            shutdown.store(true, Ordering::Relaxed);
        });
        let started = Instant::now();
        let outcome: Result<(), Gave<String>> = policy.run("test", || async { Err("down".to_string()) }, |_| true).await;
        assert!(matches!(outcome, Err(Gave::Shutdown(_))));
        let took = started.elapsed();
        assert!(took < Duration::from_millis(2400), "the wait ran to its end: {took:?}");
    }
}
