//! signin-watch: detects risky AWS console sign-ins in CloudTrail records.
//!
//! The modules, bottom-up: each imports only those above it in this list
//! (`tools/layers.py` checks it, and that neither files nor sibling modules
//! at any depth import each other in a circle).
//! - [`domain`]: the record model, the rules, findings, counters and the
//!   notification policy, and the ports. Pure; no AWS SDK types.
//! - [`render`]: findings as email text, subjects and JSON lines, with
//!   attacker-chosen text made safe.
//! - [`intake`]: bytes to records (EventBridge events, bare records, S3 log
//!   files, JSON Lines, gzip), streaming and lenient.
//! - [`adapters`]: the stores, publishers and geo data behind the domain's
//!   ports.
//! - [`config`]: typed settings, read once; it picks the adapters' data
//!   (the geo data, the rules directory).
//! - [`app`]: the use cases: the detector service and `replay`.
//! - [`lambda`]: the function: handler, config, metrics; the AWS wiring with
//!   the `lambda` feature.
//!
//! `docs/pipeline.md` draws the way a record goes, with the ports.
//!
//! # Quick start
//!
//! The pack's rules on one record, counted in memory, the way `replay` and
//! the function both do it:
//!
//! ```
//! use signin_watch::adapters::counting_notifier::CountingNotifier;
//! use signin_watch::adapters::memory_store::MemoryStore;
//! use signin_watch::app::detector::Detector;
//! use signin_watch::config::DetectorConfig;
//! use signin_watch::domain::time::Timestamp;
//! use signin_watch::intake::decode_record;
//!
//! let config = DetectorConfig::default();
//! let detector = Detector::new(config.rules, config.policy, MemoryStore::new());
//! // A console sign-in whose MFA challenge failed (Splunk's rule).
//! let record = br#"{"eventID": "e-1", "eventTime": "2026-11-20T09:00:00Z",
//!     "eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin",
//!     "userIdentity": {"type": "IAMUser", "userName": "alice", "accountId": "111122223333"},
//!     "sourceIPAddress": "203.0.113.9", "errorMessage": "Failed authentication",
//!     "additionalEventData": {"MFAUsed": "Yes"}, "responseElements": {"ConsoleLogin": "Failure"}}"#;
//! let observed = decode_record(record)?;
//! let received = Timestamp::parse("2026-11-20T09:01:00Z").ok_or("not a time")?;
//! let notifier = CountingNotifier::new();
//! let runtime = tokio::runtime::Builder::new_current_thread().build()?;
//! let outcome = runtime.block_on(detector.process(&notifier, &observed, received))?;
//! let finding = &outcome.detections[0].finding;
//! assert_eq!(finding.rule, "failed-mfa");
//! assert_eq!((finding.user.as_str(), finding.count, finding.notify), ("alice", 1, true));
//! // The same event again (at-least-once delivery) counts once.
//! let again = runtime.block_on(detector.process(&notifier, &observed, received))?;
//! assert!(again.detections.is_empty() && again.duplicates.len() == 1);
//! assert_eq!(notifier.sent(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

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
