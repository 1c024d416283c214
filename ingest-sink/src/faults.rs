//! Named fault points, so crash tests can kill the sink exactly where a real
//! crash would hurt most. Armed only by the environment variable
//! `INGEST_FAULT=<point>[:<n>]`: the n-th time (default 1st) the process
//! reaches `<point>`, it aborts on the spot — no flush, no destructors, no
//! offset commit, like `kill -9`. Unset (production), every point is a no-op.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The points, in the order a batch passes them.
pub const POINTS: [&str; 5] = ["after_read", "after_before", "mid_insert", "after_insert", "after_after"];

struct Armed {
    point: String,
    nth: u64,
    stop: bool,
    hits: AtomicU64,
}

fn armed() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let spec = std::env::var("INGEST_FAULT").ok()?;
            let mut parts = spec.split(':');
            let point = parts.next().unwrap_or_default().to_string();
            let nth = parts.next().and_then(|n| n.parse().ok()).unwrap_or(1);
            let stop = parts.next() == Some("stop");
            if !POINTS.contains(&point.as_str()) {
                eprintln!("ingest-sink: INGEST_FAULT names unknown point `{point}`; known: {POINTS:?}");
                std::process::exit(2);
            }
            eprintln!("ingest-sink: fault point `{point}` armed: the process will abort on hit {nth}");
            Some(Armed {
                point,
                nth,
                stop,
                hits: AtomicU64::new(0),
            })
        })
        .as_ref()
}

/// Whether `point` is the armed one (so a caller can set up a partial action first).
pub fn is_armed(point: &str) -> bool {
    armed().is_some_and(|a| a.point == point)
}

/// Aborts the process if `point` is armed and this is its n-th hit.
pub fn point(point: &str) {
    if let Some(armed) = armed()
        && armed.point == point
        && armed.hits.fetch_add(1, Ordering::SeqCst) + 1 == armed.nth
    {
        if armed.stop {
            eprintln!("ingest-sink: fault point `{point}` reached: stopping (SIGSTOP)");
            let _ = std::process::Command::new("kill").args(["-STOP", &std::process::id().to_string()]).status();
            eprintln!("ingest-sink: fault point `{point}`: continued");
            return;
        }
        eprintln!("ingest-sink: fault point `{point}` reached: aborting");
        std::process::abort();
    }
}
