//! User-supplied rule and filter files.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| signin_watch::fuzzing::rule_file(data));
