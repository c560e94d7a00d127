//! signin-watch: detects risky AWS console sign-ins in CloudTrail records.
//!
//! - [`domain`]: the record model, the rules, findings, counters and the
//!   notification policy. Pure; no AWS SDK types.
//! - [`intake`]: bytes to records (EventBridge events, bare records, S3 log
//!   files, JSON Lines, gzip), streaming and lenient.
//! - [`app`]: the use cases: the detector service and `replay`.
//! - [`adapters`]: the stores and publishers behind the domain's ports.
//! - [`render`]: findings as email text, subjects and JSON lines, with
//!   attacker-chosen text made safe.
//! - [`config`]: typed settings, read once.
//! - [`lambda`]: the function: handler, config, metrics; the AWS wiring with
//!   the `lambda` feature.

// `unsafe` lives in one module (the scanner's x86 kernels), each block
// with its SAFETY reason.
#![deny(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod adapters;
pub mod app;
pub mod config;
pub mod domain;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod intake;
pub mod lambda;
pub mod render;
#[cfg(test)]
mod test_support;
