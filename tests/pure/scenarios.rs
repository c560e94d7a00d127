//! events/scenarios/: each correlation's positive alerts and its near miss
//! does not, alone and all together (as `make demo` replays them); the SQS
//! batches in events/sqs/ hold the same events and give the same alerts
//! through the function's handler.

use crate::common;

use std::path::{Path, PathBuf};

use signin_watch::adapters::counting_notifier::CountingNotifier;
use signin_watch::adapters::memory_store::MemoryStore;
use signin_watch::app::detector::Detector;
use signin_watch::config::DetectorConfig;
use signin_watch::domain::finding::Finding;
use signin_watch::domain::time::Timestamp;
use signin_watch::intake::{ItemKind, decode_item};

/// Each scenario's alerts: (correlation, the group's user or address).
/// Written from the scenarios' descriptions in tools/scenarios.py: the
/// positive's group alerts, the near miss's never does.
const ALERTS: &[(&str, &[(&str, &str)])] = &[
    (
        "brute-force-success",
        &[
            ("brute-force-success", "alice"),
            ("brute-force-success", "gina"),
        ],
    ),
    (
        "concurrent-console-sessions",
        &[("concurrent-console-sessions", "grace")],
    ),
    ("console-brute-force", &[("console-brute-force", "carol")]),
    // Germany and the United States ten minutes apart: too fast as well.
    (
        "console-sessions-from-two-countries",
        &[
            ("console-sessions-from-two-countries", "jade"),
            ("impossible-travel", "jade"),
        ],
    ),
    (
        "federated-token-relay",
        &[("federated-token-relay", "break-glass")],
    ),
    (
        "first-console-sign-in",
        &[("first-console-sign-in", "quinn")],
    ),
    (
        "identity-center-brute-force",
        &[("identity-center-brute-force", "erin@example.com")],
    ),
    ("impossible-travel", &[("impossible-travel", "rosa")]),
    ("mfa-fatigue", &[("mfa-fatigue", "alice")]),
    // Six failed MFA challenges are failed sign-ins too, and five of them in
    // ten minutes are MFA fatigue on their own.
    (
        "mfa-fatigue-success",
        &[
            ("brute-force-success", "alice"),
            ("mfa-fatigue", "alice"),
            ("mfa-fatigue-success", "alice"),
            ("mfa-fatigue-success", "ivan"),
        ],
    ),
    (
        "new-country-for-principal",
        &[
            ("new-country-for-principal", "lena"),
            ("new-network-for-principal", "lena"),
        ],
    ),
    (
        "new-network-for-principal",
        &[("new-network-for-principal", "otto")],
    ),
    ("password-spray", &[("password-spray", "192.0.2.99")]),
    (
        "root-from-new-network",
        &[
            ("new-network-for-principal", "root"),
            ("root-from-new-network", "root"),
        ],
    ),
    (
        "root-spray-across-accounts",
        &[("root-spray-across-accounts", "198.51.100.80")],
    ),
];

fn scenario_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(common::repo_path("events/scenarios"))
        .expect("events/scenarios exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort_by_key(|p| stem(p));
    files
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .expect("a file name")
        .to_string_lossy()
        .into_owned()
}

/// Every line of `files` through one detector; its correlation findings.
fn replay(files: &[PathBuf]) -> Vec<Finding> {
    let config = DetectorConfig::default();
    let detector = Detector::new(config.rules, config.policy, MemoryStore::new());
    let notifier = CountingNotifier::new();
    let mut findings = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).expect("readable scenario");
        for (n, line) in text.lines().enumerate() {
            decode_item(line.as_bytes(), ItemKind::Any, &mut |o| {
                let outcome = common::block_on(detector.process(&notifier, &o, Timestamp::now()))
                    .expect("the memory store does not fail");
                findings.extend(outcome.detections.into_iter().map(|d| d.finding));
            })
            .unwrap_or_else(|e| panic!("{}:{}: {e}", file.display(), n + 1));
        }
    }
    findings.retain(|f| f.kind == "correlation");
    findings
}

/// (correlation, user or address) of each alert, sorted.
fn alerts(findings: &[Finding]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = findings
        .iter()
        .map(|f| {
            let c = f.correlation.as_ref().expect("a correlation finding");
            let who = c
                .group_fields
                .get("user")
                .or_else(|| c.group_fields.get("sourceIPAddress"))
                .cloned()
                // Baselines group by principal or account: the finding's user.
                .unwrap_or_else(|| f.user.clone());
            (f.rule.clone(), who)
        })
        .collect();
    out.sort();
    out
}

fn want(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = pairs
        .iter()
        .map(|(r, w)| (r.to_string(), w.to_string()))
        .collect();
    out.sort();
    out
}

#[test]
fn every_correlation_has_a_scenario() {
    let names: Vec<String> = scenario_files().iter().map(|f| stem(f)).collect();
    let listed: Vec<&str> = ALERTS.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names, listed,
        "events/scenarios and ALERTS list the same files"
    );
    let config = DetectorConfig::default();
    let mut correlations: Vec<&str> = config
        .rules
        .correlations()
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    correlations.sort_unstable();
    assert_eq!(
        names, correlations,
        "a scenario per correlation of the pack"
    );
}

