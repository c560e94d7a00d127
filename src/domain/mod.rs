//! The domain: what a sign-in record is, what the rules say about it, how
//! detections are counted and when they notify. No AWS SDK type and no I/O.

pub mod counter;
pub mod finding;
pub mod identity;
pub mod lenient;
pub mod observed;
pub mod record;
pub mod rules;
pub mod time;
pub mod tuning;
