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
        assert_eq!(a["ProductFields"]["signin-watch/account"], f["account"]);
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
    ];
    refuses_each(&moto::python(), "asff_check.py", finding, broken);
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
