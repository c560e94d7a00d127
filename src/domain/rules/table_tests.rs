//! Each rule against a table of records: positives, near misses (one
//! condition off) and unrelated events.

use super::allowlist::Allowlist;
use super::*;

fn record(json: &str) -> CloudTrailRecord<'_> {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

const FAILED_MFA_CASES: &[(&str, bool, &str)] = &[
    // positives
    (
        "IAM user, AWS docs example",
        true,
        r#"{"eventName":"ConsoleLogin","errorMessage":"Failed authentication","userIdentity":{"type":"IAMUser","userName":"anaya","accessKeyId":""},
        "additionalEventData":{"LoginTo":"https://console.aws.amazon.com/console/home","MobileVersion":"No","MFAUsed":"Yes"},"eventSource":"signin.amazonaws.com"}"#,
    ),
    (
        "root, upper-case YES as in AWS docs",
        true,
        r#"{"eventName":"ConsoleLogin","errorMessage":"Failed authentication","userIdentity":{"type":"Root"},"additionalEventData":{"MFAUsed":"YES"}}"#,
    ),
    (
        "keys reordered, extra keys",
        true,
        r#"{"additionalEventData":{"MFAIdentifier":"arn:aws:iam::1:mfa/x","MFAUsed":"yes","Other":[1,2]},"errorMessage":"failed authentication","eventName":"consolelogin"}"#,
    ),
    (
        "no eventType, no arn",
        true,
        r#"{"eventName":"ConsoleLogin","errorMessage":"Failed authentication","additionalEventData":{"MFAUsed":"Yes"},"userIdentity":{"type":"IAMUser"}}"#,
    ),
    (
        "flattened additionalEventData string, read by key",
        true,
        r#"{"eventName":"ConsoleLogin","errorMessage":"Failed authentication","additionalEventData":"{MFAUsed=Yes, MobileVersion=No}"}"#,
    ),
    // near misses
    (
        "success with MFA",
        false,
        r#"{"eventName":"ConsoleLogin","responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"MFAUsed":"Yes"}}"#,
    ),
    (
        "failed password without MFA",
        false,
        r#"{"eventName":"ConsoleLogin","errorMessage":"Failed authentication","additionalEventData":{"MFAUsed":"No"}}"#,
    ),
    (
        "mistyped user name",
        false,
        r#"{"eventName":"ConsoleLogin","errorMessage":"No username found in supplied account","userIdentity":{"type":"IAMUser","userName":"HIDDEN_DUE_TO_SECURITY_REASONS"},"additionalEventData":{"MFAUsed":"No"}}"#,
    ),
    (
        "failed MFA but no additionalEventData",
        false,
        r#"{"eventName":"ConsoleLogin","errorMessage":"Failed authentication"}"#,
    ),
    (
        "MFAUsed Yes but only in MobileVersion position",
        false,
        r#"{"eventName":"ConsoleLogin","errorMessage":"Failed authentication","additionalEventData":{"MobileVersion":"Yes","MFAUsed":"No"}}"#,
    ),
    (
        "CheckMfa, not ConsoleLogin",
        false,
        r#"{"eventName":"CheckMfa","errorMessage":"Failed authentication","additionalEventData":{"MFAUsed":"Yes"}}"#,
    ),
    // unrelated
    (
        "S3 CreateBucket",
        false,
        r#"{"eventName":"CreateBucket","eventSource":"s3.amazonaws.com"}"#,
    ),
    ("empty record", false, "{}"),
];

const FEDERATED_CASES: &[(&str, bool, &str)] = &[
    (
        "federated GetSigninToken without MFA",
        true,
        r#"{"eventSource":"signin.amazonaws.com","eventName":"GetSigninToken","eventType":"AwsConsoleSignIn",
        "userIdentity":{"type":"FederatedUser","arn":"arn:aws:sts::1:federated-user/admin"},"additionalEventData":{"MobileVersion":"No","MFAUsed":"No"}}"#,
    ),
    (
        "older eventType casing, MFAUsed first",
        true,
        r#"{"eventSource":"signin.amazonaws.com","eventName":"GetSigninToken","eventType":"AwsConsoleSignin",
        "userIdentity":{"type":"FederatedUser"},"additionalEventData":{"MFAUsed":"NO","MobileVersion":"No"}}"#,
    ),
    (
        "SSO role GetSigninToken (AssumedRole, AwsApiCall)",
        false,
        r#"{"eventSource":"signin.amazonaws.com","eventName":"GetSigninToken","eventType":"AwsApiCall","userAgent":"Jersey/${project.version}",
        "userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/AWSReservedSSO_Admin_1/jane"}}"#,
    ),
    (
        "federated with MFA",
        false,
        r#"{"eventSource":"signin.amazonaws.com","eventName":"GetSigninToken","eventType":"AwsConsoleSignIn","userIdentity":{"type":"FederatedUser"},"additionalEventData":{"MFAUsed":"Yes"}}"#,
    ),
    (
        "eventType absent",
        false,
        r#"{"eventSource":"signin.amazonaws.com","eventName":"GetSigninToken","userIdentity":{"type":"FederatedUser"},"additionalEventData":{"MFAUsed":"No"}}"#,
    ),
    (
        "other event source",
        false,
        r#"{"eventSource":"sts.amazonaws.com","eventName":"GetSigninToken","eventType":"AwsConsoleSignIn","userIdentity":{"type":"FederatedUser"},"additionalEventData":{"MFAUsed":"No"}}"#,
    ),
    (
        "federated ConsoleLogin",
        false,
        r#"{"eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","eventType":"AwsConsoleSignIn","userIdentity":{"type":"FederatedUser"},"additionalEventData":{"MFAUsed":"No"}}"#,
    ),
    (
        "IAM user console login without MFA",
        false,
        r#"{"eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","eventType":"AwsConsoleSignIn","userIdentity":{"type":"IAMUser"},"additionalEventData":{"MFAUsed":"No"}}"#,
    ),
    (
        "federated GetCallerIdentity",
        false,
        r#"{"eventSource":"sts.amazonaws.com","eventName":"GetCallerIdentity","userIdentity":{"type":"FederatedUser"}}"#,
    ),
];

