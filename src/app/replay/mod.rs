//! `signin-watch replay`: CloudTrail archives through the rules, with the
//! detector the caller built, findings on the output in input order.
//!
//! Files are scanned on all cores (splitting, prefiltering, parsing the few
//! candidates, asking the rules: [`worker`]); counting, notifying and output
//! happen on one thread in the order of the files ([`in_order`]), so the
//! result is the same whatever the scheduling.

mod clock;
mod in_order;
mod worker;

use std::fmt;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;

use serde::Serialize;

use crate::adapters::counting_notifier::CountingNotifier;
use crate::app::backtest::{Backtest, Delivery};
use crate::app::detector::{Detector, Outcome, ProcessError};
use crate::domain::notify::Notice;
use crate::domain::store::{BudgetStore, CounterStore};
use crate::domain::time::Timestamp;
use crate::intake::candidates::{Candidate, Piece};
use crate::intake::decode_item;
use crate::intake::objects::ObjectSource;
use crate::intake::s3_notification::ObjectRef;
use crate::intake::source::{self, SourceError, delivered_by};
use crate::render;
use clock::{ArchiveClock, Receipt};
use in_order::InOrder;
use worker::{Message, Report};

/// How findings are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// One JSON finding per line.
    #[default]
    Json,
    /// The email rendering of each finding.
    Text,
    /// One OCSF Detection Finding per line, digests included.
    Ocsf,
    /// One ASFF finding per line, as Security Hub would import it.
    Asff,
}

#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    pub format: Format,
    /// `Format::Asff`: the Security Hub product findings are imported
    /// into (the detector's account and region).
    pub product: Option<render::ProductTarget>,
    /// Worker threads; 0 means one per core.
    pub threads: usize,
}

/// What a replay read and found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReplaySummary {
    pub files: u64,
    pub bytes: u64,
    pub records: u64,
    pub signin_records: u64,
    pub detections: u64,
    pub notifications: u64,
    /// Notifications past their rule's hourly budget, folded into digests.
    pub folded: u64,
    /// Digests sent at the end, one per rule and hour that folded any.
    pub digests: u64,
    pub duplicates: u64,
    pub allowlisted: u64,
    /// Feeds of a correlation older than its group's lateness horizon.
    pub too_late: u64,
    /// Records dated past their archive's own time (a log file's delivery
    /// time, else the wall clock), counted at the archive's time.
    pub future_dated: u64,
    /// Records whose time cannot be read (reported with file and line),
    /// counted at the archive's time.
    pub unreadable_times: u64,
    /// Detections that failed for good (reported; the rest went on).
    pub failed_detections: u64,
    pub bad_records: u64,
}

impl fmt::Display for ReplaySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "signin-watch replay: {} files, {} records read ({} sign-in), {} detections, \
             {} notifications, {} duplicates, {} allowlisted, {} too late for correlations, \
             {} bad records",
            self.files,
            self.records,
            self.signin_records,
            self.detections,
            self.notifications,
            self.duplicates,
            self.allowlisted,
            self.too_late,
            self.bad_records,
        )?;
        if self.folded > 0 {
            write!(
                f,
                ", {} folded into {} digests (past the budget per rule per hour)",
                self.folded, self.digests
            )?;
        }
        if self.future_dated > 0 {
            write!(
                f,
                ", {} dated in the future (counted at the archive's own time)",
                self.future_dated
            )?;
        }
        if self.failed_detections > 0 {
            write!(
                f,
                ", {} detections failed (see above)",
                self.failed_detections
            )?;
        }
        if self.unreadable_times > 0 {
            write!(
                f,
                ", {} with an unreadable eventTime (counted at the archive's own time)",
                self.unreadable_times
            )?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("writing findings: {0}")]
    Output(#[source] io::Error),
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error("starting the worker runtime: {0}")]
    Runtime(#[source] io::Error),
    #[error(
        "ASFF findings need the Security Hub product they are imported into: \
         pass --product-arn arn:aws:securityhub:REGION:ACCOUNT:product/ACCOUNT/default \
         (the account and region the detector runs in)"
    )]
    NoProduct,
}

/// One thing a replay reads: a file, or an object of a bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    File(PathBuf),
    Object(ObjectRef),
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::File(p) => write!(f, "{}", p.display()),
            Input::Object(o) => write!(f, "s3://{}/{}", o.bucket, o.key),
        }
    }
}

/// How a worker thread opens an object: an [`ObjectSource`] on the runtime
/// that serves its readers, its type erased so that a replay's type does
/// not depend on where its objects come from.
type OpenObject = dyn Fn(&ObjectRef) -> io::Result<Box<dyn io::Read + Send>> + Send + Sync;

