//! Every payload shape the function and replay accept.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| signin_watch::fuzzing::decode_payload(data));
