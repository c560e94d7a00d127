//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::Value;
use signin_watch::adapters::counting_notifier::CountingNotifier;
use signin_watch::adapters::memory_store::MemoryStore;
use signin_watch::app::detector::{Detector, Outcome};
use signin_watch::domain::observed::Observed;
use signin_watch::domain::rules::RuleSet;
use signin_watch::domain::rules::inline::Case;
use signin_watch::domain::time::Timestamp;
use signin_watch::intake::{ItemKind, decode_item};

pub fn repo_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Each sample in events/ and the rules (by name) it fires with the default
/// settings, read from the pack's own tests: a rule that makes findings
/// fires on the samples its positive tests name. `tests/pure/events.rs`
/// checks that each sample fires those and no other.
pub fn fires() -> Vec<(String, Vec<String>)> {
    let rules = RuleSet::default();
    event_files()
        .iter()
        .map(|file| {
            let name = file_name(file);
            let keys = rules
                .rules()
                .filter(|r| rules.makes_findings(r))
                .filter(|r| {
                    r.tests.iter().any(|t| {
                        t.case == Case::Positive && t.event.as_deref() == Some(name.as_str())
                    })
                })
                .map(|r| r.name.clone())
                .collect();
            (name, keys)
        })
        .collect()
}

/// Every sample in events/, by file name, sorted.
pub fn event_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_path("events"))
        .expect("events/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

pub fn file_name(p: &Path) -> String {
    p.file_name()
        .expect("a file name")
        .to_string_lossy()
        .into_owned()
}

/// The path of a sample in events/.
pub fn sample_path(name: &str) -> PathBuf {
    repo_path(&format!("events/{name}"))
}

/// A sample's bytes, as `cargo lambda invoke` sends them.
pub fn sample(name: &str) -> Vec<u8> {
    std::fs::read(sample_path(name)).unwrap_or_else(|e| panic!("events/{name}: {e}"))
}

/// A sample as JSON: an EventBridge event.
pub fn sample_json(name: &str) -> Value {
    serde_json::from_slice(&sample(name)).unwrap_or_else(|e| panic!("events/{name}: {e}"))
}

/// A sample's CloudTrail record (the event's `detail`).
pub fn sample_detail(name: &str) -> Value {
    sample_json(name)["detail"].clone()
}

/// The sample as an EventBridge event with another eventID and eventTime.
pub fn sample_variant(name: &str, event_id: &str, time: &str) -> Vec<u8> {
    let mut v = sample_json(name);
    v["detail"]["eventID"] = Value::from(event_id);
    v["detail"]["eventTime"] = Value::from(time);
    v["time"] = Value::from(time);
    serde_json::to_vec(&v).expect("JSON")
}

/// Decodes one sample file and hands each record to `f`.
pub fn with_records(path: &Path, mut f: impl FnMut(Observed<'_>)) {
    let bytes = std::fs::read(path).expect("readable sample");
    decode_item(&bytes, ItemKind::Any, &mut f)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// Every record of a file through `detector`, as the function processes them.
pub fn process_file(detector: &Detector<MemoryStore>, path: &Path) -> Vec<Outcome> {
    let notifier = CountingNotifier::new();
    let mut outcomes = Vec::new();
    with_records(path, |o| {
        outcomes.push(
            block_on(detector.process(&notifier, &o, Timestamp::now()))
                .expect("the memory store and the counting notifier do not fail"),
        );
    });
    outcomes
}

pub mod checker;
pub mod cli;
pub mod correlation_contract;
#[cfg(feature = "lambda")]
pub mod moto;
pub mod runtime_api;
pub mod store_contract;

/// Says on the terminal that a test skipped its work, past the test
/// harness's capture of `eprintln!` (which shows output of failed tests only).
pub fn say_skipped(why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "\n*** SKIPPED: {why} ***\n");
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}
