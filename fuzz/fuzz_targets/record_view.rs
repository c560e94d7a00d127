//! The record view the Sigma engine sees, against the whole pack.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| signin_watch::fuzzing::record_view(data));
