//! Where notifications go: the findings topic, and the event bus when one
//! is set. A notification is confirmed in the store only once every route
//! took it, so a route that fails leaves it owed and the retry sends it
//! again to all of them (at least once, as SNS always was; a FIFO topic
//! drops the repeat by its deduplication id).

use crate::domain::notify::{DigestNotice, Notice, Notifier, NotifyError};

pub struct Routes<T, B> {
    topic: T,
    bus: Option<B>,
}

impl<T, B> Routes<T, B> {
    pub fn new(topic: T, bus: Option<B>) -> Self {
        Routes { topic, bus }
    }
}

impl<T: Notifier + Sync, B: Notifier + Sync> Notifier for Routes<T, B> {
    async fn notify(&self, notice: &Notice<'_>) -> Result<(), NotifyError> {
        self.topic.notify(notice).await?;
        if let Some(bus) = &self.bus {
            bus.notify(notice).await?;
        }
        Ok(())
    }

    async fn notify_digest(&self, notice: &DigestNotice<'_>) -> Result<(), NotifyError> {
        self.topic.notify_digest(notice).await?;
        if let Some(bus) = &self.bus {
            bus.notify_digest(notice).await?;
        }
        Ok(())
    }
}
