//! The configuration parsers.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| signin_watch::fuzzing::config(data));
