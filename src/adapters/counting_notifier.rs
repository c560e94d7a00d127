//! A notifier that sends nothing and counts what it is asked to send:
//! `replay`'s, where every finding goes to the output anyway, and the tests'.
//! Replay also keeps each digest, rendered, to print it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::domain::notify::{DigestNotice, Notice, Notifier, NotifyError};
use crate::render;

/// A digest as replay prints it: its JSON line and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedDigest {
    /// The rule's name.
    pub rule: String,
    pub json: String,
    pub text: String,
    /// The digest as an OCSF Detection Finding.
    pub ocsf: String,
}

#[derive(Debug, Default)]
pub struct CountingNotifier {
    sent: AtomicU64,
    digests: AtomicU64,
    /// Some when digests are kept.
    kept: Option<Mutex<Vec<RenderedDigest>>>,
}

impl CountingNotifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// One that keeps every digest it is asked to send, rendered whole.
    pub fn keeping_digests() -> Self {
        CountingNotifier {
            kept: Some(Mutex::new(Vec::new())),
            ..Self::default()
        }
    }

    /// How many notifications it was asked to send.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// How many digests it was asked to send.
    pub fn digests(&self) -> u64 {
        self.digests.load(Ordering::Relaxed)
    }

    /// The digests kept since the last call, in the order asked.
    pub fn take_digests(&self) -> Vec<RenderedDigest> {
        self.kept
            .as_ref()
            .map(|k| std::mem::take(&mut *k.lock().unwrap_or_else(|e| e.into_inner())))
            .unwrap_or_default()
    }
}

impl Notifier for CountingNotifier {
    async fn notify(&self, _: &Notice<'_>) -> Result<(), NotifyError> {
        self.sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn notify_digest(&self, notice: &DigestNotice<'_>) -> Result<(), NotifyError> {
        self.digests.fetch_add(1, Ordering::Relaxed);
        if let Some(kept) = &self.kept {
            let digest = RenderedDigest {
                rule: notice.rule.name.clone(),
                json: render::digest_json(notice, usize::MAX).to_string(),
                text: render::digest_text(notice, usize::MAX),
                ocsf: render::ocsf_line(&render::ocsf_digest(notice)),
            };
            kept.lock().unwrap_or_else(|e| e.into_inner()).push(digest);
        }
        Ok(())
    }
}
