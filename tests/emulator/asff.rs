//! `replay --format asff`: every finding of the samples and scenarios is a
//! finding Security Hub's `BatchImportFindings` takes, as botocore's own
//! model of Security Hub defines the request (`tools/asff_check.py`, run
//! with the venv's botocore).

use serde_json::Value;

use crate::common::checker::{Breakage, check, refuses_each};
use crate::common::cli::{json_lines, replay, text};
use crate::common::{moto, repo_path};

const PRODUCT: &str = "arn:aws:securityhub:eu-west-1:999988887777:product/999988887777/default";

fn replayed(format: &[&str]) -> Vec<Value> {
    let events = repo_path("events");
    let args = [
        &["--no-progress"][..],
        format,
        &[events.to_str().expect("a UTF-8 path")],
    ]
    .concat();
    let out = replay(&args);
    assert!(out.status.success(), "{}", text(&out));
    json_lines(&out)
}

#[test]
fn every_finding_is_one_security_hub_imports() {
    if moto::unavailable("every_finding_is_one_security_hub_imports") {
        return;
    }
    let asff = replayed(&["--format", "asff", "--product-arn", PRODUCT]);
    let own = replayed(&["--format", "json"]);
    assert_eq!(asff.len(), own.len());
    assert!(asff.len() > 40, "the samples and scenarios: {}", asff.len());
    for (a, f) in asff.iter().zip(&own) {
        // The finding belongs to the detector's account; the account signed
        // in to is its resource or the principal's.
        assert_eq!(a["AwsAccountId"], "999988887777");
        assert_eq!(a["ProductArn"], PRODUCT);
        assert_eq!(
            a["GeneratorId"],
            format!("signin-watch/{}", f["rule_id"].as_str().expect("an id"))
        );
        assert_eq!(a["ProductFields"]["signin-watch/group"], f["group"]);
        assert_eq!(
            a["ProductFields"]["signin-watch/count"],
            f["count"].to_string()
        );
        // What the record did not say is left out, not written `unknown`.
        match f["account"].as_str() {
            Some("unknown") => assert!(a["ProductFields"].get("signin-watch/account").is_none()),
            _ => assert_eq!(a["ProductFields"]["signin-watch/account"], f["account"]),
        }
        assert_eq!(
            a["Severity"]["Label"],
            f["severity"].as_str().expect("a severity").to_uppercase()
        );
        assert_eq!(a["CreatedAt"], f["first_seen"]);
        assert_eq!(a["LastObservedAt"], f["last_seen"]);
        if f["src"]
            .as_str()
            .is_some_and(|s| s.parse::<std::net::Ipv4Addr>().is_ok())
        {
            assert_eq!(a["Network"]["SourceIpV4"], f["src"]);
        }
    }
    // Every update of a finding is later than the one before: Security Hub
    // ignores one that is not (detections of a group share a second).
    let mut stamps = std::collections::BTreeMap::new();
    for a in &asff {
        let at =
            signin_watch::domain::time::Timestamp::parse(a["UpdatedAt"].as_str().expect("a time"))
                .expect("ISO 8601");
        if let Some(before) = stamps.insert(a["Id"].to_string(), at) {
            assert!(
                at > before,
                "{} updated at {at}, not after {before}",
                a["Id"]
            );
        }
    }
    // One group is one finding: every detection of a group has its Id.
    let mut ids = std::collections::BTreeMap::new();
    for (a, f) in asff.iter().zip(&own) {
        let id = ids
            .entry(f["group"].to_string())
            .or_insert_with(|| a["Id"].clone());
        assert_eq!(*id, a["Id"], "group {}", f["group"]);
    }
    let distinct: std::collections::BTreeSet<_> = ids.values().map(Value::to_string).collect();
    assert_eq!(distinct.len(), ids.len(), "two groups share an Id");
    let lines: Vec<String> = asff.iter().map(Value::to_string).collect();
    let checked = check(&moto::python(), "asff_check.py", &[], &lines);
    assert!(checked.accepted, "{}", checked.said);
    assert!(checked.said.contains(" 0 problems"), "{}", checked.said);
}

#[test]
fn the_asff_checker_refuses_what_security_hub_refuses() {
    if moto::unavailable("the_asff_checker_refuses_what_security_hub_refuses") {
        return;
    }
    let asff = replayed(&["--format", "asff", "--product-arn", PRODUCT]);
    let finding = &asff[0];
    let broken: Vec<Breakage> = vec![
        (
            "Missing required parameter in Findings[0]: \"Title\"",
            Box::new(|f| {
                f.as_object_mut().expect("an object").remove("Title");
            }),
        ),
        (
            "'URGENT' is not one of",
            Box::new(|f| f["Severity"]["Label"] = "URGENT".into()),
        ),
        (
            "Unknown parameter",
            Box::new(|f| f["Colour"] = "red".into()),
        ),
        (
            "does not match",
            Box::new(|f| f["ProductFields"]["signin-watch/user"] = " ".into()),
        ),
        (
            "is not the product's account",
            Box::new(|f| f["AwsAccountId"] = "111122223333".into()),
        ),
        (
            "more than 256",
            Box::new(|f| f["Title"] = "t".repeat(257).into()),
        ),
        (
            "more than 240 KB",
            Box::new(|f| f["Description"] = "d".repeat(250_000).into()),
        ),
        (
            "is not an ISO 8601 date-time with a zone",
            Box::new(|f| f["UpdatedAt"] = "yesterday".into()),
        ),
        (
            "UpdatedAt: before CreatedAt",
            Box::new(|f| f["UpdatedAt"] = "2001-01-01T00:00:00Z".into()),
        ),
        (
            "is not namespace/category/classifier of ASFF's taxonomy",
            Box::new(|f| f["Types"] = serde_json::json!(["Sign-ins/Odd"])),
        ),
        (
            "'Resource Development' is not a category of TTPs",
            Box::new(|f| f["Types"] = serde_json::json!(["TTPs/Resource Development/T1586.003"])),
        ),
        (
            "Recommendation.Text: more than 512 characters",
            Box::new(|f| {
                f["Remediation"] =
                    serde_json::json!({ "Recommendation": { "Text": "r".repeat(513) } });
            }),
        ),
        (
            "'AWS Internal' is not an IPv4 address",
            Box::new(|f| {
                f["Network"] =
                    serde_json::json!({ "Direction": "IN", "SourceIpV4": "AWS Internal" })
            }),
        ),
    ];
    refuses_each(&moto::python(), "asff_check.py", finding, broken);
    // An update Security Hub would ignore: the same finding twice with the
    // same UpdatedAt.
    let twice = [finding.to_string(), finding.to_string()];
    let checked = check(&moto::python(), "asff_check.py", &[], &twice);
    assert!(!checked.accepted);
    assert!(
        checked.said.contains("which Security Hub would ignore"),
        "{}",
        checked.said
    );
}

#[test]
fn asff_needs_the_product_it_is_imported_into() {
    let events = repo_path("events");
    let out = replay(&[
        "--no-progress",
        "--format",
        "asff",
        events.to_str().expect("a UTF-8 path"),
    ]);
    assert!(!out.status.success());
    assert!(text(&out).contains("--product-arn"), "{}", text(&out));
}
