//! The function's handler: an adapter from Lambda payloads to the detector.
//!
//! Input: one EventBridge event per invocation (the record its `detail`), or
//! an SQS batch whose bodies are EventBridge events; the trail bucket's
//! notifications (S3 event notifications through SQS, or EventBridge's
//! "Object Created"), whose objects are streamed through the same intake as
//! replay's; each unwrapped first when a failure destination's record or an
//! SNS notification holds it. Only what AWS wrote is read
//! ([`envelopes`](crate::intake::envelopes)); bare records and log files
//! given inline only when the operator says so (local tests).
//!
//! Errors: a malformed event fails the invocation with a message that says
//! what is wrong (so it lands in the failure destination: nothing lost); a
//! transient AWS error fails it too (Lambda retries; the event then counts
//! once and any owed notification is sent); an event that is not a sign-in
//! is a no-op. In an SQS batch each message succeeds or fails on its own
//! (`batchItemFailures`); a batch whose every message failed fails.

use std::time::{Duration, Instant};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use serde::Serialize;

use crate::app::detector::{Detector, Outcome};
use crate::domain::finding::Finding;
use crate::domain::notify::Notifier;
use crate::domain::observed::Observed;
use crate::domain::store::{BudgetStore, CounterStore};
use crate::domain::time::Timestamp;
use crate::intake::envelopes;
use crate::intake::objects::{NoObjects, ObjectProgress, ObjectSource};
use crate::intake::s3_notification;
use crate::intake::{Decoded, decode, decode_document};
use crate::lambda::config::{DEFAULT_MAX_OBJECT_MB, MAX_OBJECT_MB};
use crate::render::clean_line;

use super::metrics::{InvocationMetrics, RuleCounts};

mod batch;
mod error;
mod object;
pub use error::HandlerError;

/// What an invocation did; returned to the caller (`cargo lambda invoke`
/// shows it) and summarised in the logs.
#[derive(Debug, Default, Serialize)]
pub struct InvocationSummary {
    pub records: u64,
    pub signin_records: u64,
    /// Correlation groups the records fed.
    pub correlations_fed: u64,
    /// The counted detections, as `replay` prints them: the first
    /// [`LISTED_DETECTIONS`], so that the reply stays far below Lambda's 6 MB
    /// response limit (a larger reply fails the whole invocation).
    pub detections: Vec<Finding>,
    /// Counted detections past the first [`LISTED_DETECTIONS`]: in the
    /// metrics and the logs, not in this reply.
    #[serde(skip_serializing_if = "is_zero")]
    pub detections_not_listed: u64,
    pub published: u64,
    pub suppressed: u64,
    pub duplicates: u64,
    pub allowlisted: u64,
    /// For the scheduled sweep: digests of folded notifications sent.
    #[serde(skip_serializing_if = "is_zero")]
    pub digests_sent: u64,
    /// For the scheduled sweep: what each queue of failed events redrove.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub redriven: Vec<crate::lambda::redrive::RedriveSummary>,
    /// For SQS batches only: `batchItemFailures`, the messages to retry.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub batch: Option<SqsBatchResponse>,
}

impl InvocationSummary {
    /// The summary of an invocation: its detections, with the counts taken
    /// from the metrics it emits, so the two always agree.
    fn new(
        metrics: &InvocationMetrics,
        detections: Vec<Finding>,
        batch: Option<SqsBatchResponse>,
    ) -> Self {
        let total = |f: fn(&RuleCounts) -> u64| metrics.rules.values().map(f).sum();
        let counted: u64 = total(|c| c.detections);
        InvocationSummary {
            detections_not_listed: counted.saturating_sub(detections.len() as u64),
            records: metrics.records,
            signin_records: metrics.signin_records,
            correlations_fed: metrics.correlations_fed,
            detections,
            published: total(|c| c.published),
            suppressed: total(|c| c.suppressed),
            duplicates: total(|c| c.duplicates),
            allowlisted: total(|c| c.allowlisted),
            digests_sent: metrics.digests_sent,
            redriven: Vec::new(),
            batch,
        }
    }

