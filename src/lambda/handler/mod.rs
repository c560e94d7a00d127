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

use aws_lambda_events::sqs::SqsBatchResponse;
use serde::Serialize;

use crate::app::detector::{Detector, Outcome};
use crate::domain::finding::Finding;
use crate::domain::notify::Notifier;
use crate::domain::observed::Observed;
use crate::domain::store::{BudgetStore, CounterStore};
use crate::domain::time::Timestamp;
use crate::intake::envelopes;
use crate::intake::failed_events::{FailedEvents, NoQueues};
use crate::intake::objects::{NoObjects, ObjectProgress, ObjectSource};
use crate::intake::{DecodeError, Decoded, decode_document};
use crate::lambda::config::{DEFAULT_MAX_OBJECT_MB, MAX_OBJECT_MB};
use crate::render::clean_line;

use super::metrics::{InvocationMetrics, RuleCounts};
use payload::{IN_STRINGS, Payload, classify};

mod batch;
mod error;
mod object;
mod payload;
mod sweep;
pub use error::HandlerError;
pub use sweep::{MAX_REDRIVEN, RedriveSummary};

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
    pub redriven: Vec<RedriveSummary>,
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

pub struct Handler<S, N, O = NoObjects, Q = NoQueues> {
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
    /// The queues of failed events the sweep redrives.
    redrive_queues: Vec<Q>,
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

/// A record read from an invocation's payload, counted.
fn count(o: &Observed<'_>, metrics: &mut InvocationMetrics) {
    metrics.records += 1;
    if o.record.is_from_signin() {
        metrics.signin_records += 1;
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
            redrive_queues: Vec::new(),
        }
    }
}

