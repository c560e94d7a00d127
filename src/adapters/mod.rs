//! Adapters: the domain's ports implemented on real things. Nothing here
//! knows the app layer.

pub mod counting_notifier;
#[cfg(feature = "lambda")]
pub mod dynamodb_store;
pub mod geo;
pub mod memory_store;
#[cfg(feature = "s3")]
pub mod s3;
pub mod sns;
#[cfg(feature = "lambda")]
pub mod sqs;
