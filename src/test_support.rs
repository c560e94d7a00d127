//! Helpers for the unit tests: the samples in events/.

/// A sample's bytes, as `cargo lambda invoke` sends them.
pub(crate) fn sample(name: &str) -> Vec<u8> {
    let path = format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A sample's CloudTrail record (the EventBridge event's `detail`).
pub(crate) fn sample_detail(name: &str) -> serde_json::Value {
    let event: serde_json::Value = serde_json::from_slice(&sample(name)).expect("JSON");
    event["detail"].clone()
}
