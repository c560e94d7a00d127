//! `signin-watch replay`: CloudTrail archives through both rules, with
//! in-memory counters, findings on stdout in input order.
//!
//! Files are scanned on all cores (splitting, prefiltering, parsing the few
//! candidates, evaluating rules); counting and output happen on one thread in
//! input order, so the result is the same whatever the scheduling.

use std::collections::HashMap;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::adapters::memory_store::MemoryStore;
use crate::app::detector::Detector;
use crate::config::DetectorConfig;
use crate::domain::counter::StoreError;
use crate::domain::rules::RuleSet;
use crate::domain::time::Timestamp;
use crate::intake::source::{self, SourceError};
use crate::intake::{ItemKind, Prefilter, Scanned, Splitter, decode_item};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// One JSON finding per line.
    #[default]
    Json,
    /// The email rendering of each finding.
    Text,
}

#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    pub format: Format,
    /// Draw a progress line on stderr (only when it is a terminal).
    pub progress: bool,
    /// Worker threads; 0 means one per core.
    pub threads: usize,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub files: u64,
    pub bytes: u64,
    pub records: u64,
    pub signin_records: u64,
    pub detections: u64,
    pub notifications: u64,
    pub duplicates: u64,
    pub allowlisted: u64,
    pub bad_records: u64,
}

impl Summary {
    pub fn render(&self, elapsed: Duration) -> String {
        let secs = elapsed.as_secs_f64().max(1e-9);
        format!(
            "signin-watch replay: {} files, {} records read ({} sign-in), {} detections, {} notifications, \
             {} duplicates, {} allowlisted, {} bad records; {:.1} MB in {:.2} s ({:.0} MB/s)",
            self.files,
            self.records,
            self.signin_records,
            self.detections,
            self.notifications,
            self.duplicates,
            self.allowlisted,
            self.bad_records,
            self.bytes as f64 / 1e6,
            secs,
            self.bytes as f64 / 1e6 / secs
        ) + &peak_rss_note()
    }
}

