//! What the terminal shows while a replay runs: a progress line on stderr,
//! and the process's peak memory in the summary.

use std::io::{self, IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// A progress line redrawn on stderr five times a second, while stderr is a
/// terminal; cleared when dropped.
pub struct ProgressLine {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ProgressLine {
    /// Draws `done` of `total` bytes read, when stderr is a terminal.
    pub fn start(done: Arc<AtomicU64>, total: u64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = io::stderr().is_terminal().then(|| {
            let stop = stop.clone();
            std::thread::spawn(move || draw(&done, &stop, total))
        });
        ProgressLine { stop, thread }
    }
}

impl Drop for ProgressLine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            // A panic in the drawing thread only loses the progress line.
            let _ = thread.join();
        }
    }
}

fn draw(done: &AtomicU64, stop: &AtomicBool, total: u64) {
    let mut stderr = io::stderr();
    while !stop.load(Ordering::Relaxed) {
        let read = done.load(Ordering::Relaxed);
        let pct = if total == 0 {
            100.0
        } else {
            read as f64 * 100.0 / total as f64
        };
        // A terminal that stops taking output only loses the progress line.
        let _ = write!(
            stderr,
            "\r{:>8.1} / {:.1} MB read ({pct:5.1}%)",
            read as f64 / 1e6,
            total as f64 / 1e6
        );
        let _ = stderr.flush();
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = write!(stderr, "\r{}\r", " ".repeat(48));
}

/// `; peak RSS N MB` on Linux (VmHWM of this process), else nothing.
pub fn peak_rss_note() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
            let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(format!("; peak RSS {:.1} MB", kb / 1024.0))
        })
        .unwrap_or_default()
}
