//! Golden test over the real public sign-in records in ../shared/corpus
//! (provenance in its SOURCES.md; not copied into this repository).

use crate::common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use signin_watch::adapters::memory_store::MemoryStore;
use signin_watch::app::detector::Detector;
use signin_watch::app::replay::{Replay, ReplayOptions};
use signin_watch::config::DetectorConfig;

/// The baselines' alerts on the corpus, by (rule, event time, user): its
/// records span 2018 to 2025 and reuse the documentation's example
/// accounts, so principals met after an account's first week are new to
/// it, and Panther's tests sign one ARN in from Japan and the United States.
const EXPECTED_BASELINES: &[(&str, &str, &str)] = &[
    ("first-console-sign-in", "2018-08-29T16:24:34Z", "root"),
    (
        "first-console-sign-in",
        "2019-06-10T17:14:09Z",
        "Mary_Major",
    ),
    ("first-console-sign-in", "2022-11-10T16:24:34Z", "anaya"),
    ("first-console-sign-in", "2022-11-10T16:24:34Z", "root"),
    ("first-console-sign-in", "2023-05-26T20:14:51Z", "tester"),
    ("first-console-sign-in", "2024-08-02T08:53:24Z", "alice"),
    ("first-console-sign-in", "2025-08-13T14:25:00Z", "root"),
    ("first-console-sign-in", "2025-08-13T14:30:00Z", "john.doe"),
    (
        "first-console-sign-in",
        "2025-08-13T14:40:00Z",
        "admin@company.com",
    ),
    (
        "first-console-sign-in",
        "2025-08-13T14:50:00Z",
        "service-account",
    ),
    (
        "first-console-sign-in",
        "2025-08-13T14:55:00Z",
        "mobile.user",
    ),
    ("new-country-for-principal", "2019-01-01T00:00:00Z", "root"),
    (
        "new-country-for-principal",
        "2023-05-26T20:14:51Z",
        "tester",
    ),
    ("new-network-for-principal", "2019-01-01T00:00:00Z", "root"),
    (
        "new-network-for-principal",
        "2023-05-26T20:14:51Z",
        "tester",
    ),
    ("root-from-new-network", "2019-01-01T00:00:00Z", "root"),
];

/// Which corpus records each detection rule of the pack finds, by eventID
/// and user; each once, however many copies the corpus holds.
const EXPECTED: &[(&str, &str, &str)] = &[
    // The AWS documentation's failed-MFA example (three copies).
    (
        "failed-mfa",
        "d38ce1b3-4575-4cb8-a632-611b8243bfc3",
        "anaya",
    ),
    // Stratus Red Team's console-login-without-mfa, its detonation in the
    // Invictus dataset, the CloudTrail and IAM guides' examples, flaws.cloud
    // (piper), and Panther's tests (tester).
    (
        "console-login-without-mfa",
        "865d9377-9c6b-4fd7-8aad-725e95f6a140",
        "stratus-red-team-nmfalu-jfzdtsvchl",
    ),
    (
        "console-login-without-mfa",
        "70e5932e-9022-4b38-837e-ca10dad94eb7",
        "stratus-red-team-nmfalu-gfjyeaypjt",
    ),
    (
        "console-login-without-mfa",
        "3fcfb182-98f8-4744-bd45-10a395ab61cb",
        "alice",
    ),
    (
        "console-login-without-mfa",
        "2681fc29-EXAMPLE",
        "Mary_Major",
    ),
    (
        "console-login-without-mfa",
        "97ae0290-6b12-42c1-b091-72d486bbd7f3",
        "piper",
    ),
    ("console-login-without-mfa", "1", "tester"),
    // A vendor test record without eventID: its synthetic id.
    (
        "console-login-without-mfa",
        "synthetic-139a6d9019b7134ae94b47bc4fd7445f",
        "tester",
    ),
    // Root console sign-ins: the EventBridge and CloudTrail guides,
    // flaws.cloud, and Panther's tests.
    (
        "root-console-login",
        "324731c0-64b3-4421-b552-dfc3c27df4f6",
        "root",
    ),
    (
        "root-console-login",
        "deb1e1f9-c99b-4612-8e9f-21f93b5d79c0",
        "root",
    ),
    (
        "root-console-login",
        "c5472feb-40d2-41c6-9c47-fb15aad0f326",
        "root",
    ),
    (
        "root-console-login",
        "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "root",
    ),
    ("root-console-login", "1", "root"),
    ("root-console-login", "111", "root"),
    // The AWS CLI's lookup-events example signs in from 72.21.198.70, in
    // Amazon's AS16509: a cloud network, as the embedded data has it.
    (
        "console-login-from-cloud",
        "654ccbc0-ba0d-486a-9076-dbf7274677a7",
        "my-session-name",
    ),
];

fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("SIGNIN_WATCH_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::repo_path("../shared/corpus"));
    dir.is_dir().then_some(dir)
}

#[test]
fn corpus_reads_without_panic_and_matches_exactly_the_expected_records() {
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

    let baselines: BTreeSet<(String, String, String)> = findings
        .iter()
        .filter(|f| f["kind"] == "correlation")
        .map(|f| {
            let text = |k: &str| f[k].as_str().unwrap_or_default().to_owned();
            (text("rule"), text("event_time"), text("user"))
        })
        .collect();
    let table = |rows: &[(&str, &str, &str)]| -> BTreeSet<(String, String, String)> {
        rows.iter()
            .map(|(r, e, u)| (r.to_string(), e.to_string(), u.to_string()))
            .collect()
    };
    assert_eq!(
        baselines,
        table(EXPECTED_BASELINES),
        "corpus correlation alerts (left) vs the table (right)"
    );
    let findings: Vec<serde_json::Value> = findings
        .into_iter()
        .filter(|f| f["kind"] == "detection")
        .collect();
    let got: BTreeSet<(String, String, String)> = findings
        .iter()
        .map(|f| {
            let text = |k: &str| f[k].as_str().unwrap_or_default().to_owned();
            (text("rule"), text("event_id"), text("user"))
        })
        .collect();
    assert_eq!(
        got.len(),
        findings.len(),
        "each detection once: {findings:#?}"
    );
    let want: BTreeSet<(String, String, String)> = EXPECTED
        .iter()
        .map(|(r, e, u)| (r.to_string(), e.to_string(), u.to_string()))
        .collect();
    assert_eq!(got, want, "corpus detections (left) vs the table (right)");
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
        .filter(|l| l.contains(": record #") && !l.contains("cannot be read: counted"))
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