impl<S, N, O, Q> Handler<S, N, O, Q> {
    /// The same handler with its objects and queues replaced by `parts`.
    fn rebuilt<P, R>(self, parts: impl FnOnce(O, Vec<Q>) -> (P, Vec<R>)) -> Handler<S, N, P, R> {
        let (objects, redrive_queues) = parts(self.objects, self.redrive_queues);
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
            redrive_queues,
        }
    }

    /// With the trail bucket's objects read through `objects`.
    pub fn with_objects<P>(self, objects: P) -> Handler<S, N, P, Q> {
        self.rebuilt(|_, queues| (objects, queues))
    }

    /// With `queues` of failed events redriven by every sweep.
    pub fn with_redrive_queues<R>(self, queues: Vec<R>) -> Handler<S, N, O, R> {
        self.rebuilt(|objects, _| (objects, queues))
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

impl<S, N, O, Q> Handler<S, N, O, Q>
where
    S: CounterStore + BudgetStore + ObjectProgress,
    N: Notifier,
    O: ObjectSource,
    Q: FailedEvents,
{
    /// Handles one invocation's payload, with no deadline (tests, replay).
    pub async fn handle(
        &self,
        payload: &[u8],
    ) -> (Result<InvocationSummary, HandlerError>, InvocationMetrics) {
        self.handle_by(payload, None).await
    }

    /// Handles one invocation's payload before `deadline`: an SQS batch
    /// hands back the messages it has no time left for (see [`batch`]), the
    /// sweep's redrive takes no message once only the reserve is left.
    pub async fn handle_by(
        &self,
        payload: &[u8],
        deadline: Option<Instant>,
    ) -> (Result<InvocationSummary, HandlerError>, InvocationMetrics) {
        let mut detections = Vec::new();
        let mut metrics = InvocationMetrics::default();
        let (mut batch, mut redriven) = (None, Vec::new());
        let result = match self.classified(payload, &mut metrics) {
            Err(e) => Err(e),
            Ok(Payload::Scheduled) => {
                let (digests, queues) = self.sweep(deadline, &mut metrics).await;
                redriven = queues;
                digests
            }
            Ok(Payload::Batch(event)) => self
                .batch(event, deadline, &mut detections, &mut metrics)
                .await
                .map(|response| batch = Some(response)),
            Ok(other) => self.payload(other, &mut detections, &mut metrics).await,
        };
        let result = result.map(|()| InvocationSummary {
            redriven,
            ..InvocationSummary::new(&metrics, detections, batch)
        });
        (result, metrics)
    }

    /// One event read back from a queue of failed events (see
    /// [`redrive`](Self::redrive)): handled as the function handles a
    /// message's body, never as a batch or a sweep.
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

    /// [`classify`], with a malformed payload counted.
    fn classified<'b>(
        &self,
        bytes: &'b [u8],
        metrics: &mut InvocationMetrics,
    ) -> Result<Payload<'b>, HandlerError> {
        classify(bytes).inspect_err(|_| metrics.malformed += 1)
    }

    /// An SQS message's body, or an event read back from a queue of failed
    /// events.
    async fn event(
        &self,
        bytes: &[u8],
        detections: &mut Vec<Finding>,
        metrics: &mut InvocationMetrics,
    ) -> Result<(), HandlerError> {
        let payload = self.classified(bytes, metrics)?;
        self.payload(payload, detections, metrics).await
    }

    /// A payload that is no batch to answer and no sweep to run; a wrapper's
    /// payloads are read as if delivered directly.
    async fn payload(
        &self,
        payload: Payload<'_>,
        detections: &mut Vec<Finding>,
        metrics: &mut InvocationMetrics,
    ) -> Result<(), HandlerError> {
        let Payload::Wrapped(inner) = payload else {
            return self.unwrapped(payload, detections, metrics).await;
        };
        for bytes in &inner {
            let payload = self.classified(bytes, metrics)?;
            self.unwrapped(payload, detections, metrics).await?;
        }
        Ok(())
    }

    async fn unwrapped(
        &self,
        payload: Payload<'_>,
        detections: &mut Vec<Finding>,
        metrics: &mut InvocationMetrics,
    ) -> Result<(), HandlerError> {
        match payload {
            // A sweep's event here comes from a queue of failed events or a
            // failure destination's record (a sweep that failed every
            // retry), read back by a later sweep, which is doing that work
            // now: acknowledged.
            Payload::Scheduled => Ok(()),
            // An SQS batch inside another payload: records held in strings.
            Payload::Batch(event) => {
                // A message without a body is read whole, as decode reads it.
                let bodies = event.records.into_iter().map(|m| match m.body {
                    Some(body) => body,
                    None => serde_json::to_string(&m).unwrap_or_default(),
                });
                let bodies = bodies.collect();
                self.unvouched(IN_STRINGS, Decoded::Documents(bodies), detections, metrics)
                    .await
            }
            // What a wrapper holds is unwrapped to the innermost already.
            Payload::Wrapped(_) => Err(DecodeError::TooDeep(envelopes::MAX_WRAPPERS).into()),
            Payload::Objects(objects) => {
                for object in &objects {
                    self.object(object, detections, metrics).await?;
                }
                Ok(())
            }
            Payload::Event { observed, genuine } => {
                count(&observed, metrics);
                if genuine || self.accept_any_shape {
                    return self
                        .detect(&observed, Timestamp::now(), detections, metrics)
                        .await;
                }
                if observed.record.is_from_signin() {
                    // Only AWS writes `aws.signin`; any other source can be anyone's.
                    metrics.untrusted += 1;
                    tracing::warn!(
                        source = observed.envelope.as_ref().and_then(|e| e.source.as_deref()).unwrap_or_default(),
                        event_id = %observed.event_id(),
                        "a sign-in record in an event whose source is not aws.signin: not read"
                    );
                }
                Ok(())
            }
            Payload::Unvouched { shape, decoded } => {
                self.unvouched(shape, decoded, detections, metrics).await
            }
        }
    }

    /// Records AWS did not vouch for: read only when the operator says so.
    /// A record that fails for good does not stop the others.
    async fn unvouched(
        &self,
        shape: &'static str,
        decoded: Decoded<'_>,
        detections: &mut Vec<Finding>,
        metrics: &mut InvocationMetrics,
    ) -> Result<(), HandlerError> {
        if !self.accept_any_shape {
            metrics.untrusted += 1;
            return Err(HandlerError::Untrusted { shape });
        }
        let mut failed_for_good = None;
        match decoded {
            Decoded::Records(records) => {
                self.detect_each(&records, &mut failed_for_good, detections, metrics)
                    .await?;
            }
            Decoded::Documents(documents) => {
                for text in &documents {
                    let records = decode_document(text).inspect_err(|_| metrics.malformed += 1)?;
                    self.detect_each(&records, &mut failed_for_good, detections, metrics)
                        .await?;
                }
            }
        }
        failed_for_good.map_or(Ok(()), Err)
    }

    /// Records of an invocation's payload, each counted and through the
    /// detector; the first that fails for good is kept in `failed`.
    async fn detect_each(
        &self,
        records: &[Observed<'_>],
        failed: &mut Option<HandlerError>,
        detections: &mut Vec<Finding>,
        metrics: &mut InvocationMetrics,
    ) -> Result<(), HandlerError> {
        for o in records {
            count(o, metrics);
            let result = self.detect(o, Timestamp::now(), detections, metrics).await;
            set_aside_for_good(result, failed)?;
        }
        Ok(())
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
