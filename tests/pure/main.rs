//! The tests that need no emulator, in one binary: the CLI as a user runs
//! it, the samples, scenarios and shared corpus through the pack, the rules'
//! own tests, the in-memory store's contract, and the fuzz corpora. They
//! run on any machine with cargo alone.

#[path = "../common/mod.rs"]
mod common;

mod cli;
mod corpus;
mod counter_properties;
mod events;
mod formats;
mod fuzz_corpora;
mod memory_store;
mod replay_evasion;
mod report;
mod rules;
mod scenarios;
