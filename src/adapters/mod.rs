//! Adapters: the ports of the domain, implemented on real things.

#[cfg(feature = "lambda")]
pub mod dynamodb_store;
pub mod memory_store;
pub mod sns;
