//! The domain: what a sign-in record is, what the rules say about it, how
//! detections are counted and when they notify. No AWS SDK type and no I/O.
//!
//! The pipeline's nouns, in the order a record meets them:
//! - **record**: one CloudTrail event record ([`record::CloudTrailRecord`]),
//!   read leniently, every field optional; [`observed::Observed`] adds the
//!   EventBridge envelope it arrived in, when there was one.
//! - **verdict**: what one rule makes of one record ([`rules::Verdict`]):
//!   a match, or a match an operator's allowlist lets pass. A rule that does
//!   not match gives no verdict.
//! - **sighting**: a match to be counted ([`counter::Sighting`]): the group
//!   it belongs to (rule, account, user, source IP), its eventID and time.
//! - **detection**: a sighting the counter store counted (each eventID once
//!   per rule), with the group's counters and whether it notifies.
//! - **finding**: everything a person needs to act on a detection
//!   ([`finding::Finding`]), the stable JSON of `docs/finding.md`.
//! - **notification**: a finding that the notification policy
//!   ([`counter::NotifyPolicy`]) says is worth a message, handed to a
//!   [`notify::Notifier`] and confirmed in the store once sent; beyond the
//!   rule's hourly budget ([`budget`]) it is folded into the hour's digest.
//! - **outcome**: what one record produced: its detections, the matches
//!   counted before, and the matches allowlisted.
//!
//! The ports: [`store::CounterStore`] (counters and correlation state, one
//! transaction), [`store::BudgetStore`] (the budget and its digests) and
//! [`notify::Notifier`]; `crate::adapters` implements them.
//!
//! The modules, bottom-up: each imports only those before it (no circle;
//! `tools/layers.py` checks it).
//! 1. [`time`], [`lenient`], [`hash`], [`severity`], [`geo`], [`agent`]:
//!    timestamps, lenient JSON, SHA-256, how bad a detection is, where an
//!    address is, a user agent's family.
//! 2. [`record`]: the CloudTrail record; [`identity`]: who it names.
//! 3. [`rules`]: Sigma rules, filters and correlation definitions, loaded,
//!    linked and tested inline.
//! 4. [`observed`]: a record in its envelope, and the facts a finding
//!    takes from it.
//! 5. [`correlation`]: the engine that evaluates correlations.
//! 6. [`counter`]: groups, counters and the notification policy, pure.
//! 7. [`budget`]: the hourly budget and its digests, pure.
//! 8. [`finding`]: what a person reads about a detection.
//! 9. [`store`] and [`notify`]: the ports.

pub mod agent;
pub mod budget;
pub mod correlation;
pub mod counter;
pub mod finding;
pub mod geo;
pub mod hash;
pub mod identity;
pub mod lenient;
pub mod notify;
pub mod observed;
pub mod record;
pub mod rules;
pub mod severity;
pub mod store;
pub mod time;
