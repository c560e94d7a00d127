//! Adapters: the ports of the domain, implemented on real things.

pub mod memory_store;
