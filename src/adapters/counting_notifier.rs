//! A notifier that sends nothing and counts what it is asked to send:
//! `replay`'s, where every finding goes to the output anyway, and the tests'.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::domain::notify::{DigestNotice, Notice, Notifier, NotifyError};

#[derive(Debug, Default)]
pub struct CountingNotifier {
    sent: AtomicU64,
    digests: AtomicU64,
}

impl CountingNotifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many notifications it was asked to send.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// How many digests it was asked to send.
    pub fn digests(&self) -> u64 {
        self.digests.load(Ordering::Relaxed)
    }
}

impl Notifier for CountingNotifier {
    async fn notify(&self, _: &Notice<'_>) -> Result<(), NotifyError> {
        self.sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn notify_digest(&self, _: &DigestNotice<'_>) -> Result<(), NotifyError> {
        self.digests.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}
