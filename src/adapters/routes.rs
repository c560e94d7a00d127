//! Where notifications go: the findings topic, then the routes a
//! deployment switches on (the event bus, Security Hub). A notification is
//! confirmed in the store only once every route took it, so a route that
//! fails leaves it owed and the retry sends it again to all of them (at
//! least once, as SNS always was; a FIFO topic drops the repeat by its
//! deduplication id). Decision 0014.

use crate::domain::notify::{DigestNotice, Notice, Notifier, NotifyError};

/// `first`, then `then`.
pub struct Routes<A, B> {
    first: A,
    then: B,
}

impl<A, B> Routes<A, B> {
    pub fn new(first: A, then: B) -> Self {
        Routes { first, then }
    }
}

impl<A: Notifier + Sync, B: Notifier + Sync> Notifier for Routes<A, B> {
    async fn notify(&self, notice: &Notice<'_>) -> Result<(), NotifyError> {
        self.first.notify(notice).await?;
        self.then.notify(notice).await
    }

    async fn notify_digest(&self, notice: &DigestNotice<'_>) -> Result<(), NotifyError> {
        self.first.notify_digest(notice).await?;
        self.then.notify_digest(notice).await
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