/// `; peak RSS N MB` on Linux (VmHWM of this process), else nothing.
fn peak_rss_note() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
            let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(format!("; peak RSS {:.1} MB", kb / 1024.0))
        })
        .unwrap_or_default()
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("writing findings: {0}")]
    Output(#[source] io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("starting the worker runtime: {0}")]
    Runtime(#[source] io::Error),
}

/// An item a worker found that the detector must see.
struct Candidate {
    bytes: Vec<u8>,
    kind: ItemKind,
}

/// A problem with one record, to report with its file and place.
struct BadRecord {
    line: u64,
    index: u64,
    message: String,
}

enum Piece {
    Candidate(Candidate),
    Bad(BadRecord),
}

/// What a worker sends: pieces of one file in order, then its totals.
enum Message {
    Pieces {
        file: usize,
        pieces: Vec<Piece>,
    },
    Done {
        file: usize,
        records: u64,
        signin_records: u64,
        error: Option<String>,
    },
}

const BATCH: usize = 256;

/// Scans one file; sends candidates and bad records in batches.
fn scan_file(
    file: usize,
    path: &Path,
    rules: &RuleSet,
    tx: &mpsc::Sender<Message>,
    progress: Arc<AtomicU64>,
    buffer: &mut Vec<u8>,
) {
    let prefilter = Prefilter::default();
    let mut records = 0u64;
    let mut signin_records = 0u64;
    let mut pieces = Vec::new();
    let flush = |pieces: &mut Vec<Piece>| {
        if !pieces.is_empty() {
            let _ = tx.send(Message::Pieces {
                file,
                pieces: std::mem::take(pieces),
            });
        }
    };
    let result = source::open(path, progress).and_then(|reader| {
        Splitter::with_buffer(reader, std::mem::take(buffer)).run(|scanned| {
            match scanned {
                Scanned::Item(span, bytes) => {
                    if !(span.may_be_candidate && prefilter.is_candidate(bytes)) {
                        records += 1;
                        return;
                    }
                    let mut wanted = false;
                    let mut signin = 0;
                    let decoded = decode_item(bytes, span.kind, &mut |observed| {
                        signin += u64::from(observed.record.is_from_signin());
                        wanted |= !rules.evaluate(&observed.record).is_empty();
                    });
                    match decoded {
                        Ok(n) => {
                            records += n as u64;
                            signin_records += signin;
                            if wanted {
                                pieces.push(Piece::Candidate(Candidate {
                                    bytes: bytes.to_vec(),
                                    kind: span.kind,
                                }));
                            }
                        }
                        Err(e) => {
                            records += 1;
                            pieces.push(Piece::Bad(BadRecord {
                                line: span.line,
                                index: span.index,
                                message: e.to_string(),
                            }));
                        }
                    }
                }
                Scanned::Malformed(m) => {
                    pieces.push(Piece::Bad(BadRecord {
                        line: m.line,
                        index: m.index,
                        message: m.message,
                    }));
                }
            }
            if pieces.len() >= BATCH {
                flush(&mut pieces);
            }
        })
    });
    flush(&mut pieces);
    let error = match result {
        Ok(spent) => {
            *buffer = spent;
            None
        }
        Err(e) => Some(e.to_string()),
    };
    let _ = tx.send(Message::Done {
        file,
        records,
        signin_records,
        error,
    });
}

/// Replays `paths`, writing findings to `out` and problems and the summary to `err`.
pub fn replay(
    paths: &[PathBuf],
    config: DetectorConfig,
    options: &ReplayOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Summary, ReplayError> {
    let started = Instant::now();
    let files = source::expand(paths)?;
    let total_bytes: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let mut summary = Summary {
        files: files.len() as u64,
        bytes: total_bytes,
        ..Summary::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(ReplayError::Runtime)?;
    let fallback_time = Timestamp::now();
    let detector = Detector::new(
        config.rules.clone(),
        config.policy.clone(),
        MemoryStore::new(),
    );

    let threads = match options.threads {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        n => n,
    }
    .min(files.len().max(1));
    let progress = Arc::new(AtomicU64::new(0));
    let finished = Arc::new(AtomicBool::new(false));
    let next_file = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<Message>();

    std::thread::scope(|scope| -> Result<(), ReplayError> {
        for _ in 0..threads {
            let tx = tx.clone();
            let (files, next_file, progress, rules) =
                (&files, &next_file, &progress, &config.rules);
            scope.spawn(move || {
                let mut buffer = Vec::new();
                loop {
                    let i = next_file.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = files.get(i) else { break };
                    scan_file(i, path, rules, &tx, progress.clone(), &mut buffer);
                }
            });
        }
        drop(tx);
        if options.progress && io::stderr().is_terminal() {
            let (progress, finished) = (progress.clone(), finished.clone());
            scope.spawn(move || draw_progress(&progress, &finished, total_bytes));
        }

        // Pieces arrive per file in order; files are handled in input order.
        let mut pending: HashMap<usize, Vec<Message>> = HashMap::new();
        let mut current = 0usize;
        let mut handle = |msg: Message, summary: &mut Summary| -> Result<bool, ReplayError> {
            let path = |file: usize| files[file].display().to_string();
            match msg {
                Message::Pieces { file, pieces } => {
                    for piece in pieces {
                        match piece {
                            Piece::Bad(b) => {
                                summary.bad_records += 1;
                                let _ = writeln!(
                                    err,
                                    "{}:{}: record #{}: {}",
                                    path(file),
                                    b.line,
                                    b.index + 1,
                                    b.message
                                );
                            }
                            Piece::Candidate(c) => {
                                detect(
                                    &runtime,
                                    &detector,
                                    &c,
                                    fallback_time,
                                    options.format,
                                    out,
                                    summary,
                                )?;
                            }
                        }
                    }
                    Ok(false)
                }
                Message::Done {
                    file,
                    records,
                    signin_records,
                    error,
                } => {
                    summary.records += records;
                    summary.signin_records += signin_records;
                    if let Some(e) = error {
                        summary.bad_records += 1;
                        let _ = writeln!(err, "{}: reading stopped: {e}", path(file));
                    }
                    Ok(true)
                }
            }
        };
        let mut drain = || -> Result<(), ReplayError> {
            while current < files.len() {
                let queued = pending
                    .get_mut(&current)
                    .map(std::mem::take)
                    .unwrap_or_default();
                let mut done = false;
                for msg in queued {
                    done |= handle(msg, &mut summary)?;
                }
                if done {
                    pending.remove(&current);
                    current += 1;
                    continue;
                }
                let Ok(msg) = rx.recv() else { break };
                let file = match &msg {
                    Message::Pieces { file, .. } | Message::Done { file, .. } => *file,
                };
                if file == current {
                    if handle(msg, &mut summary)? {
                        current += 1;
                    }
                } else {
                    pending.entry(file).or_default().push(msg);
                }
            }
            Ok(())
        };
        let result = drain();
        // After an error (say, the reader of the output has gone), workers
        // finish the file in hand and take no other.
        next_file.store(files.len(), Ordering::Relaxed);
        // Stop the progress line whatever happened, or the scope never ends.
        finished.store(true, Ordering::Relaxed);
        result
    })?;
    out.flush().map_err(ReplayError::Output)?;
    let _ = writeln!(err, "{}", summary.render(started.elapsed()));
    Ok(summary)
}

fn detect(
    runtime: &tokio::runtime::Runtime,
    detector: &Detector<MemoryStore>,
    candidate: &Candidate,
    fallback_time: Timestamp,
    format: Format,
    out: &mut dyn Write,
    summary: &mut Summary,
) -> Result<(), ReplayError> {
    let mut observed_all = Vec::new();
    // Already decoded once by the worker, so this cannot fail; a failure is skipped.
    let _ = decode_item(&candidate.bytes, candidate.kind, &mut |o| {
        observed_all.push(runtime.block_on(detector.observe(&o, fallback_time)))
    });
    for outcome in observed_all {
        let outcome = outcome?;
        summary.duplicates += outcome.duplicates.len() as u64;
        summary.allowlisted += outcome.allowlisted.len() as u64;
        for d in outcome.detections {
            summary.detections += 1;
            match format {
                Format::Json => writeln!(out, "{}", d.finding.to_json()),
                Format::Text => write!(
                    out,
                    "{}\n{}\n",
                    d.finding.to_text(d.rule, detector.policy()),
                    "-".repeat(72)
                ),
            }
            .map_err(ReplayError::Output)?;
            if d.notify() {
                summary.notifications += 1;
                runtime.block_on(detector.confirm_notified(&d))?;
            }
        }
    }
    Ok(())
}

fn draw_progress(progress: &AtomicU64, finished: &AtomicBool, total: u64) {
    let mut stderr = io::stderr();
    while !finished.load(Ordering::Relaxed) {
        let done = progress.load(Ordering::Relaxed);
        let pct = if total == 0 {
            100.0
        } else {
            done as f64 * 100.0 / total as f64
        };
        let _ = write!(
            stderr,
            "\r{:>8.1} / {:.1} MB read ({pct:5.1}%)",
            done as f64 / 1e6,
            total as f64 / 1e6
        );
        let _ = stderr.flush();
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = write!(stderr, "\r{}\r", " ".repeat(48));
}