#[test]
fn each_scenario_alerts_for_its_positive_only() {
    for (file, (name, expected)) in scenario_files().iter().zip(ALERTS) {
        let findings = replay(std::slice::from_ref(file));
        assert_eq!(alerts(&findings), want(expected), "{name}");
        // Its own correlation alerts once per positive group.
        let positives = expected.iter().filter(|(rule, _)| rule == name).count();
        assert!(positives >= 1, "{name} has a positive");
        assert_eq!(
            findings.iter().filter(|f| f.rule == *name).count(),
            positives,
            "{name}"
        );
    }
}

#[test]
fn all_scenarios_together_give_each_ones_alerts() {
    let files = scenario_files();
    let all: Vec<(&str, &str)> = ALERTS.iter().flat_map(|(_, a)| a.iter().copied()).collect();
    let findings = replay(&files);
    assert_eq!(alerts(&findings), want(&all));
    // A correlation's finding says where its source address is, as any does.
    for f in &findings {
        let geo = f
            .src_geo
            .as_ref()
            .unwrap_or_else(|| panic!("{} has no src_geo", f.rule));
        assert!(
            geo.source.starts_with("ip-location-db"),
            "{}: {geo:?}",
            f.rule
        );
    }
    // And in reverse order: the same alerts, the same finding ids.
    let mut reversed = files.clone();
    reversed.reverse();
    let ids = |f: Vec<Finding>| {
        let mut ids: Vec<String> = f.into_iter().map(|f| f.finding_id).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(replay(&files)), ids(replay(&reversed)));
}

/// A correlation's story names the places its evidence came from.
#[test]
fn the_story_names_the_places() {
    let file = common::repo_path("events/scenarios/console-sessions-from-two-countries.jsonl");
    let f = &replay(&[file])[0];
    let story = &f.correlation.as_ref().expect("a correlation").story;
    assert_eq!(
        story,
        "Console sign-ins of jade from 2 countries (Germany; United States of America) between 19:10 and 19:20 UTC"
    );
}

#[test]
fn the_stories_read_as_the_issue_wrote_them() {
    let file = common::repo_path("events/scenarios/mfa-fatigue-success.jsonl");
    let findings = replay(&[file]);
    let f = findings
        .iter()
        .find(|f| f.rule == "mfa-fatigue-success")
        .expect("the alert");
    let c = f.correlation.as_ref().unwrap();
    assert_eq!(
        c.story,
        "6 failed MFA challenges for alice from 2 addresses between 09:00 and 09:07 UTC, \
         then a successful sign-in with MFA from 198.51.100.7 at 09:09"
    );
    assert_eq!(c.matched_events, 6, "the failures that led to the sign-in");
    assert_eq!(c.evidence.len(), 6);
    assert_eq!(
        c.completing_event.as_ref().map(|e| e.src.as_str()),
        Some("198.51.100.7")
    );
    // The email: the title, the story, then the details and the evidence.
    let config = DetectorConfig::default();
    let rule = config
        .catalog
        .find_correlation("mfa-fatigue-success")
        .expect("in the pack");
    let text = signin_watch::render::email(&signin_watch::domain::notify::Notice {
        finding: f,
        rule: &rule.meta,
        policy: &config.policy,
    });
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], f.title, "{text}");
    assert_eq!(lines[2], c.story, "{text}");
    assert!(
        text.contains("Severity critical | risk score 90 on user alice"),
        "{text}"
    );
    assert!(text.contains("Window (temporal_ordered)"), "{text}");
    assert!(text.contains("  account         111122223333\n"), "{text}");
    let evidence = lines
        .iter()
        .filter(|l| l.contains(" failed-mfa from "))
        .count();
    assert_eq!(evidence, 6, "{text}");
    let completed = text
        .split("Completed by\n")
        .nth(1)
        .expect("the completing event");
    assert!(
        completed.contains("console-login-success-mfa from 198.51.100.7"),
        "{text}"
    );

    let file = common::repo_path("events/scenarios/concurrent-console-sessions.jsonl");
    let f = &replay(&[file])[0];
    assert_eq!(f.title, "grace signed in from 3 addresses within an hour");
}

#[cfg(feature = "lambda")]
#[test]
fn the_sqs_batches_hold_the_scenarios_and_alert_alike() {
    use signin_watch::lambda::handler::Handler;
    for file in scenario_files() {
        let name = stem(&file);
        let lines: Vec<String> = std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        let batch_path = common::repo_path(&format!("events/sqs/{name}.json"));
        let batch =
            std::fs::read(&batch_path).unwrap_or_else(|e| panic!("{}: {e}", batch_path.display()));
        let parsed: serde_json::Value = serde_json::from_slice(&batch).unwrap();
        let bodies: Vec<&str> = parsed["Records"]
            .as_array()
            .expect("Records")
            .iter()
            .map(|m| m["body"].as_str().expect("a body"))
            .collect();
        assert_eq!(
            bodies, lines,
            "{name}: the batch's bodies are the file's lines"
        );

        let config = DetectorConfig::default();
        let handler = Handler::new(
            Detector::new(config.rules, config.policy, MemoryStore::new()),
            CountingNotifier::new(),
        );
        let summary = common::block_on(handler.handle(&batch))
            .0
            .expect("the batch is handled");
        assert!(summary.failed_messages().is_empty(), "{name}");
        let from_lambda: Vec<Finding> = summary
            .detections
            .into_iter()
            .filter(|f| f.kind == "correlation")
            .collect();
        assert_eq!(alerts(&from_lambda), alerts(&replay(&[file])), "{name}");
    }
}
