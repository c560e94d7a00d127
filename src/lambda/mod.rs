//! The function: its settings and CloudWatch metrics; with the `lambda`
//! feature, the handler (an adapter from Lambda payloads to the detector)
//! and the AWS wiring.

pub mod config;
#[cfg(feature = "lambda")]
pub mod handler;
pub mod metrics;
#[cfg(feature = "lambda")]
pub mod runtime;