/// A pack rule by name.
fn pack_rule(name: &str) -> Arc<Rule> {
    pack::rule(name).unwrap_or_else(|| panic!("no pack rule {name}"))
}

fn run_table(rule: &Rule, cases: &[(&str, bool, &str)]) {
    let mut positives = 0;
    for (name, expected, json) in cases {
        assert_eq!(
            rule.matches(&record(json)),
            *expected,
            "{}: {name}",
            rule.name
        );
        positives += usize::from(*expected);
    }
    assert!(
        positives > 0 && positives < cases.len(),
        "a table needs positives and negatives"
    );
}

#[test]
fn failed_mfa_table() {
    run_table(&pack_rule("failed-mfa"), FAILED_MFA_CASES);
}

#[test]
fn federated_single_factor_table() {
    run_table(&pack_rule("federated-single-factor"), FEDERATED_CASES);
}

#[test]
fn the_seed_rules_never_match_the_same_record() {
    let (a, b) = (
        pack_rule("failed-mfa"),
        pack_rule("federated-single-factor"),
    );
    for (_, _, json) in FAILED_MFA_CASES.iter().chain(FEDERATED_CASES) {
        let r = record(json);
        assert!(!(a.matches(&r) && b.matches(&r)));
    }
}

#[test]
fn metadata_is_as_published() {
    let failed = pack_rule("failed-mfa");
    assert_eq!(failed.id, "55349868-5583-466f-98ab-d3beb321961e");
    assert_eq!(
        failed.title,
        "AWS Console Login Failed During MFA Challenge"
    );
    assert_eq!((failed.severity, failed.risk_score), (Severity::Medium, 50));
    assert_eq!(failed.mitre_ids(), ["T1586.003", "T1621"]);
    assert_eq!(failed.source.vendor, "Splunk ESCU");
    assert_eq!(
        failed.title_for("alice", "203.0.113.7", "1"),
        "User alice failed to pass MFA challenge while logging into console from 203.0.113.7"
    );
    let fed = pack_rule("federated-single-factor");
    assert_eq!(fed.id, "1f45720e-5ea8-11ef-90d2-f661ea17fbce");
    assert_eq!(
        fed.title,
        "AWS Signin Single Factor Console Login with Federated User"
    );
    assert_eq!((fed.severity, fed.risk_score), (Severity::Medium, 47));
    assert_eq!(fed.mitre_ids(), ["TA0001", "T1078", "T1078.004"]);
    assert_eq!(fed.source.vendor, "Elastic");
    for (name, severity, risk, mitre) in [
        ("root-console-login", Severity::High, 73, &["T1078.004"][..]),
        (
            "console-login-without-mfa",
            Severity::Medium,
            47,
            &["T1078.004"],
        ),
        (
            "instance-role-console-login",
            Severity::High,
            73,
            &["T1021", "T1550.001", "T1552.005"],
        ),
        ("root-password-recovery", Severity::High, 73, &["T1078.004"]),
    ] {
        let r = pack_rule(name);
        assert_eq!(
            (r.severity, r.risk_score, r.kind),
            (severity, risk, RuleKind::Detection),
            "{name}"
        );
        assert_eq!(r.mitre_ids(), mitre, "{name}");
    }
    for name in [
        "console-login-failure",
        "console-login-success",
        "federated-signin-token",
        "federated-console-login",
        "identity-center-credential-failure",
    ] {
        assert_eq!(pack_rule(name).kind, RuleKind::BuildingBlock, "{name}");
    }
}

#[test]
fn filters_turn_matches_into_allowlisted() {
    let fed = pack_rule("federated-single-factor");
    let one = |list: Allowlist| {
        let filter = Arc::new(list.filter(&fed.name).unwrap().unwrap());
        RuleSet::new(vec![fed.clone()], vec![filter])
    };
    // No source IP in this record: a network allowlist cannot apply.
    let tuned = one(Allowlist {
        source_cidrs: vec!["0.0.0.0/0".into()],
        ..Default::default()
    });
    let verdicts = tuned.evaluate(&record(FEDERATED_CASES[0].2)).verdicts;
    assert_eq!(verdicts.len(), 1);
    assert_eq!(verdicts[0].1, Verdict::Match);
    let with_source = record(
        r#"{"eventSource":"signin.amazonaws.com","eventName":"GetSigninToken","eventType":"AwsConsoleSignIn","sourceIPAddress":"192.0.2.1",
            "userIdentity":{"type":"FederatedUser"},"additionalEventData":{"MFAUsed":"No"}}"#,
    );
    assert!(matches!(
        tuned.evaluate(&with_source).verdicts[0].1,
        Verdict::Allowlisted(_)
    ));
    assert!(
        RuleSet::default()
            .evaluate(&record("{}"))
            .verdicts
            .is_empty()
    );
}
