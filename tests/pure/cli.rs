//! The `signin-watch replay` command as a user runs it.

use crate::common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;

/// `signin-watch replay ARGS`, not yet run.
fn replay_command(args: &[&str]) -> Command {
    cli::signin_watch(&[&["replay"], args].concat())
}

use common::cli::{self, json_lines as lines, replay, stderr_text as stderr};

fn sample(name: &str) -> String {
    common::sample_path(name).display().to_string()
}

use common::sample_detail as detail;

/// The sample's CloudTrail record as one compact line.
fn record_line(name: &str) -> String {
    detail(name).to_string()
}

#[test]
fn replays_the_samples_with_the_documented_fields() {
    // The samples (events/ holds the scenarios too, which the scenarios test reads).
    let samples: Vec<String> = common::event_files()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let args: Vec<&str> = samples.iter().map(String::as_str).collect();
    let out = replay(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let findings = lines(&out);
    assert_eq!(findings.len(), 8);
    for f in &findings {
        for field in [
            "rule_id",
            "rule",
            "kind",
            "rule_name",
            "event_id",
            "event_time",
            "account",
            "region",
            "user",
            "src",
            "src_geo",
            "user_agent",
            "risk_score",
            "severity",
            "mitre",
            "title",
            "count",
            "first_seen",
            "last_seen",
            "notify",
            "finding_id",
        ] {
            assert!(f.get(field).is_some(), "missing {field} in {f}");
        }
        assert!(f["first_seen"].as_str().unwrap().ends_with('Z'));
    }
    let err = stderr(&out);
    assert!(
        err.contains("15 records read (14 sign-in), 8 detections, 8 notifications, 0 duplicates"),
        "{err}"
    );
}

#[test]
fn a_redelivered_event_yields_no_second_line() {
    let s = sample("rule1-failed-mfa-iam-user.json");
    let out = replay(&[&s, &s, &s]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(lines(&out).len(), 1);
    assert!(stderr(&out).contains("2 duplicates"), "{}", stderr(&out));
}

#[test]
fn a_malformed_line_is_reported_with_file_and_line_and_the_rest_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.jsonl");
    let good = record_line("rule1-failed-mfa-iam-user.json");
    let cut = &good[..good.len() / 2];
    let other = record_line("rule1-failed-mfa-root.json");
    std::fs::write(&path, format!("{good}\nthis is not json\n{cut}\n{other}\n")).unwrap();
    let out = replay(&[&path.display().to_string()]);
    assert_eq!(out.status.code(), Some(1), "bad records give exit status 1");
    let err = stderr(&out);
    let shown = path.display().to_string();
    assert!(
        err.contains(&format!(
            "{shown}:2: record #2: text outside any JSON object"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("{shown}:3: record #3: a JSON value cut short")),
        "{err}"
    );
    assert!(err.contains("2 bad records"), "{err}");
    let findings = lines(&out);
    let users: Vec<_> = findings
        .iter()
        .map(|f| f["user"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        users,
        ["alice", "root"],
        "records around the bad lines are still read"
    );
}

/// Line 1 is cut inside a string; line 2 is a failed-MFA sign-in whose user
/// agent holds an escaped quote with its backslash at byte 63, the last byte
/// of the 64-byte block where line 1 is cut. Its detection must not be lost.
#[test]
fn a_sign_in_after_a_line_cut_short_is_still_detected() {
    let cut = "{\"a\":\"tru\n";
    let prefix = "{\"userAgent\":\"";
    let mut record = detail("rule1-failed-mfa-iam-user.json");
    record.as_object_mut().unwrap().remove("userAgent");
    let pad = "x".repeat(63 - cut.len() - prefix.len());
    let line = format!(
        "{prefix}{pad}\\\"quoted\\\" agent\",{}",
        &record.to_string()[1..]
    );
    let text = format!("{cut}{line}\n");
    assert_eq!(text.find('\\'), Some(63), "the premise of the test");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.jsonl");
    std::fs::write(&path, text).unwrap();
    let out = replay(&[&path.display().to_string()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "{}:1: record #1: a JSON value cut short",
            path.display()
        )),
        "{}",
        stderr(&out)
    );
    let findings = lines(&out);
    assert_eq!(findings.len(), 1, "{}", stderr(&out));
    assert_eq!(findings[0]["user"], "alice");
    assert_eq!(
        findings[0]["user_agent"],
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"quoted\" agent"
    );
}

#[test]
fn an_unreadable_path_is_a_clear_error() {
    let out = replay(&["/no/such/archive.json.gz"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot read /no/such/archive.json.gz"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn invalid_settings_name_the_variable() {
    let out = cli::signin_watch(&[])
        .args([
            "replay",
            "--escalation-tiers",
            "5,lots",
            &sample("rule1-failed-mfa-root.json"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("SIGNIN_WATCH_ESCALATION_TIERS=\"5,lots\""),
        "{}",
        stderr(&out)
    );
}

fn gzip(text: &str) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(text.as_bytes()).unwrap();
    gz.finish().unwrap()
}

/// A CloudTrail S3 log file's text holding these records' texts.
fn s3_text(records: &[String]) -> String {
    format!("{{\"Records\":[{}]}}", records.join(","))
}

/// A CloudTrail S3 log file's text holding the samples' records.
fn records_file(names: &[&str]) -> String {
    let records: Vec<String> = names.iter().map(|n| record_line(n)).collect();
    s3_text(&records)
}

fn write_s3_file(dir: &Path, names: &[&str]) -> String {
    let body = records_file(names);
    let sub = dir.join("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20");
    std::fs::create_dir_all(&sub).unwrap();
    let path = sub.join("111122223333_CloudTrail_us-east-1_20261120T0920Z_abc.json.gz");
    std::fs::write(&path, gzip(&body)).unwrap();
    path.display().to_string()
}

#[test]
fn reads_the_s3_layout_from_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    write_s3_file(
        dir.path(),
        &[
            "rule1-near-miss-success-with-mfa.json",
            "rule2-federated-getsignintoken-no-mfa.json",
            "unrelated-s3-create-bucket.json",
        ],
    );
    std::fs::write(
        dir.path().join("README.md"),
        "not a log file, skipped when walking",
    )
    .unwrap();
    let out = replay(&[&dir.path().display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let findings = lines(&out);
    assert_eq!(findings.len(), 1);
    assert_eq!(
        findings[0]["rule_id"],
        "1f45720e-5ea8-11ef-90d2-f661ea17fbce"
    );
    assert!(
        stderr(&out).contains("3 records read (2 sign-in)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn every_gzip_member_is_read_and_a_damaged_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    // Two members in one file, as `cat a.gz b.gz > c.gz` makes.
    let (root, iam) = (
        "rule1-failed-mfa-root.json",
        "rule1-failed-mfa-iam-user.json",
    );
    let two = dir.path().join("two-members.jsonl.gz");
    let members = [
        gzip(&format!("{}\n", record_line(root))),
        gzip(&format!("{}\n", record_line(iam))),
    ];
    std::fs::write(&two, members.concat()).unwrap();
    let out = replay(&[&two.display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let ids: Vec<_> = lines(&out).iter().map(|f| f["event_id"].clone()).collect();
    assert_eq!(
        ids,
        [
            detail(root)["eventID"].clone(),
            detail(iam)["eventID"].clone()
        ]
    );

    // An S3 file of the same two records without its last 12 bytes: the
    // end of the deflate stream and the gzip trailer (checksum and length)
    // are missing.
    let whole = gzip(&records_file(&[root, iam]));
    let cut = dir.path().join("cut.json.gz");
    std::fs::write(&cut, &whole[..whole.len() - 12]).unwrap();
    let out = replay(&[&cut.display().to_string()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("{}: reading stopped", cut.display())),
        "{}",
        stderr(&out)
    );
}

#[test]
fn text_format_renders_the_email() {
    let out = replay(&["--format", "text", &sample("rule1-failed-mfa-root.json")]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with(
        "User root failed to pass MFA challenge while logging into console from 198.51.100.77"
    ));
    for part in [
        "What to check next",
        "Known false positives",
        "How to tune",
        "T1621 Multi-Factor Authentication Request Generation",
    ] {
        assert!(text.contains(part), "missing {part}");
    }
}

#[test]
fn rule2_is_tuned_from_flags_and_from_the_environment() {
    let broker = sample("rule2-allowlisted-broker.json");
    let out = replay(&["--rule2-allow-issuers", "console-broker", &broker]);
    assert_eq!(lines(&out).len(), 0);
    assert!(stderr(&out).contains("1 allowlisted"), "{}", stderr(&out));
    let out = cli::signin_watch(&[])
        .args(["replay", &broker])
        .env("SIGNIN_WATCH_RULE2_ALLOW_CIDRS", "10.20.0.0/16")
        .output()
        .unwrap();
    assert_eq!(lines(&out).len(), 0);
    assert!(stderr(&out).contains("1 allowlisted"));
}

/// `signin-watch replay ARCHIVE | head`: once its output is closed, the
/// replay stops taking files and exits, instead of reading the rest of the
/// archive for nothing. The second file is a FIFO that nobody writes to:
/// opening it would block for ever, so the test waits a minute at most.
#[cfg(unix)]
#[test]
fn a_closed_output_stops_the_replay_before_the_next_file() {
    let dir = tempfile::tempdir().unwrap();
    // Enough findings to fill the output buffer while the first file is
    // still being read, then records that keep the reader busy a while.
    let mut text = String::new();
    let mut record = detail("rule1-failed-mfa-iam-user.json");
    for i in 0..2000 {
        record["eventID"] = format!("finding-{i}").into();
        text += &format!("{record}\n");
    }
    let filler = record_line("unrelated-s3-create-bucket.json");
    for _ in 0..10_000 {
        text += &format!("{filler}\n");
    }
    let first = dir.path().join("first.jsonl");
    std::fs::write(&first, text).unwrap();
    let fifo = dir.path().join("never-written.jsonl");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );

    let (first, fifo) = (first.to_str().unwrap(), fifo.to_str().unwrap());
    let mut child = replay_command(&["--threads", "1", "--no-progress", first, fifo])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status =
        status.unwrap_or_else(|| panic!("still running a minute after its output closed: {err}"));
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("writing findings"), "{err}");
}

/// A record's text with `eventVersion` first, as CloudTrail writes it (a
/// `serde_json::Value` would sort the keys).
fn eventversion_first(record: &serde_json::Value) -> String {
    let mut rest = record.clone();
    let version = rest
        .as_object_mut()
        .unwrap()
        .remove("eventVersion")
        .unwrap();
    format!("{{\"eventVersion\":{version},{}", &rest.to_string()[1..])
}

/// Whoever makes an API call chooses its request parameters, and CloudTrail
/// logs them verbatim. Here they hold an object that parses as a failed MFA
/// sign-in of another user. Splitting the S3 file at `},{"eventVersion":`
/// would take it for a record (the test checks that premise); the replay
/// counts brackets from the start of the file and must not.
#[test]
fn a_sign_in_planted_in_request_parameters_is_not_a_record() {
    let mut planted = detail("rule1-failed-mfa-iam-user.json");
    planted["eventID"] = "0badc0de-0000-4000-8000-000000000000".into();
    planted["userIdentity"]["userName"] = "planted-victim".into();
    let planted = eventversion_first(&planted);
    let mut carrier = detail("unrelated-s3-create-bucket.json");
    carrier["requestParameters"] = serde_json::json!({ "tagging": "PLACEHOLDER" });
    let carrier = eventversion_first(&carrier).replace(
        r#""PLACEHOLDER""#,
        &format!(r#"[{{"Key":"a"}},{planted},{{"eventVersion":"x"}}]"#),
    );
    let genuine = detail("rule1-failed-mfa-root.json");
    let body = s3_text(&[carrier, eventversion_first(&genuine)]);

    let anchor = r#"},{"eventVersion":"#;
    let segments: Vec<String> = body
        .split(anchor)
        .map(|s| format!("{{\"eventVersion\":{s}}}"))
        .collect();
    assert!(
        segments
            .iter()
            .any(|s| serde_json::from_str::<serde_json::Value>(s)
                .is_ok_and(|v| v["userIdentity"]["userName"] == "planted-victim")),
        "an anchor split would not find the planted record: the test proves nothing"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("planted.json.gz");
    std::fs::write(&path, gzip(&body)).unwrap();
    let out = replay(&[&path.display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let ids: Vec<_> = lines(&out).iter().map(|f| f["event_id"].clone()).collect();
    assert_eq!(ids, [genuine["eventID"].clone()]);
    assert!(
        stderr(&out).contains("2 records read (1 sign-in)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn replays_a_scenario_and_prints_its_correlation() {
    let file = common::repo_path("events/scenarios/mfa-fatigue.jsonl");
    let out = replay(&[&file.display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let correlations: Vec<serde_json::Value> = lines(&out)
        .into_iter()
        .filter(|f| f["kind"] == "correlation")
        .collect();
    assert_eq!(correlations.len(), 1, "{correlations:?}");
    assert_eq!(correlations[0]["rule"], "mfa-fatigue");
    assert_eq!(correlations[0]["matched_events"], 5);
    let text = replay(&["--format", "text", &file.display().to_string()]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(
            "5 failed MFA challenges for alice from 1 address between 01:03 and 01:07 UTC"
        ),
        "{text}"
    );
    // The SQS batch of the same scenario gives the same correlation.
    let batch = common::repo_path("events/sqs/mfa-fatigue.json");
    let out = replay(&[&batch.display().to_string()]);
    let from_batch: Vec<serde_json::Value> = lines(&out)
        .into_iter()
        .filter(|f| f["kind"] == "correlation")
        .collect();
    assert_eq!(from_batch, correlations);
}

#[test]
fn rules_check_counts_correlations() {
    let file = common::repo_path("tests/rules/correlations/burst-50.yml");
    let out = cli::signin_watch(&[])
        .args(["rules", "check", &file.display().to_string()])
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ok (0 rules, 1 correlations, 0 filters)"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn an_event_older_than_the_lateness_horizon_is_counted_as_too_late() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("late.jsonl");
    let line = |id: &str, time: &str| {
        String::from_utf8(common::sample_variant(
            "rule1-failed-mfa-iam-user.json",
            id,
            time,
        ))
        .unwrap()
    };
    // Two days apart, the later first: the earlier is past mfa-fatigue's
    // horizon (24 hours and its 10 minutes) for alice.
    std::fs::write(
        &file,
        format!(
            "{}\n{}\n",
            line("new", "2026-11-22T09:00:00Z"),
            line("old", "2026-11-20T09:00:00Z")
        ),
    )
    .unwrap();
    let out = replay(&[&file.display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let summary = stderr(&out);
    let late: u64 = summary
        .split(" too late for correlations")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(late >= 1, "{summary}");
    // In time order, nothing is late.
    std::fs::write(
        &file,
        format!(
            "{}\n{}\n",
            line("old", "2026-11-20T09:00:00Z"),
            line("new", "2026-11-22T09:00:00Z")
        ),
    )
    .unwrap();
    let out = replay(&[&file.display().to_string()]);
    assert!(
        stderr(&out).contains(" 0 too late for correlations"),
        "{}",
        stderr(&out)
    );
}

/// A sign-in record from `ip` as one line.
fn sign_in_from(event_id: &str, ip: &str) -> String {
    serde_json::json!({
        "eventVersion": "1.08",
        "eventID": event_id,
        "eventTime": "2026-12-01T09:00:00Z",
        "eventSource": "signin.amazonaws.com",
        "eventName": "ConsoleLogin",
        "awsRegion": "us-east-1",
        "recipientAccountId": "111122223333",
        "sourceIPAddress": ip,
        "userIdentity": {"type": "IAMUser", "userName": "dana", "accountId": "111122223333",
                         "arn": "arn:aws:iam::111122223333:user/dana"},
        "responseElements": {"ConsoleLogin": "Success"},
        "additionalEventData": {"MFAUsed": "Yes"}
    })
    .to_string()
}

#[test]
fn a_user_rule_on_the_network_owner_and_a_watched_list_fire_where_they_must() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(rules.join("networks")).unwrap();
    std::fs::write(
        rules.join("hetzner-de.yml"),
        r#"title: Console sign-in from Hetzner in Germany
id: 0c8e5a52-6a43-4d3e-9a0e-5a1f3f1b7e01
name: hetzner-de
logsource: {product: aws, service: cloudtrail}
detection:
  selection:
    eventSource: signin.amazonaws.com
    src_asn: 24940
    src_country: DE
  condition: selection
level: low
"#,
    )
    .unwrap();
    std::fs::write(
        rules.join("networks/tor.txt"),
        "# exits\nseverity: critical\n185.220.101.0/24\n",
    )
    .unwrap();
    let records = dir.path().join("records.jsonl");
    std::fs::write(
        &records,
        [
            sign_in_from("hetzner", "88.198.0.1"),
            sign_in_from("telekom", "80.128.0.1"),
            sign_in_from("tor", "185.220.101.33"),
        ]
        .join("\n"),
    )
    .unwrap();
    let out = replay(&[
        "--rules",
        rules.to_str().unwrap(),
        records.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let findings = lines(&out);
    let fired = |rule: &str| -> Vec<&str> {
        findings
            .iter()
            .filter(|f| f["rule"] == rule)
            .map(|f| f["event_id"].as_str().unwrap())
            .collect()
    };
    // The owner and country rule: Hetzner in Germany, not Telekom in Germany.
    assert_eq!(fired("hetzner-de"), ["hetzner"], "{findings:#?}");
    assert_eq!(fired("console-login-from-cloud"), ["hetzner"]);
    // The watched list: the finding takes the list's severity and its score.
    assert_eq!(fired("sign-in-from-listed-network"), ["tor"]);
    let tor = findings
        .iter()
        .find(|f| f["rule"] == "sign-in-from-listed-network")
        .unwrap();
    assert_eq!(tor["severity"], "critical");
    assert_eq!(tor["risk_score"], 90);
    assert_eq!(tor["src_geo"]["network"], "tor");
    assert_eq!(tor["src_geo"]["watch"]["severity"], "critical");
    // Every finding says where its source is.
    for f in &findings {
        assert!(f["src_geo"]["source"].is_string(), "{f}");
    }
    let hetzner = findings.iter().find(|f| f["rule"] == "hetzner-de").unwrap();
    assert_eq!(hetzner["src_geo"]["asn"], 24940);
    assert_eq!(hetzner["src_geo"]["network"], "cloud");
}
