//! What an attacker tries against `signin-watch replay`, as a user replays
//! it: a burst of guesses in the success's second, a record dated in the
//! future, one account's noise spending another's budget, and a time that
//! cannot be read.

use crate::common;

use std::path::Path;
use std::process::Output;

use common::sample_detail as detail;
use serde_json::Value;

use common::cli::{json_lines as lines, replay, stderr_text as stderr};

/// The sample's record with `fields` set (dotted paths) and its id and time.
fn record(sample: &str, id: &str, time: &str, fields: &[(&str, Value)]) -> String {
    let mut r = detail(sample);
    r["eventID"] = id.into();
    r["eventTime"] = time.into();
    for (path, value) in fields {
        let mut at = &mut r;
        let parts: Vec<&str> = path.split('.').collect();
        for p in &parts[..parts.len() - 1] {
            at = &mut at[*p];
        }
        at[parts[parts.len() - 1]] = value.clone();
    }
    r.to_string()
}

fn write(dir: &Path, name: &str, records: &[String]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, records.join("\n") + "\n").unwrap();
    path.display().to_string()
}

fn rules_fired<'a>(findings: &'a [Value], rule: &str) -> Vec<&'a Value> {
    findings.iter().filter(|f| f["rule"] == rule).collect()
}

#[test]
fn a_burst_of_failures_in_the_successs_second_is_still_caught() {
    let dir = tempfile::tempdir().unwrap();
    let second = "2026-11-20T10:00:07Z";
    let alice = || ("userIdentity.userName", Value::from("alice"));
    let mut passwords: Vec<String> = (0..6)
        .map(|i| {
            record(
                "rule1-near-miss-failed-password-no-mfa.json",
                &format!("pw-{i}"),
                second,
                &[alice()],
            )
        })
        .collect();
    // The success first: delivery order says nothing within a second.
    passwords.insert(
        0,
        record(
            "rule1-near-miss-success-with-mfa.json",
            "pw-ok",
            second,
            &[alice()],
        ),
    );
    let second_mfa = "2026-11-20T12:00:07Z";
    let mut mfa: Vec<String> = (0..4)
        .map(|i| {
            record(
                "rule1-failed-mfa-iam-user.json",
                &format!("mfa-{i}"),
                second_mfa,
                &[],
            )
        })
        .collect();
    mfa.push(record(
        "rule1-near-miss-success-with-mfa.json",
        "mfa-ok",
        second_mfa,
        &[],
    ));
    let passwords = write(dir.path(), "passwords.jsonl", &passwords);
    let mfa = write(dir.path(), "mfa.jsonl", &mfa);
    let out = replay(&[&passwords, &mfa]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let findings = lines(&out);
    let brute = rules_fired(&findings, "brute-force-success");
    assert_eq!(brute.len(), 1, "{findings:#?}");
    // The failures that led to the success when it was decided: five at
    // least (the threshold), whichever arrived first.
    assert!(brute[0]["matched_events"].as_u64() >= Some(5), "{brute:#?}");
    let fatigue = rules_fired(&findings, "mfa-fatigue-success");
    assert_eq!(fatigue.len(), 1, "{findings:#?}");
    assert_eq!(fatigue[0]["severity"], "critical");
}

/// A federated user's GetSigninToken sign-ins without MFA, a day apart.
fn federated(id: &str, time: &str) -> String {
    record("rule2-federated-getsignintoken-no-mfa.json", id, time, &[])
}

#[test]
fn a_record_dated_in_the_future_silences_nothing_in_an_archive() {
    let dir = tempfile::tempdir().unwrap();
    let genuine: Vec<String> = (1..=4)
        .map(|d| federated(&format!("day-{d}"), &format!("2026-11-0{d}T10:00:00Z")))
        .collect();
    let control = write(dir.path(), "control.jsonl", &genuine);
    let mut forged = vec![federated("forged", "9999-12-31T23:59:59Z")];
    forged.extend(genuine.iter().cloned());
    let forged = write(dir.path(), "forged.jsonl", &forged);

    let notified = |out: &Output| -> Vec<String> {
        lines(out)
            .iter()
            .filter(|f| f["rule"] == "federated-single-factor" && f["notify"] == true)
            .map(|f| f["event_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let want = replay(&[&control]);
    let got = replay(&[&forged]);
    assert_eq!(got.status.code(), Some(0), "{}", stderr(&got));
    let want_ids = notified(&want);
    assert_eq!(want_ids.len(), 4, "{}", stderr(&want));
    let got_ids: Vec<String> = notified(&got)
        .into_iter()
        .filter(|id| id != "forged")
        .collect();
    assert_eq!(
        got_ids, want_ids,
        "the genuine sign-ins notify as without it"
    );
    let summary = stderr(&got);
    assert!(summary.contains("0 too late for correlations"), "{summary}");
    assert!(
        summary.contains("1 dated in the future (counted at the archive's own time)"),
        "{summary}"
    );

    // In CloudTrail log files, each file's delivery time is its clock: the
    // forged record in the first day's file counts then.
    let logs: Vec<String> = genuine
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let day = i + 1;
            let path = dir.path().join(format!(
                "111122223333_CloudTrail_us-east-1_2026110{day}T1005Z_abc.json"
            ));
            let mut records: Vec<Value> = vec![serde_json::from_str(r).unwrap()];
            if day == 1 {
                records.push(
                    serde_json::from_str(&federated("forged", "9999-12-31T23:59:59Z")).unwrap(),
                );
            }
            std::fs::write(&path, serde_json::json!({ "Records": records }).to_string()).unwrap();
            path.display().to_string()
        })
        .collect();
    let args: Vec<&str> = logs.iter().map(String::as_str).collect();
    let got = replay(&args);
    assert_eq!(got.status.code(), Some(0), "{}", stderr(&got));
    let forged_finding = lines(&got)
        .into_iter()
        .find(|f| f["event_id"] == "forged")
        .expect("the forged record is counted");
    assert_eq!(forged_finding["event_time"], "2026-11-01T10:06:00Z");
    let got_ids: Vec<String> = notified(&got)
        .into_iter()
        .filter(|id| id != "forged")
        .collect();
    assert_eq!(got_ids, want_ids);
}

/// A root password recovery (it needs only the root e-mail address).
fn recovery(i: usize, account: &str, time: &str) -> String {
    record(
        "root-password-recovery.json",
        &format!("recovery-{account}-{i}"),
        time,
        &[
            ("sourceIPAddress", format!("203.0.113.{i}").into()),
            ("recipientAccountId", account.into()),
            ("userIdentity.accountId", account.into()),
            ("userIdentity.principalId", account.into()),
            (
                "userIdentity.arn",
                format!("arn:aws:iam::{account}:root").into(),
            ),
        ],
    )
}

#[test]
fn one_accounts_noise_folds_only_its_own_and_replay_shows_what_was_folded() {
    let dir = tempfile::tempdir().unwrap();
    let mut records: Vec<String> = (0..25)
        .map(|i| {
            recovery(
                i,
                "999988887777",
                &format!("2026-11-20T09:{:02}:00Z", i * 2),
            )
        })
        .collect();
    records.push(recovery(0, "111122223333", "2026-11-20T09:55:00Z"));
    let file = write(dir.path(), "recoveries.jsonl", &records);
    let out = replay(&[&file]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let all = lines(&out);
    let (digests, findings): (Vec<&Value>, Vec<&Value>) =
        all.iter().partition(|v| v["kind"] == "digest");
    let production: Vec<&&Value> = findings
        .iter()
        .filter(|f| f["account"] == "111122223333")
        .collect();
    assert_eq!(production.len(), 1);
    assert_eq!(
        production[0]["notify"], true,
        "production's first message is sent"
    );
    assert!(production[0].get("folded").is_none());
    let folded: Vec<&&Value> = findings.iter().filter(|f| f["notify"] == false).collect();
    assert_eq!(folded.len(), 5, "past the sandbox's budget of 20");
    for f in &folded {
        assert_eq!(f["account"], "999988887777");
        let why = f["folded"].as_str().unwrap_or_default();
        assert!(
            why.contains("budget of 20") && why.contains("999988887777"),
            "{why}"
        );
    }
    assert_eq!(digests.len(), 1, "{all:#?}");
    assert_eq!(digests[0]["account"], "999988887777");
    assert_eq!(digests[0]["folded_count"], 5);
    assert!(
        stderr(&out).contains("5 folded into 1 digests"),
        "{}",
        stderr(&out)
    );

    let text = replay(&["--format", "text", &file]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("signin-watch folded 5 notifications")
            && text.contains("in account 999988887777"),
        "{text}"
    );
}

#[test]
fn a_time_that_cannot_be_read_is_reported_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let records = vec![
        record(
            "rule1-failed-mfa-iam-user.json",
            "fine",
            "2026-10-06T12:00:00Z",
            &[],
        ),
        record(
            "rule1-failed-mfa-iam-user.json",
            "bad-time",
            "2026-10-06T12:01:90Z",
            &[],
        ),
    ];
    let file = write(dir.path(), "times.jsonl", &records);
    let out = replay(&[&file]);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{file}:2: record #2: eventTime \"2026-10-06T12:01:90Z\" cannot be read"
        )),
        "{err}"
    );
    assert!(err.contains("1 with an unreadable eventTime"), "{err}");
    // Counted at the archive's own time, inside the correlation's horizon.
    assert!(err.contains("0 too late for correlations"), "{err}");
    let findings = lines(&out);
    let bad = findings
        .iter()
        .find(|f| f["event_id"] == "bad-time")
        .expect("counted");
    assert_eq!(bad["event_time"], "2026-10-06T12:00:00Z");
}
