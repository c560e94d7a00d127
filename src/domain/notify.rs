//! The notification port: where findings that the policy says are worth a
//! message go (SNS in the function; replay counts them).

use std::future::Future;

use super::budget::Digest;
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

/// A digest to send: the rule-hour's folded notifications, the rule, and
/// the policy whose budget they exceeded.
#[derive(Debug, Clone, Copy)]
pub struct DigestNotice<'a> {
    pub digest: &'a Digest,
    pub rule: &'a RuleMeta,
    pub policy: &'a NotifyPolicy,
}

impl DigestNotice<'_> {
    /// The digest's id: the rule, account and hour, and how many it lists, so that a
    /// later digest for the same hour (late events) is another message.
    pub fn digest_id(&self) -> String {
        let d = self.digest;
        let n = d.folded_count.to_string();
        let hour = d.key.hour.to_string();
        super::hash::sha256_hex(
            [
                d.key.rule_id.as_bytes(),
                b"#",
                d.key.account.as_bytes(),
                b"#",
                hour.as_bytes(),
                b"#",
                n.as_bytes(),
            ],
            16,
        )
    }
}

/// Where notifications go. Sending is confirmed in the counter store only
/// after `notify` returns `Ok`, so a failure leaves the notification owed.
pub trait Notifier {
    fn notify(&self, notice: &Notice<'_>) -> impl Future<Output = Result<(), NotifyError>> + Send;

    /// Sends a rule-hour's digest of folded notifications.
    fn notify_digest(
        &self,
        notice: &DigestNotice<'_>,
    ) -> impl Future<Output = Result<(), NotifyError>> + Send;
}
