//! The SNS message builder: valid JSON, within limits, attributes SNS accepts.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| signin_watch::fuzzing::sns_message(data));
