//! Adapters: the domain's ports implemented on real things. Nothing here
//! knows the app layer.

pub mod counting_notifier;
#[cfg(feature = "lambda")]
pub mod dynamodb_store;
#[cfg(feature = "lambda")]
pub mod event_bus;
pub mod geo;
pub mod memory_store;
#[cfg(feature = "lambda")]
mod notify_errors;
pub mod routes;
#[cfg(feature = "s3")]
pub mod s3;
#[cfg(feature = "lambda")]
pub mod security_hub;
pub mod sns;
#[cfg(feature = "lambda")]
pub mod sqs;
