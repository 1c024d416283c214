//! A live progress line on stderr while a load generator runs: rewritten in
//! place on a terminal, one line every few seconds otherwise (CI logs).

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Prints `line(elapsed)` periodically until dropped.
pub struct ProgressLine {
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ProgressLine {
    pub fn start(line: impl Fn(Duration) -> String + Send + 'static) -> Self {
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let thread = std::thread::spawn(move || {
            let tty = std::io::stderr().is_terminal();
            let every = if tty { Duration::from_secs(1) } else { Duration::from_secs(5) };
            let start = Instant::now();
            let mut next = start + every;
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                if Instant::now() < next {
                    continue;
                }
                next += every;
                let text = line(start.elapsed());
                let mut err = std::io::stderr().lock();
                let _ = if tty { write!(err, "\r\x1b[2K{text}") } else { writeln!(err, "{text}") };
                let _ = err.flush();
            }
            if tty {
                let _ = writeln!(std::io::stderr());
            }
        });
        Self {
            done,
            thread: Some(thread),
        }
    }
}

impl Drop for ProgressLine {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