/// The inputs a replay reads, found before it starts, and how many of their
/// bytes it has read so far.
pub struct Replay {
    inputs: Vec<Input>,
    bytes: u64,
    progress: Arc<AtomicU64>,
    open_object: Option<Box<OpenObject>>,
}

impl Replay {
    /// The files `paths` name: each file as given, directories walked in
    /// name order for record files.
    pub fn new(paths: &[PathBuf]) -> Result<Self, SourceError> {
        let files = source::expand(paths)?;
        let bytes = files
            .iter()
            .filter_map(|f| std::fs::metadata(f).ok())
            .map(|m| m.len())
            .sum();
        Ok(Replay {
            inputs: files.into_iter().map(Input::File).collect(),
            bytes,
            progress: Arc::new(AtomicU64::new(0)),
            open_object: None,
        })
    }

    /// With `objects` read too, after the files, each opened through
    /// `source` (the function's own port) on `runtime`, which serves the
    /// readers it hands back (an S3 body streams through its runtime).
    pub fn with_objects<O>(
        mut self,
        objects: Vec<ObjectRef>,
        source: O,
        runtime: tokio::runtime::Handle,
    ) -> Self
    where
        O: ObjectSource + Send + Sync + 'static,
    {
        self.bytes += objects.iter().filter_map(|o| o.size).sum::<u64>();
        self.inputs.extend(objects.into_iter().map(Input::Object));
        self.open_object = Some(Box::new(move |o| {
            // Inside the runtime, so that the body's reader finds it.
            let _entered = runtime.enter();
            runtime.block_on(source.open(o)).map_err(io::Error::other)
        }));
        self
    }

    /// How many inputs there are.
    pub fn inputs(&self) -> usize {
        self.inputs.len()
    }

    /// The inputs' names, in the order read.
    pub fn input_names(&self) -> impl Iterator<Item = String> + '_ {
        self.inputs.iter().map(Input::to_string)
    }

    /// The files' size on disk, before decompression.
    pub fn total_bytes(&self) -> u64 {
        self.bytes
    }

    /// Bytes of the files read so far, for a progress line.
    pub fn progress(&self) -> Arc<AtomicU64> {
        self.progress.clone()
    }

    /// Replays every file through `detector`, writing findings to `out`
    /// and the records that cannot be read (with file, line and record
    /// number) to `err`.
    pub fn run<S: CounterStore + BudgetStore + Sync>(
        &self,
        detector: &Detector<S>,
        options: &ReplayOptions,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<ReplaySummary, ReplayError> {
        self.run_into(detector, options, out, err, None)
    }

    /// As [`Replay::run`], and feeds `backtest` every record's time, every
    /// detection and every digest, for the report.
    pub fn run_reporting<S: CounterStore + BudgetStore + Sync>(
        &self,
        detector: &Detector<S>,
        options: &ReplayOptions,
        out: &mut dyn Write,
        err: &mut dyn Write,
        backtest: &mut Backtest,
    ) -> Result<ReplaySummary, ReplayError> {
        self.run_into(detector, options, out, err, Some(backtest))
    }

    fn run_into<S: CounterStore + BudgetStore + Sync>(
        &self,
        detector: &Detector<S>,
        options: &ReplayOptions,
        out: &mut dyn Write,
        err: &mut dyn Write,
        backtest: Option<&mut Backtest>,
    ) -> Result<ReplaySummary, ReplayError> {
        let files = &self.inputs;
        let open_object = self.open_object.as_deref();
        let mut summary = ReplaySummary {
            files: files.len() as u64,
            bytes: self.bytes,
            ..ReplaySummary::default()
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(ReplayError::Runtime)?;
        if options.format == Format::Asff && options.product.is_none() {
            return Err(ReplayError::NoProduct);
        }
        let mut output = Output {
            runtime,
            detector,
            notifier: CountingNotifier::keeping_digests(),
            clock: ArchiveClock::new(Timestamp::now()),
            waiting: Vec::new(),
            format: options.format,
            product: options.product.clone(),
            asff_stamps: std::collections::HashMap::new(),
            backtest,
            out,
        };
        let threads = match options.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
        .min(files.len().max(1));
        let next_file = AtomicUsize::new(0);
        let (tx, rx) = mpsc::channel::<Message>();

        std::thread::scope(|scope| -> Result<(), ReplayError> {
            for _ in 0..threads {
                let tx = tx.clone();
                let (next_file, progress, rules) = (&next_file, &self.progress, detector.rules());
                scope.spawn(move || {
                    let mut buffer = Vec::new();
                    loop {
                        let i = next_file.fetch_add(1, Ordering::Relaxed);
                        let Some(input) = files.get(i) else { break };
                        let reader = match input {
                            Input::File(path) => source::open(path, progress.clone()),
                            Input::Object(o) => match open_object {
                                Some(open) => {
                                    open(o).and_then(|r| source::decompressing(r, progress.clone()))
                                }
                                None => Err(io::Error::other("no way to read objects")),
                            },
                        };
                        worker::scan_reader(i, reader, rules, &tx, &mut buffer);
                    }
                });
            }
            drop(tx);
            let mut order = InOrder::new();
            let mut ready = Vec::new();
            let mut handle = || -> Result<(), ReplayError> {
                while order.ended() < files.len() {
                    let Ok(Message { file, report }) = rx.recv() else {
                        break;
                    };
                    let last = matches!(report, Report::Done { .. });
                    order.push(file, (file, report), last, &mut ready);
                    for (file, report) in ready.drain(..) {
                        output.report(&files[file], report, &mut summary, err)?;
                    }
                }
                Ok(())
            };
            let result = handle();
            // After an error (say, the reader of the output has gone),
            // workers finish the file in hand and take no other.
            next_file.store(files.len(), Ordering::Relaxed);
            result
        })?;
        output.count_waiting(&mut summary, err)?;
        // Every hour of an archive is over: each digest owed goes out now,
        // and is printed after the findings.
        output
            .runtime
            .block_on(detector.send_digests(&output.notifier, Timestamp::from_millis(i64::MAX)))?;
        for digest in output.notifier.take_digests() {
            if let Some(b) = output.backtest.as_deref_mut() {
                b.digest(&digest.rule);
            }
            match output.format {
                Format::Json => writeln!(output.out, "{}", digest.json),
                Format::Text => write!(output.out, "{}\n{}\n", digest.text, "-".repeat(72)),
                Format::Ocsf => writeln!(output.out, "{}", digest.ocsf),
                // Security Hub has every finding; a digest only folds
                // notifications.
                Format::Asff => Ok(()),
            }
            .map_err(ReplayError::Output)?;
        }
        output.out.flush().map_err(ReplayError::Output)?;
        summary.notifications = output.notifier.sent();
        summary.digests = output.notifier.digests();
        Ok(summary)
    }
}

/// Records that wait for the archive's clock ([`clock`]): the item they
/// are in, kept once, and which of its records they are.
struct Waiting {
    candidate: Arc<Candidate>,
    nths: Vec<usize>,
}

/// The single thread that counts, notifies and writes.
struct Output<'a, S> {
    runtime: tokio::runtime::Runtime,
    detector: &'a Detector<S>,
    notifier: CountingNotifier,
    clock: ArchiveClock,
    waiting: Vec<Waiting>,
    format: Format,
    product: Option<render::ProductTarget>,
    /// `Format::Asff`: each group's last `UpdatedAt`, which the next one
    /// passes (Security Hub ignores an update that does not).
    asff_stamps: std::collections::HashMap<String, Timestamp>,
    /// `--report`: what the page counts.
    backtest: Option<&'a mut Backtest>,
    out: &'a mut dyn Write,
}