    /// The message ids an SQS batch response asks to retry.
    pub fn failed_messages(&self) -> Vec<&str> {
        self.batch
            .iter()
            .flat_map(|b| &b.batch_item_failures)
            .map(|f| f.item_identifier.as_str())
            .collect()
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Detections an invocation's reply lists (a finding is about 1 KB of JSON).
pub const LISTED_DETECTIONS: usize = 1000;

/// The payload as an SQS event, when every record in it is an SQS message.
fn sqs_event(payload: &[u8]) -> Option<SqsEvent> {
    let event: SqsEvent = serde_json::from_slice(payload).ok()?;
    let all_sqs = !event.records.is_empty()
        && event
            .records
            .iter()
            .all(|m| m.event_source.as_deref() == Some("aws:sqs") && m.message_id.is_some());
    all_sqs.then_some(event)
}

pub struct Handler<S, N, O = NoObjects> {
    detector: Detector<S>,
    notifier: N,
    objects: O,
    /// Reads bare records, log files and custom events too (local tests).
    accept_any_shape: bool,
    /// The trail bucket's queue: its messages are read as S3 notifications only.
    trail_queue_arn: Option<String>,
    /// Time kept back before the invocation's deadline (see [`batch`]).
    deadline_reserve: Duration,
    /// The most bytes a trail object may hold decompressed.
    max_object_bytes: u64,
    /// How often the progress through an object is recorded: what an
    /// invocation stopped at its deadline reads again at most.
    progress_every: Duration,
    /// The rule set's fingerprint, which progress is kept under (the rules
    /// do not change while the function runs).
    rules_id: String,
}

/// `work`, stopped after `left` when it is given: `None` when stopped. What
/// it counted stays counted; its retry counts nothing twice.
pub(crate) async fn within<F: std::future::Future>(
    left: Option<Duration>,
    work: F,
) -> Option<F::Output> {
    match left {
        Some(left) => tokio::time::timeout(left, work).await.ok(),
        None => Some(work.await),
    }
}

/// One item of an event or object handled: a transient error stops the rest
/// (the whole is retried); the first error for good is kept in `first` and
/// the rest goes on, so that one bad record never stops the others.
fn set_aside_for_good(
    result: Result<(), HandlerError>,
    first: &mut Option<HandlerError>,
) -> Result<(), HandlerError> {
    match result {
        Err(e) if !e.is_transient() => {
            first.get_or_insert(e);
            Ok(())
        }
        other => other,
    }
}

/// How often the progress through a trail object is recorded, by default.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// Pieces of an object in flight between the blocking scan and the detector.
const OBJECT_PIECES_IN_FLIGHT: usize = 64;

impl<S: CounterStore + BudgetStore, N> Handler<S, N> {
    pub fn new(detector: Detector<S>, notifier: N) -> Self {
        Handler {
            rules_id: detector.rules().fingerprint(),
            detector,
            notifier,
            objects: NoObjects,
            accept_any_shape: false,
            trail_queue_arn: None,
            deadline_reserve: batch::DEADLINE_RESERVE,
            max_object_bytes: DEFAULT_MAX_OBJECT_MB << 20,
            progress_every: PROGRESS_EVERY,
        }
    }
}

impl<S, N, O> Handler<S, N, O> {
    /// With the trail bucket's objects read through `objects`.
    pub fn with_objects<P>(self, objects: P) -> Handler<S, N, P> {
        Handler {
            detector: self.detector,
            notifier: self.notifier,
            objects,
            accept_any_shape: self.accept_any_shape,
            trail_queue_arn: self.trail_queue_arn,
            deadline_reserve: self.deadline_reserve,
            max_object_bytes: self.max_object_bytes,
            progress_every: self.progress_every,
            rules_id: self.rules_id,
        }
    }

    /// With the progress through an object recorded every `every`.
    pub fn with_progress_every(mut self, every: Duration) -> Self {
        self.progress_every = every;
        self
    }

    /// With trail objects read up to `bytes` decompressed (past it, the
    /// object is unreadable: its message fails, for good).
    pub fn with_max_object_bytes(mut self, bytes: u64) -> Self {
        self.max_object_bytes = bytes;
        self
    }

    /// With the trail bucket's queue: a message from it that is not an S3
    /// notification is not read (`SIGNIN_WATCH_TRAIL_QUEUE_ARN`).
    pub fn with_trail_queue(mut self, arn: Option<String>) -> Self {
        self.trail_queue_arn = arn.filter(|a| !a.is_empty());
        self
    }

    /// The time left before `deadline`, less the reserve: `None` without a
    /// deadline (unbounded), zero when only the reserve is left.
    pub(crate) fn time_left(&self, deadline: Option<Instant>) -> Option<Duration> {
        deadline.map(|d| {
            d.saturating_duration_since(Instant::now())
                .saturating_sub(self.deadline_reserve)
        })
    }

    /// With `reserve` kept back before each invocation's deadline.
    pub fn with_deadline_reserve(mut self, reserve: Duration) -> Self {
        self.deadline_reserve = reserve;
        self
    }

    /// Whether to read what AWS did not write: bare CloudTrail records, log
    /// files given inline, lookup-events output, events of other sources
    /// (`SIGNIN_WATCH_ACCEPT_ANY_SHAPE`, set by `make local`).
    pub fn accepting_any_shape(mut self, accept: bool) -> Self {
        self.accept_any_shape = accept;
        self
    }
}

impl<S: CounterStore + BudgetStore + ObjectProgress, N: Notifier, O: ObjectSource>
    Handler<S, N, O>
{
    /// Handles one invocation's payload, with no deadline (tests, replay).
    pub async fn handle(
        &self,
        payload: &[u8],
    ) -> (Result<InvocationSummary, HandlerError>, InvocationMetrics) {
        self.handle_by(payload, None).await
    }

    /// Handles one invocation's payload before `deadline`: an SQS batch
    /// hands back the messages it has no time left for (see [`batch`]).
    pub async fn handle_by(
        &self,
        payload: &[u8],
        deadline: Option<Instant>,
    ) -> (Result<InvocationSummary, HandlerError>, InvocationMetrics) {
        let mut detections = Vec::new();
        let mut metrics = InvocationMetrics::default();
        let mut batch = None;
        if envelopes::is_scheduled_event(payload) {
            let result = self.sweep(&mut metrics).await;
            let result = result.map(|()| InvocationSummary::new(&metrics, detections, None));
            return (result, metrics);
        }
        let result = match sqs_event(payload) {
            Some(event) => self
                .batch(event, deadline, &mut detections, &mut metrics)
                .await
                .map(|response| batch = Some(response)),
            None => self.event(payload, &mut detections, &mut metrics).await,
        };
        let result = result.map(|()| InvocationSummary::new(&metrics, detections, batch));
        (result, metrics)
    }

    /// One event read back from a queue of failed events (see
    /// [`redrive`](crate::lambda::redrive)): unwrapped and handled as the
    /// function handles it, never as a batch or a sweep.
    pub async fn redelivered(
        &self,
        body: &[u8],
    ) -> (Result<InvocationSummary, HandlerError>, InvocationMetrics) {
        let mut detections = Vec::new();
        let mut metrics = InvocationMetrics::default();
        let result = self.event(body, &mut detections, &mut metrics).await;
        let result = result.map(|()| InvocationSummary::new(&metrics, detections, None));
        (result, metrics)
    }

    /// The scheduled sweep: sends every digest owed (rule-account-hours due
    /// whose folded notifications no digest listed yet); one that fails
    /// stays owed and the others go on.
    async fn sweep(&self, metrics: &mut InvocationMetrics) -> Result<(), HandlerError> {
        let done = self
            .detector
            .send_digests(&self.notifier, Timestamp::now())
            .await?;
        metrics.digests_sent += done.sent as u64;
        metrics.digests_failed += done.failed as u64;
        tracing::info!(
            digests_sent = done.sent,
            digests_failed = done.failed,
            "sweep"
        );
        Ok(())
    }

    /// One event: unwrapped from a failure destination's record or an SNS
    /// notification when wrapped, then read.
    async fn event(
        &self,
        bytes: &[u8],
        detections: &mut Vec<Finding>,
        metrics: &mut InvocationMetrics,
    ) -> Result<(), HandlerError> {
        let payloads = envelopes::unwrap(bytes).inspect_err(|_| metrics.malformed += 1)?;
        for payload in &payloads {
            self.payload(payload, detections, metrics).await?;
        }
        Ok(())
    }

    async fn payload(
        &self,
        bytes: &[u8],
        detections: &mut Vec<Finding>,
        metrics: &mut InvocationMetrics,
    ) -> Result<(), HandlerError> {
        // A sweep's event reaches here only inside a failure destination's
        // record (a sweep that failed every retry), read back by a later
        // sweep, which is doing that work now: acknowledged.
        if envelopes::is_scheduled_event(bytes) {
            return Ok(());
        }
        if let Some(objects) = s3_notification::objects(bytes) {
            let objects = objects.inspect_err(|_| metrics.malformed += 1)?;
            for object in &objects {
                self.object(object, detections, metrics).await?;
            }
            return Ok(());
        }
        let decoded = match decode(bytes) {
            Ok(d) => d,
            Err(e) => {
                metrics.malformed += 1;
                return Err(e.into());
            }
        };
        let untrusted = |shape: &'static str, metrics: &mut InvocationMetrics| {
            metrics.untrusted += 1;
            Err(HandlerError::Untrusted { shape })
        };
        match decoded {
            Decoded::Records(records) => {
                if let Some(shape) = envelopes::untrusted_shape(&records)
                    && !self.accept_any_shape
                {
                    return untrusted(shape, metrics);
                }
                let mut failed_for_good = None;
                for o in &records {
                    let result = self.record(o, detections, metrics).await;
                    set_aside_for_good(result, &mut failed_for_good)?;
                }
                if let Some(e) = failed_for_good {
                    return Err(e);
                }
            }
            Decoded::Documents(_) if !self.accept_any_shape => {
                return untrusted("records held in strings (lookup-events output)", metrics);
            }
            Decoded::Documents(docs) => {
                for text in &docs {
                    let records = decode_document(text).inspect_err(|_| metrics.malformed += 1)?;
                    for o in &records {
                        self.record(o, detections, metrics).await?;
                    }
                }
            }
        }
        Ok(())
    }

    async fn record(
        &self,
        o: &Observed<'_>,
        detections: &mut Vec<Finding>,
        metrics: &mut InvocationMetrics,
    ) -> Result<(), HandlerError> {
        metrics.records += 1;
        if o.record.is_from_signin() {
            metrics.signin_records += 1;
        }
        if o.envelope.is_some() && !self.accept_any_shape && !envelopes::is_genuine_signin(o) {
            if o.record.is_from_signin() {
                // Only AWS writes `aws.signin`; any other source can be anyone's.
                metrics.untrusted += 1;
                tracing::warn!(
                    source = o.envelope.as_ref().and_then(|e| e.source.as_deref()).unwrap_or_default(),
                    event_id = %o.event_id(),
                    "a sign-in record in an event whose source is not aws.signin: not read"
                );
            }
            return Ok(());
        }
        self.detect(o, Timestamp::now(), detections, metrics).await
    }

    /// One record through the detector, as received at `received`.
    async fn detect(
        &self,
        o: &Observed<'_>,
        received: Timestamp,
        detections: &mut Vec<Finding>,
        metrics: &mut InvocationMetrics,
    ) -> Result<(), HandlerError> {
        if let Some(stated) = o.unreadable_time() {
            metrics.unreadable_times += 1;
            tracing::warn!(
                event_id = %o.event_id(),
                event_time = %clean_line(stated, 64),
                "the record's eventTime cannot be read: counted at the time of receipt"
            );
        }
        let outcome: Outcome = self.detector.process(&self.notifier, o, received).await?;
        metrics.correlations_fed += outcome.fed as u64;
        for f in &outcome.failed {
            metrics.failed_detections += 1;
            tracing::error!(
                rule = %f.rule.name,
                event_id = %o.event_id(),
                error_type = error::process_error_type(&f.error),
                error = %f.error,
                "a detection failed for good; the record's other detections went on"
            );
        }
        let failed_for_good = outcome.failed.into_iter().next();
        if outcome.future_dated {
            metrics.future_dated += 1;
            tracing::warn!(event_id = %o.event_id(), event_time = o.record.event_time.as_deref().unwrap_or_default(), "dated in the future: counted at the time of receipt");
        }
        for rule in &outcome.too_late {
            metrics.too_late += 1;
            tracing::warn!(rule = %rule.name, event_id = %o.event_id(), "older than the correlation group's lateness horizon: not counted");
        }
        for rule in &outcome.duplicates {
            metrics.rule(&rule.name).duplicates += 1;
        }
        for (rule, hit) in &outcome.allowlisted {
            metrics.rule(&rule.name).allowlisted += 1;
            tracing::info!(rule = %rule.name, allowlisted_by = %hit, "match let pass by an allowlist");
        }
        for d in outcome.detections {
            let counts = metrics.rule(&d.rule.name);
            counts.detections += 1;
            if d.sent() {
                counts.published += 1;
            } else if d.folded {
                counts.folded += 1;
            } else {
                counts.suppressed += 1;
            }
            tracing::info!(
                rule = %d.rule.name,
                kind = d.finding.kind,
                finding_id = %d.finding.finding_id,
                user = %d.finding.user,
                src = %d.finding.src,
                count = d.finding.count,
                notify = d.notify(),
                folded = d.folded,
                redelivered = d.redelivered,
                "detection"
            );
            if detections.len() < LISTED_DETECTIONS {
                detections.push(d.finding);
            }
        }
        // The event fails with the first, named: it lands in the failure
        // destination (nothing lost), and its retries count nothing twice.
        failed_for_good.map_or(Ok(()), |f| Err(f.error.into()))
    }
}

#[cfg(test)]
mod tests;
