//! The notification port: where findings that the policy says are worth a
//! message go (SNS in the function; replay counts them).

use std::future::Future;

use super::counter::NotifyPolicy;
use super::finding::Finding;
use super::rules::RuleMeta;

/// A finding to send, with what a message about it needs: the rule that
/// made it (investigation steps, false positives, tuning) and the policy
/// that decided it notifies (to say why).
#[derive(Debug, Clone, Copy)]
pub struct Notice<'a> {
    pub finding: &'a Finding,
    pub rule: &'a RuleMeta,
    pub policy: &'a NotifyPolicy,
}

type Source = Box<dyn std::error::Error + Send + Sync>;

/// Why a notification was not sent.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The service could not be reached or refused for now; worth a retry.
    #[error("publishing finding {finding_id} failed: {source}")]
    Unavailable {
        finding_id: String,
        #[source]
        source: Source,
    },
    /// The service refused this message for good (an invalid parameter or
    /// attribute): the same message is refused again, so it is not retried.
    #[error("the topic refused the message for finding {finding_id} for good: {source}")]
    Refused {
        finding_id: String,
        #[source]
        source: Source,
    },
    /// The request could not even be built: a bug, which no retry mends.
    #[error("the message for finding {finding_id} could not be built: {source}")]
    InvalidRequest {
        finding_id: String,
        #[source]
        source: Source,
    },
}

impl NotifyError {
    /// Whether the same request may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(self, NotifyError::Unavailable { .. })
    }
}

/// Where notifications go. Sending is confirmed in the counter store only
/// after `notify` returns `Ok`, so a failure leaves the notification owed.
pub trait Notifier {
    fn notify(&self, notice: &Notice<'_>) -> impl Future<Output = Result<(), NotifyError>> + Send;
}
