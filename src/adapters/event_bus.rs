//! The findings' event bus: each finding worth a notification, and each
//! digest, as an event (`source: signin-watch`) that EventBridge rules
//! route to pagers, chat, Step Functions or ticketing (`docs/event-bus.md`).

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use super::notify_errors::sdk_notify_error;
use super::sns::message::{CUTS, shortened};
use crate::domain::budget::MAX_DIGEST_LISTED;
use crate::domain::notify::{DigestNotice, Notice, Notifier, NotifyError};
use crate::render;

/// PutEvents' limit on an entry, in bytes.
const MAX_ENTRY_BYTES: usize = 256 * 1024;

#[derive(Clone)]
pub struct EventBusPublisher {
    client: Client,
    /// The bus's name or ARN.
    bus: String,
}

impl EventBusPublisher {
    pub fn new(client: Client, bus: impl Into<String>) -> Self {
        EventBusPublisher {
            client,
            bus: bus.into(),
        }
    }

    /// Puts one event; `id` names what it is about in errors.
    async fn put(&self, id: &str, detail_type: &str, detail: &str) -> Result<(), NotifyError> {
        let refused = |why: String| NotifyError::Refused {
            finding_id: id.to_owned(),
            source: why.into(),
        };
        if !fits(detail) {
            return Err(refused(format!(
                "the event is {} bytes, past PutEvents' 256 KB",
                detail.len()
            )));
        }
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(render::EVENT_SOURCE)
            .detail_type(detail_type)
            .detail(detail)
            .build();
        let out = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| {
                use aws_sdk_eventbridge::error::ProvideErrorMetadata;
                // A bus that is not there, or one the function may not put
                // on, is the deployment's to mend: refused, and the page
                // still goes out. Throttling and outages are retried.
                sdk_notify_error(id, e, |e| {
                    matches!(
                        e.code(),
                        Some("AccessDeniedException" | "ResourceNotFoundException")
                    )
                })
            })?;
        if out.failed_entry_count() == 0 {
            return Ok(());
        }
        // A failed entry says why: throttling and internal failures pass;
        // anything else is the entry itself, refused again on a retry.
        let (code, message) = out
            .entries()
            .first()
            .map(|e| {
                (
                    e.error_code().unwrap_or("").to_owned(),
                    e.error_message().unwrap_or("").to_owned(),
                )
            })
            .unwrap_or_default();
        let why = format!("PutEvents failed the entry: {code} {message}");
        if code.contains("Throttl") || code.contains("InternalFailure") || code.is_empty() {
            Err(NotifyError::Unavailable {
                finding_id: id.to_owned(),
                source: why.into(),
            })
        } else {
            Err(refused(why))
        }
    }
}

/// Whether an event of `detail` fits PutEvents' entry.
fn fits(detail: &str) -> bool {
    detail.len() + render::FINDING_DETAIL_TYPE.len() + render::EVENT_SOURCE.len() <= MAX_ENTRY_BYTES
}

/// The finding's event detail, its chosen strings cut as the topic's
/// message cuts them until it fits.
fn finding_detail(notice: &Notice<'_>) -> String {
    let mut detail =
        render::escape_hidden_in_json(render::finding_event_detail(notice).to_string());
    for max in CUTS {
        if fits(&detail) {
            break;
        }
        let shorter = shortened(notice.finding, max);
        let cut = Notice {
            finding: &shorter,
            ..*notice
        };
        detail = render::escape_hidden_in_json(render::finding_event_detail(&cut).to_string());
    }
    detail
}

impl Notifier for EventBusPublisher {
    async fn notify(&self, notice: &Notice<'_>) -> Result<(), NotifyError> {
        let id = &notice.finding.finding_id;
        self.put(id, render::FINDING_DETAIL_TYPE, &finding_detail(notice))
            .await?;
        tracing::info!(finding_id = %id, bus = %self.bus, "finding put on the event bus");
        Ok(())
    }

    async fn notify_digest(&self, notice: &DigestNotice<'_>) -> Result<(), NotifyError> {
        let id = format!("digest-{}", notice.digest_id());
        let detail = render::escape_hidden_in_json(
            render::digest_event_detail(notice, MAX_DIGEST_LISTED).to_string(),
        );
        self.put(&id, render::DIGEST_DETAIL_TYPE, &detail).await?;
        tracing::info!(digest_id = %id, bus = %self.bus, "digest put on the event bus");
        Ok(())
    }
}
