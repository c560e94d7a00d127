//! Where notifications go: the secondary routes a deployment switches on
//! (the event bus, Security Hub), then the findings topic, which pages
//! people. A notification is confirmed in the store only once the topic
//! took it (decision 0014):
//!
//! - the secondary routes go first, so that a route that fails for now
//!   fails the notification before anyone is paged, and its retry pages
//!   once (the secondary routes take it again: Security Hub updates the
//!   finding of the same Id, PagerDuty appends to the incident of the same
//!   key);
//! - a secondary route that refuses for good (a malformed entry, Security
//!   Hub not enabled) is logged with its error type and set aside: it never
//!   holds back the page, nor makes the topic send it again.

use crate::domain::notify::{DigestNotice, Notice, Notifier, NotifyError};

pub struct Routes<P, S> {
    primary: P,
    secondary: S,
}

impl<P, S> Routes<P, S> {
    /// `primary` (the topic) after `secondary`; secondary routes chain the
    /// same way (`Routes::new(hub, bus)`: the bus, then Security Hub).
    pub fn new(primary: P, secondary: S) -> Self {
        Routes { primary, secondary }
    }
}

/// A secondary route's outcome: transient failures fail the notification
/// (retried before the page); permanent ones are set aside, logged.
fn set_aside(result: Result<(), NotifyError>, what: &str) -> Result<(), NotifyError> {
    match result {
        Err(e) if !e.is_transient() => {
            tracing::error!(
                error_type = "SigninWatch.RouteRefused",
                route = what,
                error = %e,
                "a secondary route refused the notification for good; the topic still sends it"
            );
            Ok(())
        }
        other => other,
    }
}

impl<P: Notifier + Sync, S: Notifier + Sync> Notifier for Routes<P, S> {
    async fn notify(&self, notice: &Notice<'_>) -> Result<(), NotifyError> {
        set_aside(self.secondary.notify(notice).await, "finding")?;
        self.primary.notify(notice).await
    }

    async fn notify_digest(&self, notice: &DigestNotice<'_>) -> Result<(), NotifyError> {
        set_aside(self.secondary.notify_digest(notice).await, "digest")?;
        self.primary.notify_digest(notice).await
    }
}

/// A route a deployment may leave off: none sends nothing, and succeeds.
impl<N: Notifier + Sync> Notifier for Option<N> {
    async fn notify(&self, notice: &Notice<'_>) -> Result<(), NotifyError> {
        match self {
            Some(n) => n.notify(notice).await,
            None => Ok(()),
        }
    }

    async fn notify_digest(&self, notice: &DigestNotice<'_>) -> Result<(), NotifyError> {
        match self {
            Some(n) => n.notify_digest(notice).await,
            None => Ok(()),
        }
    }
}
