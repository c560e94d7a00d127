//! `replay --format ocsf`: every finding and digest of the samples and
//! scenarios is an OCSF 1.8.0 Detection Finding, as the schema's own files
//! (tests/ocsf/schema) define it, checked by `tools/ocsf_check.py`.

use std::path::PathBuf;

use serde_json::Value;

use crate::common::checker::{Breakage, check, refuses_each};
use crate::common::cli::{json_lines, replay};
use crate::common::repo_path;

fn python() -> PathBuf {
    PathBuf::from(std::env::var_os("PYTHON").unwrap_or_else(|| "python3".into()))
}

/// The samples and scenarios, with a budget of one message per rule and
/// hour so that digests are written too.
fn replayed(format: &str) -> Vec<Value> {
    let events = repo_path("events");
    let out = replay(&[
        "--no-progress",
        "--notify-budget",
        "1",
        "--format",
        format,
        events.to_str().expect("a UTF-8 path"),
    ]);
    assert!(out.status.success(), "{}", crate::common::cli::text(&out));
    json_lines(&out)
}

#[test]
fn every_finding_and_digest_is_an_ocsf_detection_finding() {
    let ocsf = replayed("ocsf");
    let own = replayed("json");
    // One OCSF event for each finding and digest, in the same order.
    assert_eq!(ocsf.len(), own.len());
    let digests = own.iter().filter(|f| f["kind"] == "digest").count();
    assert!(digests > 0, "the budget of 1 folds some notifications");
    for (o, f) in ocsf.iter().zip(&own) {
        assert_eq!(o["class_uid"], 2004);
        assert_eq!(o["metadata"]["version"], "1.8.0");
        if f["kind"] == "digest" {
            assert_eq!(o["count"], f["folded_count"]);
            assert_eq!(o["finding_info"]["types"][0], "digest");
            continue;
        }
        // A group is one finding: its first detection creates it, later
        // ones update it.
        assert_eq!(o["finding_info"]["uid"], f["group"]);
        assert_eq!(o["activity_id"], if f["count"] == 1 { 1 } else { 2 });
        assert_eq!(o["count"], f["count"]);
        assert_eq!(o["start_time"], millis(&f["first_seen"]));
        assert_eq!(o["end_time"], millis(&f["last_seen"]));
        assert_eq!(o["finding_info"]["analytic"]["uid"], f["rule_id"]);
        assert_eq!(o["risk_score"], f["risk_score"]);
        let evidence = &o["evidences"][0];
        assert_eq!(evidence["src_endpoint"]["ip"], f["src"]);
        assert_eq!(evidence["actor"]["user"]["name"], f["user"]);
        if let Some(country) = f["src_geo"]["country"].as_str() {
            assert_eq!(evidence["src_endpoint"]["location"]["country"], country);
        }
        // Every ATT&CK id of the rule is in the attacks.
        let attacks = o["finding_info"]["attacks"].to_string();
        for id in f["mitre"].as_array().expect("mitre ids") {
            assert!(
                attacks.contains(id.as_str().expect("an id")),
                "{id} in {attacks}"
            );
        }
    }
    let lines: Vec<String> = ocsf.iter().map(Value::to_string).collect();
    let checked = check(&python(), "ocsf_check.py", &[], &lines);
    assert!(checked.accepted, "{}", checked.said);
    assert!(
        checked.said.contains(" 0 problems (OCSF 1.8.0)"),
        "{}",
        checked.said
    );
}

