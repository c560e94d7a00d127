//! The trail bucket's path: an object named by an S3 notification,
//! streamed through the intake on a blocking thread, each record a rule
//! wants through the detector.

use super::{
    Handler, HandlerError, InvocationMetrics, MAX_OBJECT_MB, OBJECT_PIECES_IN_FLIGHT,
    set_aside_for_good,
};
use crate::domain::finding::Finding;
use crate::domain::notify::Notifier;
use crate::domain::observed::Observed;
use crate::domain::store::{BudgetStore, CounterStore};
use crate::domain::time::Timestamp;
use crate::intake::candidates::{self, Piece};
use crate::intake::s3_notification::{self, ObjectRef, TrailObject};
use std::time::Instant;

use crate::intake::failed_events::FailedEvents;
use crate::intake::objects::{ObjectError, ObjectProgress, ObjectSource};
use crate::intake::source::delivered_by;
use crate::intake::{Decoded, ItemKind, decode_document, read_item};
use crate::render::clean_line;

/// Candidates between two records of progress at most (besides the time).
const PROGRESS_CANDIDATES: u32 = 100;

impl<S, N, O, Q> Handler<S, N, O, Q>
where
    S: CounterStore + BudgetStore + ObjectProgress,
    N: Notifier,
    O: ObjectSource,
    Q: FailedEvents,
{
    /// Streams one trail object through the intake (on a blocking thread)
    /// and each record a rule wants through the detector, in order. Digest
    /// files and objects that are not CloudTrail log files are skipped, with
    /// a line in the log.
    pub(super) async fn object(
        &self,
        object: &ObjectRef,
        detections: &mut Vec<Finding>,
        metrics: &mut InvocationMetrics,
    ) -> Result<(), HandlerError> {
        match s3_notification::trail_object(&object.key) {
            TrailObject::Log => {}
            TrailObject::Digest => {
                metrics.objects_skipped += 1;
                tracing::debug!(bucket = %object.bucket, key = %object.key, "digest file skipped");
                return Ok(());
            }
            TrailObject::Other => {
                metrics.objects_skipped += 1;
                tracing::warn!(bucket = %object.bucket, key = %object.key, "not a CloudTrail log file: skipped");
                return Ok(());
            }
        }
        // An object backfilled long after its delivery is read by the time
        // its name says it was delivered (see `app::replay::clock`).
        let now = Timestamp::now();
        let received = delivered_by(&object.key).map_or(now, |d| d.min(now));
        let reader = self.objects.open(object).await?;
        let rules = self.detector.rules().clone();
        let max_bytes = self.max_object_bytes;
        let key_account = s3_notification::key_account(&object.key);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Piece>(OBJECT_PIECES_IN_FLIGHT);
        let scan = tokio::task::spawn_blocking(move || {
            let reader = StopWhenClosed {
                inner: reader,
                tx: tx.clone(),
            };
            let progress = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
            let reader = match crate::intake::source::decompressing(reader, progress) {
                Ok(r) => Capped {
                    inner: r,
                    cap: max_bytes,
                    read: 0,
                },
                Err(e) => return (candidates::Totals::default(), Err(e)),
            };
            let (totals, result) = candidates::scan(
                reader,
                Vec::new(),
                |record| rules.wants(record),
                |piece| {
                    // A closed channel: the detector stopped; the reader stops next.
                    let _ = tx.blocking_send(piece);
                },
            );
            (totals, result.map(drop))
        });
        // A record that fails for good does not stop the rest of the object:
        // the message fails at the end (it is retried, then lands in the
        // dead-letter queue), and the rest is counted once by then.
        let mut failed_for_good = None;
        // How far an earlier invocation with these rules read it: the items
        // before that position are counted, and skipped (still scanned,
        // which is fast). Positions are the items' places in the object,
        // the same on every read.
        let store = self.detector.store();
        let rules_id = &self.rules_id;
        let done_before = match store.progress(object, rules_id).await {
            Ok(done) => done,
            Err(e) => {
                // Progress only saves time: without it, the object is read whole.
                metrics.progress_failures += 1;
                tracing::warn!(bucket = %object.bucket, key = %object.key, error = %e, "the object's progress cannot be read; reading it whole");
                0
            }
        };
        let (mut done, mut unsaved, mut saved_at) = (done_before, 0u32, Instant::now());
        while let Some(piece) = rx.recv().await {
            match piece {
                Piece::Candidate(c) => {
                    if c.index < done_before {
                        metrics.candidates_skipped += 1;
                        continue;
                    }
                    let result = self
                        .candidate(&c.bytes, c.kind, received, key_account, detections, metrics)
                        .await;
                    set_aside_for_good(result, &mut failed_for_good)?;
                    // Progress never passes a record that failed for good:
                    // the retry reads it again.
                    if failed_for_good.is_none() {
                        done = c.index + 1;
                        unsaved += 1;
                    }
                    if unsaved > 0
                        && (unsaved >= PROGRESS_CANDIDATES
                            || saved_at.elapsed() >= self.progress_every)
                    {
                        self.save_progress(object, rules_id, done, metrics).await;
                        (unsaved, saved_at) = (0, Instant::now());
                    }
                }
                Piece::Bad(bad) => {
                    metrics.malformed += 1;
                    tracing::warn!(
                        bucket = %object.bucket,
                        key = %object.key,
                        line = bad.line,
                        record = bad.index,
                        error = %bad.message,
                        "a record of the object cannot be read; the rest is read"
                    );
                }
            }
        }
        let unreadable =
            |source: Box<dyn std::error::Error + Send + Sync>| ObjectError::Unreadable {
                bucket: object.bucket.clone(),
                key: object.key.clone(),
                source,
            };
        let (totals, result) = scan.await.map_err(|e| unreadable(Box::new(e)))?;
        metrics.records += totals.records;
        metrics.signin_records += totals.signin_records;
        metrics.objects_read += 1;
        result.map_err(|e| {
            if fetch_was_transient(&e) {
                // A later range failed for now: the message is retried.
                ObjectError::Unavailable {
                    bucket: object.bucket.clone(),
                    key: object.key.clone(),
                    source: Box::new(e),
                }
            } else {
                unreadable(Box::new(e))
            }
        })?;
        if unsaved > 0 {
            // A duplicate notification of the object skips it all.
            self.save_progress(object, rules_id, done, metrics).await;
        }
        failed_for_good.map_or(Ok(()), Err)
    }

    /// Records the progress through `object`; a failure costs only time
    /// (a retry reads more again), so it is logged and counted, not fatal.
    async fn save_progress(
        &self,
        object: &ObjectRef,
        rules_id: &str,
        done: u64,
        metrics: &mut InvocationMetrics,
    ) {
        if let Err(e) = self
            .detector
            .store()
            .save_progress(object, rules_id, done)
            .await
        {
            metrics.progress_failures += 1;
            tracing::warn!(bucket = %object.bucket, key = %object.key, error = %e, "the object's progress cannot be recorded; a retry reads more again");
        }
    }

    /// One candidate of an object: the records in it, through the detector
    /// (the scan counted them already).
    async fn candidate(
        &self,
        bytes: &[u8],
        kind: ItemKind,
        received: Timestamp,
        key_account: Option<&str>,
        detections: &mut Vec<Finding>,
        metrics: &mut InvocationMetrics,
    ) -> Result<(), HandlerError> {
        // The same reader as replay's: an element that is an SQS message
        // (a batch file in the bucket) is read as its body.
        match read_item(bytes, kind)? {
            Decoded::Records(records) => {
                for o in &records {
                    self.object_record(o, received, key_account, detections, metrics)
                        .await?;
                }
            }
            Decoded::Documents(docs) => {
                for text in &docs {
                    for o in &decode_document(text)? {
                        self.object_record(o, received, key_account, detections, metrics)
                            .await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// One record of a trail object. CloudTrail writes an account's records
    /// under its own prefix: a record of another account there is read,
    /// and reported.
    async fn object_record(
        &self,
        o: &Observed<'_>,
        received: Timestamp,
        key_account: Option<&str>,
        detections: &mut Vec<Finding>,
        metrics: &mut InvocationMetrics,
    ) -> Result<(), HandlerError> {
        // The account CloudTrail delivered the record for: its recipient.
        let recipient = o
            .record
            .recipient_account_id
            .as_deref()
            .map_or_else(|| o.account(), str::to_owned);
        if let Some(expected) = key_account
            && recipient != expected
        {
            metrics.foreign_account_records += 1;
            tracing::warn!(
                event_id = %o.event_id(),
                account = %clean_line(&recipient, 64),
                key_account = expected,
                "a record of another account than the object key's"
            );
        }
        self.detect(o, received, detections, metrics).await
    }
}

/// Whether a read failed because the object source could not fetch the
/// next part for now (its error travels inside an `io::Error`).
fn fetch_was_transient(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(e) = next {
        let inner = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|i| i.downcast_ref::<ObjectError>());
        if let Some(o) = inner {
            return o.is_transient();
        }
        next = e.source();
    }
    false
}

/// A decompressed object's reader that fails past `cap` bytes: a gzip
/// bomb, or an object that is no CloudTrail log file, stops there.
struct Capped<R> {
    inner: R,
    cap: u64,
    read: u64,
}

impl<R: std::io::Read> std::io::Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read = self.read.saturating_add(n as u64);
        if self.read > self.cap {
            return Err(std::io::Error::other(format!(
                "larger than {} bytes decompressed: not read further ({MAX_OBJECT_MB})",
                self.cap
            )));
        }
        Ok(n)
    }
}

/// An object's reader that fails once the detector has stopped listening,
/// so that a failed invocation does not read the rest of a large object.
struct StopWhenClosed<R> {
    inner: R,
    tx: tokio::sync::mpsc::Sender<Piece>,
}

impl<R: std::io::Read> std::io::Read for StopWhenClosed<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.tx.is_closed() {
            return Err(std::io::Error::other("the invocation stopped"));
        }
        self.inner.read(buf)
    }
}
