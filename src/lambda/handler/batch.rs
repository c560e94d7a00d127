//! An SQS batch: each message handled on its own, answered with
//! `batchItemFailures` so that only the failed ones are retried, and within
//! the invocation's deadline.
//!
//! A trail object can be too large to read in one invocation (anyone who
//! knows an account ID can flood it with failed sign-ins). Without a
//! deadline it timed the whole batch out, and after five receives the
//! healthy objects of other accounts landed in the dead-letter queue with
//! it. So the messages are handled smallest object first, each with its
//! share of the time left (what one does not use goes to the next), no
//! message is started with less than the reserve left, and one still
//! running at the end of its share is stopped: each is handed back in
//! `batchItemFailures`, never lost to a timeout. What a stopped message had
//! counted stays counted (each eventID once), the bucket path records how
//! far it read, and its retry goes on from there.

use std::time::{Duration, Instant};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};

use super::payload::{Payload, classify};
use super::{Handler, HandlerError, InvocationMetrics, within};
use crate::domain::finding::Finding;
use crate::domain::notify::Notifier;
use crate::domain::store::{BudgetStore, CounterStore};
use crate::intake::failed_events::FailedEvents;
use crate::intake::objects::{ObjectProgress, ObjectSource};

/// Time kept back before the invocation's deadline: the reply, the metrics
/// and the runtime's own work fit in it, and a DynamoDB or SNS call started
/// just before it still ends inside the function's timeout (each is bounded
/// at 5 s by `SIGNIN_WATCH_AWS_TIMEOUT_MS`).
pub const DEADLINE_RESERVE: Duration = Duration::from_secs(10);

/// The bytes of the objects a message's payload names (0 for any other
/// payload): the batch is handled smallest first.
fn object_bytes(payload: &Result<Payload<'_>, HandlerError>) -> u64 {
    match payload {
        Ok(Payload::Objects(objects)) => objects.iter().filter_map(|o| o.size).sum(),
        _ => 0,
    }
}

impl<S, N, O, Q> Handler<S, N, O, Q>
where
    S: CounterStore + BudgetStore + ObjectProgress,
    N: Notifier,
    O: ObjectSource,
    Q: FailedEvents,
{
    pub(super) async fn batch(
        &self,
        event: SqsEvent,
        deadline: Option<Instant>,
        detections: &mut Vec<Finding>,
        metrics: &mut InvocationMetrics,
    ) -> Result<SqsBatchResponse, HandlerError> {
        let mut response = SqsBatchResponse::default();
        let mut first_error = None;
        let messages = event.records.len();
        // Each message's body classified once, then handled smallest object
        // first.
        let mut payloads: Vec<_> = event
            .records
            .iter()
            .map(|m| Some(classify(m.body.as_deref().unwrap_or_default().as_bytes())))
            .collect();
        let mut order: Vec<usize> = (0..messages).collect();
        order.sort_by_key(|&n| payloads[n].as_ref().map_or(0, object_bytes));
        for (i, n) in order.into_iter().enumerate() {
            let (m, Some(payload)) = (&event.records[n], payloads[n].take()) else {
                continue;
            };
            let id = m.message_id.clone().unwrap_or_default();
            // Each message gets its share of what is left; what one does not
            // use goes to the next. A dense object stopped at its share keeps
            // its progress (the bucket path records it) and is handed back.
            let remaining = u32::try_from(messages - i).unwrap_or(u32::MAX).max(1);
            let share = self.time_left(deadline).map(|left| left / remaining);
            if share == Some(Duration::ZERO) {
                metrics.handed_back += 1;
                tracing::warn!(message_id = %id, "too little time left: handed back, not started");
                response.add_failure(id);
                continue;
            }
            let handled = self.message(m, payload, detections, metrics);
            let Some(result) = within(share, handled).await else {
                metrics.handed_back += 1;
                tracing::warn!(message_id = %id, "the deadline came first: handed back; what it counted stays counted");
                response.add_failure(id);
                continue;
            };
            if let Err(e) = result {
                tracing::error!(message_id = %id, error_type = e.error_type(), error = %e, "SQS message failed; it stays on the queue");
                response.add_failure(id);
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            // Every message failed: the invocation fails, so that the
            // mapping backs off and the error shows as one.
            Some(e) if response.batch_item_failures.len() == messages => Err(e),
            _ => Ok(response),
        }
    }

    /// One message: from the trail bucket's queue, an S3 notification
    /// only (its queue policy admits only S3 and the backfill's principals);
    /// from any other queue, an event as the function reads it.
    async fn message(
        &self,
        m: &SqsMessage,
        payload: Result<Payload<'_>, HandlerError>,
        detections: &mut Vec<Finding>,
        metrics: &mut InvocationMetrics,
    ) -> Result<(), HandlerError> {
        let from_trail_queue = self.trail_queue_arn.is_some()
            && m.event_source_arn.as_deref() == self.trail_queue_arn.as_deref();
        let notification = matches!(
            payload,
            Ok(Payload::Objects(_)) | Err(HandlerError::Notification(_))
        );
        if from_trail_queue && !notification {
            metrics.untrusted += 1;
            tracing::warn!(
                message_id = m.message_id.as_deref().unwrap_or_default(),
                "a message on the trail queue that is not an S3 notification: not read"
            );
            return Ok(());
        }
        let payload = payload.inspect_err(|_| metrics.malformed += 1)?;
        self.payload(payload, detections, metrics).await
    }
}
