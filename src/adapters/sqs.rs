//! A queue of failed events on SQS: Lambda's failure destination or
//! EventBridge's dead-letter queue, read back by the redrive.

use aws_sdk_sqs::Client;

use crate::intake::failed_events::{FailedEvents, QueueError, QueuedEvent};

#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        SqsQueue {
            client,
            url: url.into(),
        }
    }

    fn failed(&self, operation: &'static str) -> impl FnOnce(String) -> QueueError + '_ {
        move |message| QueueError {
            queue: self.url.clone(),
            operation,
            source: message.into(),
        }
    }
}

impl FailedEvents for SqsQueue {
    fn name(&self) -> &str {
        &self.url
    }

    async fn receive(&self) -> Result<Vec<QueuedEvent>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(10)
            // Long enough to handle a batch; a failure shows again after it.
            .visibility_timeout(120)
            .send()
            .await
            .map_err(|e| {
                self.failed("ReceiveMessage")(
                    aws_sdk_sqs::error::DisplayErrorContext(e).to_string(),
                )
            })?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                Some(QueuedEvent {
                    message_id: m.message_id?,
                    receipt: m.receipt_handle?,
                    body: m.body.unwrap_or_default(),
                })
            })
            .collect())
    }

    async fn delete(&self, event: &QueuedEvent) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(&event.receipt)
            .send()
            .await
            .map_err(|e| {
                self.failed("DeleteMessage")(aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
            })?;
        Ok(())
    }
}
