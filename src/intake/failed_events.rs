//! The port to a queue of failed events (Lambda's failure destination,
//! EventBridge's dead-letter queue), which the redrive reads back
//! (the sweep, `crate::lambda::handler`); `crate::adapters::sqs` implements it.

use std::future::Future;

/// A message waiting on a queue of failed events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedEvent {
    pub message_id: String,
    /// What deletes it.
    pub receipt: String,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
#[error("queue {queue}: {operation} failed: {source}")]
pub struct QueueError {
    pub queue: String,
    pub operation: &'static str,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// A queue of failed events: received in batches, deleted once handled.
pub trait FailedEvents {
    /// The queue's name or URL, for logs.
    fn name(&self) -> &str;
    /// Up to ten messages, hidden from other readers while handled; none
    /// when the queue is empty.
    fn receive(&self) -> impl Future<Output = Result<Vec<QueuedEvent>, QueueError>> + Send;
    fn delete(&self, event: &QueuedEvent) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// No queue: what a handler built without queues to redrive holds none of.
#[derive(Debug, Clone, Copy)]
pub enum NoQueues {}

impl FailedEvents for NoQueues {
    fn name(&self) -> &str {
        match *self {}
    }
    async fn receive(&self) -> Result<Vec<QueuedEvent>, QueueError> {
        match *self {}
    }
    async fn delete(&self, _: &QueuedEvent) -> Result<(), QueueError> {
        match *self {}
    }
}
