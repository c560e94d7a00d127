//! The Lambda function: config, the handler (an adapter from payloads to the
//! detector), CloudWatch metrics, and, with the `lambda` feature, the AWS
//! wiring and the runtime loop.

pub mod config;
pub mod handler;
pub mod metrics;
#[cfg(feature = "lambda")]
pub mod runtime;
