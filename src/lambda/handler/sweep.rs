//! The scheduled sweep: the digests owed, then the redrive.
//!
//! Redrive: the events whose retries ran out (Lambda's failure destination,
//! EventBridge's dead-letter queue) read back from their queue and handled
//! again, as a redelivery: each eventID still counts once, and a
//! notification left owed is sent now. The sweep redrives the queues the
//! handler was given (the template's two); `signin-watch redrive QUEUE_URL`
//! one by hand.
//!
//! A message is deleted only once handled; one that fails again stays on
//! its queue (visible again after its visibility timeout), for the next
//! sweep, and the queue's alarm keeps telling the operator.

use std::time::Instant;

use serde::Serialize;

use super::{Handler, HandlerError, InvocationMetrics, within};
use crate::domain::notify::Notifier;
use crate::domain::store::{BudgetStore, CounterStore};
use crate::domain::time::Timestamp;
use crate::intake::failed_events::{FailedEvents, QueueError};
use crate::intake::objects::{ObjectProgress, ObjectSource};

/// What a redrive did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RedriveSummary {
    /// Messages handled and deleted.
    pub redriven: u64,
    /// Messages that failed again and stay on the queue.
    pub failed: u64,
    /// Detections the redriven events counted for the first time.
    pub detections: u64,
    /// Notifications sent (owed ones, and those of first-time detections).
    pub published: u64,
}

/// Messages one redrive reads at most, so that a sweep ends well inside the
/// function's timeout; the next sweep goes on.
pub const MAX_REDRIVEN: usize = 200;

impl<S, N, O, Q> Handler<S, N, O, Q>
where
    S: CounterStore + BudgetStore + ObjectProgress,
    N: Notifier,
    O: ObjectSource,
    Q: FailedEvents,
{
    /// The sweep: sends every digest owed (rule-account-hours due whose
    /// folded notifications no digest listed yet; one that fails stays
    /// owed and the others go on), then redrives each queue of failed
    /// events, whatever the digests did. A queue that cannot be read now is
    /// read by the next sweep.
    pub(super) async fn sweep(
        &self,
        deadline: Option<Instant>,
        metrics: &mut InvocationMetrics,
    ) -> (Result<(), HandlerError>, Vec<RedriveSummary>) {
        let digests = self
            .detector
            .send_digests(&self.notifier, Timestamp::now())
            .await;
        if let Ok(done) = &digests {
            metrics.digests_sent += done.sent as u64;
            metrics.digests_failed += done.failed as u64;
            tracing::info!(
                digests_sent = done.sent,
                digests_failed = done.failed,
                "sweep"
            );
        }
        let mut redriven = Vec::new();
        for queue in &self.redrive_queues {
            match self.redrive_by(queue, MAX_REDRIVEN, deadline).await {
                Ok(r) => redriven.push(r),
                Err(e) => tracing::error!(error = %e, "redrive failed"),
            }
        }
        (digests.map(drop).map_err(HandlerError::from), redriven)
    }

    /// Handles what `queue` holds, up to `max` messages (each received once
    /// in this redrive: a message that fails again is not read twice).
    pub async fn redrive<R: FailedEvents>(
        &self,
        queue: &R,
        max: usize,
    ) -> Result<RedriveSummary, QueueError> {
        self.redrive_by(queue, max, None).await
    }

    /// [`redrive`](Self::redrive), taking no message once only the handler's
    /// deadline reserve is left before `deadline` (the next sweep goes on).
    pub async fn redrive_by<R: FailedEvents>(
        &self,
        queue: &R,
        max: usize,
        deadline: Option<Instant>,
    ) -> Result<RedriveSummary, QueueError> {
        let mut summary = RedriveSummary::default();
        let mut seen = std::collections::HashSet::new();
        // What is left before the reserve (unbounded without a deadline).
        let left = || self.time_left(deadline);
        let time_left = || left() != Some(std::time::Duration::ZERO);
        while seen.len() < max && time_left() {
            let batch = queue.receive().await?;
            let fresh: Vec<_> = batch
                .into_iter()
                .filter(|m| seen.insert(m.message_id.clone()))
                .collect();
            if fresh.is_empty() {
                break;
            }
            for m in fresh {
                if !time_left() {
                    break;
                }
                // A message still running at the reserve is stopped: it stays
                // on its queue, and what it counted stays counted.
                let Some((result, _)) = within(left(), self.redelivered(m.body.as_bytes())).await
                else {
                    summary.failed += 1;
                    tracing::warn!(queue = queue.name(), message_id = %m.message_id, "the deadline came first; it stays on the queue");
                    break;
                };
                match result {
                    Ok(s) => {
                        queue.delete(&m).await?;
                        summary.redriven += 1;
                        summary.detections += s.detections.len() as u64 + s.detections_not_listed;
                        summary.published += s.published;
                    }
                    Err(e) => {
                        summary.failed += 1;
                        tracing::error!(queue = queue.name(), message_id = %m.message_id, error_type = e.error_type(), error = %e, "redriven event failed again; it stays on the queue");
                    }
                }
            }
        }
        tracing::info!(
            queue = queue.name(),
            redriven = summary.redriven,
            failed = summary.failed,
            "redrive"
        );
        Ok(summary)
    }
}