#[test]
fn the_ocsf_checker_refuses_what_the_schema_refuses() {
    let ocsf = replayed("ocsf");
    let event = ocsf
        .iter()
        .find(|o| o["finding_info"]["types"][0] == "detection")
        .expect("a detection");
    let broken: Vec<Breakage> = vec![
        (
            "finding_info.uid: is required and missing",
            Box::new(|e| {
                e["finding_info"]
                    .as_object_mut()
                    .expect("an object")
                    .remove("uid");
            }),
        ),
        (
            "severity_id: 9 is not one of",
            Box::new(|e| e["severity_id"] = 9.into()),
        ),
        (
            "time: '2026' is not a timestamp_t",
            Box::new(|e| e["time"] = "2026".into()),
        ),
        (
            "src_endpoint.address: is not an attribute",
            Box::new(|e| {
                e["evidences"][0]["src_endpoint"]["address"] = "x".into();
            }),
        ),
        (
            "cloud: belongs to the cloud profile",
            Box::new(|e| {
                e["metadata"]["profiles"] = serde_json::json!([]);
            }),
        ),
        (
            "type_uid: 200403, expected",
            Box::new(|e| e["type_uid"] = 200403.into()),
        ),
        (
            "metadata.version: '1.0.0'",
            Box::new(|e| e["metadata"]["version"] = "1.0.0".into()),
        ),
        (
            "severity: 'Critical', the caption of severity_id 3 is 'Medium'",
            Box::new(|e| e["severity"] = "Critical".into()),
        ),
        (
            "cloud.account: needs at least one of ['name', 'uid']",
            Box::new(|e| e["cloud"]["account"] = serde_json::json!({ "type_id": 10 })),
        ),
        (
            "attacks[0].tactics: is deprecated",
            Box::new(|e| {
                e["finding_info"]["attacks"][0]["tactics"] = serde_json::json!([{ "name": "x" }]);
            }),
        ),
        (
            "'AWS Internal' does not match ip_t's pattern",
            Box::new(|e| e["evidences"][0]["src_endpoint"]["ip"] = "AWS Internal".into()),
        ),
        (
            "'nosuch' is not a profile of the schema",
            Box::new(|e| {
                e["metadata"]["profiles"] = serde_json::json!(["cloud", "nosuch"]);
            }),
        ),
    ];
    refuses_each(&python(), "ocsf_check.py", event, broken);
    // What the schema allows, it accepts: an activity of Other, with its
    // own caption and type.
    let mut other = event.clone();
    other["activity_id"] = 99.into();
    other["activity_name"] = "Other".into();
    other["type_uid"] = 200499.into();
    other["type_name"] = "Detection Finding: Other".into();
    let checked = check(&python(), "ocsf_check.py", &[], &[other.to_string()]);
    assert!(checked.accepted, "{}", checked.said);
}

#[test]
fn names_chosen_at_sign_in_stay_exact_in_evidence_and_one_line_in_titles() {
    // A user name with a right-to-left override and a line break, and an
    // address CloudTrail gives as a service's name.
    let mut record = crate::common::sample_json("rule1-failed-mfa-iam-user.json");
    let detail = if record.get("detail").is_some() {
        &mut record["detail"]
    } else {
        &mut record
    };
    detail["userIdentity"]["userName"] = "eve\u{202e}\nroot".into();
    detail["sourceIPAddress"] = "AWS Internal".into();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("hostile.json");
    std::fs::write(&path, record.to_string()).expect("written");
    let out = replay(&[
        "--no-progress",
        "--format",
        "ocsf",
        path.to_str().expect("UTF-8"),
    ]);
    assert!(out.status.success(), "{}", crate::common::cli::text(&out));
    let events = json_lines(&out);
    assert!(!events.is_empty(), "the rule still fires");
    for e in &events {
        for text in [&e["message"], &e["finding_info"]["title"]] {
            let text = text.as_str().expect("text");
            assert!(
                !text.contains('\u{202e}') && !text.contains('\n'),
                "{text:?}"
            );
        }
        let evidence = &e["evidences"][0];
        assert_eq!(evidence["actor"]["user"]["name"], "eve\u{202e}\nroot");
        assert_eq!(evidence["src_endpoint"]["name"], "AWS Internal");
        assert!(evidence["src_endpoint"].get("ip").is_none());
    }
    let lines: Vec<String> = events.iter().map(Value::to_string).collect();
    let checked = check(&python(), "ocsf_check.py", &[], &lines);
    assert!(checked.accepted, "{}", checked.said);
}

fn millis(time: &Value) -> i64 {
    let text = time.as_str().expect("a time");
    signin_watch::domain::time::Timestamp::parse(text)
        .expect("an RFC 3339 time")
        .as_millis()
}
