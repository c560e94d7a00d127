//! Golden test over the real public sign-in records in ../shared/corpus
//! (provenance in its SOURCES.md; not copied into this repository).

mod common;

use std::path::PathBuf;

use signin_watch::adapters::memory_store::MemoryStore;
use signin_watch::app::detector::Detector;
use signin_watch::app::replay::{Replay, ReplayOptions};
use signin_watch::config::DetectorConfig;

const DOC_FAILED_MFA_EVENT: &str = "d38ce1b3-4575-4cb8-a632-611b8243bfc3";

fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("SIGNIN_WATCH_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::repo_path("../shared/corpus"));
    dir.is_dir().then_some(dir)
}

#[test]
fn corpus_reads_without_panic_and_matches_only_the_documented_failed_mfa() {
    let Some(dir) = corpus_dir() else {
        common::say_skipped(
            "corpus golden test: ../shared/corpus is absent (set SIGNIN_WATCH_CORPUS to its path)",
        );
        return;
    };
    // Every file, whatever its name: the invalid-JSON WorkSpaces blocks and
    // the provenance side-cars too. Nothing may panic.
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("readable corpus")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.file_name().is_some_and(|n| n != "SOURCES.md"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 20,
        "corpus looks incomplete: {} files",
        files.len()
    );

    let mut out = Vec::new();
    let mut err = Vec::new();
    let config = DetectorConfig::default();
    let detector = Detector::new(config.rules, config.policy, MemoryStore::new());
    let summary = Replay::new(&files)
        .expect("the corpus files exist")
        .run(&detector, &ReplayOptions::default(), &mut out, &mut err)
        .expect("the corpus replays");
    let err = String::from_utf8_lossy(&err);
    let findings: Vec<serde_json::Value> = String::from_utf8_lossy(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();

    assert_eq!(findings.len(), 1, "exactly one detection: {findings:#?}");
    let f = &findings[0];
    assert_eq!(f["rule_id"], "55349868-5583-466f-98ab-d3beb321961e");
    assert_eq!(f["event_id"], DOC_FAILED_MFA_EVENT);
    assert_eq!(f["user"], "anaya");
    assert!(
        summary.duplicates >= 2,
        "the corpus holds the example three times: {summary:?}"
    );
    // SOURCES.md's per-file tables: 98 parseable sign-in records (its 103
    // adds the five WorkSpaces blocks that are not valid JSON).
    assert_eq!(summary.signin_records, 98, "{summary:?}");
    assert!(summary.records > 3000, "{summary:?}");
    // The WorkSpaces documentation blocks are invalid JSON: reported, with where.
    assert!(summary.bad_records >= 5, "{summary:?}");
    let bad_files: std::collections::BTreeSet<&str> = err
        .lines()
        .filter(|l| l.contains(": record #"))
        .filter_map(|l| l.split(':').next())
        .collect();
    assert_eq!(
        bad_files.len(),
        1,
        "only the WorkSpaces blocks are malformed: {bad_files:?}"
    );
    assert!(
        err.contains(
            "awsdocs-amazon-workspaces-administration-guide__signin-events_raw_blocks.txt:"
        ),
        "{err}"
    );
}
