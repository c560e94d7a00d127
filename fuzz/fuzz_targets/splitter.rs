//! The splitter, differentially: read sizes, kernels and the byte-at-a-time reference.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| signin_watch::fuzzing::splitter(data));