impl<S: CounterStore + BudgetStore> Output<'_, S> {
    /// Handles what a worker reported about the input at `path`.
    fn report(
        &mut self,
        path: &Input,
        report: Report,
        summary: &mut ReplaySummary,
        err: &mut dyn Write,
    ) -> Result<(), ReplayError> {
        match report {
            Report::Pieces(pieces) => {
                for piece in pieces {
                    match piece {
                        Piece::Bad(b) => {
                            summary.bad_records += 1;
                            let (line, number) = (b.line, b.index + 1);
                            // Problems go to stderr on a best-effort basis;
                            // the summary counts them whatever happens.
                            let _ = writeln!(err, "{path}:{line}: record #{number}: {}", b.message);
                        }
                        Piece::Candidate(c) => self.detect(path, c, summary, err)?,
                    }
                }
            }
            Report::Done {
                records,
                signin_records,
                error,
            } => {
                summary.records += records;
                summary.signin_records += signin_records;
                if let Some(e) = error {
                    summary.bad_records += 1;
                    let _ = writeln!(err, "{path}: reading stopped: {e}");
                }
            }
        }
        Ok(())
    }

    fn detect(
        &mut self,
        path: &Input,
        candidate: Candidate,
        summary: &mut ReplaySummary,
        err: &mut dyn Write,
    ) -> Result<(), ReplayError> {
        let delivered = match path {
            Input::File(p) => p.to_str().and_then(delivered_by),
            Input::Object(o) => delivered_by(&o.key),
        };
        let mut outcomes = Vec::new();
        let mut waiting = Vec::new();
        let (runtime, detector, notifier, clock, mut backtest) = (
            &self.runtime,
            self.detector,
            &self.notifier,
            &mut self.clock,
            self.backtest.as_deref_mut(),
        );
        let mut nth = 0;
        let item_bytes = candidate.bytes.len();
        // The worker decoded these bytes once already, so this succeeds; were
        // it to fail, the worker has reported the record.
        let _ = decode_item(&candidate.bytes, candidate.kind, &mut |o| {
            if let Some(stated) = o.unreadable_time() {
                summary.unreadable_times += 1;
                let (line, number) = (candidate.line, candidate.index + 1);
                let _ = writeln!(
                    err,
                    "{path}:{line}: record #{number}: eventTime {:?} cannot be read: counted at the archive's own time",
                    render::clean_line(stated, 64)
                );
            }
            let bytes = if waiting.is_empty() { item_bytes } else { 0 };
            match clock.receipt(&o, delivered, bytes) {
                Receipt::At(received) => {
                    if let Some(b) = backtest.as_deref_mut() {
                        b.saw(o.event_time(received));
                    }
                    outcomes.push(runtime.block_on(detector.process(notifier, &o, received)))
                }
                Receipt::Wait => waiting.push(nth),
            }
            nth += 1;
        });
        if !waiting.is_empty() {
            self.waiting.push(Waiting {
                candidate: Arc::new(candidate),
                nths: waiting,
            });
        }
        for outcome in outcomes {
            self.write(outcome?, summary, err)?;
        }
        Ok(())
    }

    /// Counts the records that waited for the archive's clock, at its end.
    fn count_waiting(
        &mut self,
        summary: &mut ReplaySummary,
        err: &mut dyn Write,
    ) -> Result<(), ReplayError> {
        let at = self.clock.end();
        for w in std::mem::take(&mut self.waiting) {
            // Each item decoded once, its waiting records counted in order.
            let mut outcomes = Vec::new();
            let mut i = 0;
            let (runtime, detector, notifier) = (&self.runtime, self.detector, &self.notifier);
            let mut backtest = self.backtest.as_deref_mut();
            let _ = decode_item(&w.candidate.bytes, w.candidate.kind, &mut |o| {
                if w.nths.binary_search(&i).is_ok() {
                    if let Some(b) = backtest.as_deref_mut() {
                        b.saw(o.event_time(at));
                    }
                    outcomes.push(runtime.block_on(detector.process(notifier, &o, at)));
                }
                i += 1;
            });
            for outcome in outcomes {
                self.write(outcome?, summary, err)?;
            }
        }
        Ok(())
    }

    /// Counts what one record produced and writes its findings.
    fn write(
        &mut self,
        outcome: Outcome,
        summary: &mut ReplaySummary,
        err: &mut dyn Write,
    ) -> Result<(), ReplayError> {
        let detector = self.detector;
        for f in &outcome.failed {
            summary.failed_detections += 1;
            let _ = writeln!(err, "rule {}: {}", f.rule.name, f.error);
        }
        summary.duplicates += outcome.duplicates.len() as u64;
        summary.allowlisted += outcome.allowlisted.len() as u64;
        summary.too_late += outcome.too_late.len() as u64;
        summary.future_dated += u64::from(outcome.future_dated);
        for d in outcome.detections {
            summary.detections += 1;
            summary.folded += u64::from(d.folded);
            let notice = Notice {
                finding: &d.finding,
                rule: &d.rule,
                policy: detector.policy(),
            };
            if let Some(b) = self.backtest.as_deref_mut() {
                let delivery = if d.failed {
                    Delivery::Failed
                } else if d.folded {
                    Delivery::Folded
                } else if d.sent() {
                    Delivery::Sent
                } else {
                    Delivery::Counted
                };
                b.detection(&notice, delivery);
            }
            match self.format {
                Format::Json => writeln!(self.out, "{}", render::json(&d.finding)),
                Format::Text => {
                    write!(self.out, "{}\n{}\n", render::email(&notice), "-".repeat(72))
                }
                Format::Ocsf => writeln!(
                    self.out,
                    "{}",
                    render::ocsf_line(&render::ocsf_finding(&notice))
                ),
                Format::Asff => match &self.product {
                    // Replay stamps the group's last sighting, raised past
                    // its previous stamp: the same output at every run, and
                    // each update of a group later than the one before.
                    Some(target) => {
                        let stamp = match self.asff_stamps.get(&d.finding.group) {
                            Some(prev) if *prev >= d.finding.last_seen => {
                                Timestamp::from_millis(prev.as_millis() + 1)
                            }
                            _ => d.finding.last_seen,
                        };
                        self.asff_stamps.insert(d.finding.group.clone(), stamp);
                        writeln!(self.out, "{}", render::asff_finding(&notice, target, stamp))
                    }
                    None => return Err(ReplayError::NoProduct),
                },
            }
            .map_err(ReplayError::Output)?;
        }
        Ok(())
    }
}
