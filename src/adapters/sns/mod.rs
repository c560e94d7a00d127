//! Findings to an SNS topic: email subscribers read the text, pagers and
//! queues get the JSON finding, and filter policies can select on attributes.

pub mod message;

#[cfg(feature = "lambda")]
mod publisher;
#[cfg(feature = "lambda")]
pub use publisher::SnsPublisher;
