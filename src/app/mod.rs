//! Application services: the use cases, wiring domain and adapters.

pub mod detector;
pub mod replay;
