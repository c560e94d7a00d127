//! Every sample in events/ through the detector: exactly the expected rules
//! fire, and rule 2's allowlists each let the broker sample pass.

mod common;

use std::collections::HashMap;

use signin_watch::adapters::memory_store::MemoryStore;
use signin_watch::app::detector::Detector;
use signin_watch::config::{self, DetectorConfig};

fn fired(config: DetectorConfig, file: &std::path::Path) -> (Vec<&'static str>, usize) {
    let detector = Detector::new(config.rules, config.policy, MemoryStore::new());
    let mut keys = Vec::new();
    let mut allowlisted = 0;
    for outcome in common::process_file(&detector, file) {
        keys.extend(outcome.detections.iter().map(|d| d.rule.key));
        allowlisted += outcome.allowlisted.len();
    }
    (keys, allowlisted)
}

#[test]
fn every_sample_fires_exactly_the_expected_rules() {
    let files = common::event_files();
    let names: Vec<String> = files.iter().map(|f| common::file_name(f)).collect();
    let listed: Vec<&str> = common::FIRES.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names, listed,
        "events/ and the FIRES table must list the same files"
    );
    for (file, (name, want)) in files.iter().zip(common::FIRES) {
        let (got, _) = fired(DetectorConfig::default(), file);
        assert_eq!(&got, want, "{name}");
    }
}

#[test]
fn findings_carry_who_and_where() {
    let detector = Detector::new(Default::default(), Default::default(), MemoryStore::new());
    let findings: Vec<_> = common::process_file(
        &detector,
        &common::sample_path("rule1-failed-mfa-iam-user.json"),
    )
    .into_iter()
    .flat_map(|o| o.detections.into_iter().map(|d| d.finding))
    .collect();
    let f = &findings[0];
    assert_eq!(f.user, "alice");
    assert_eq!(f.principal_arn, None, "failed logins carry no ARN");
    assert_eq!(f.src, "203.0.113.24");
    assert_eq!(f.region, "us-east-2");
    assert_eq!(f.account, "111122223333");
    assert_eq!(f.signature, "ConsoleLogin");
    assert!(f.dest.starts_with("https://console.aws.amazon.com/"));
    assert_eq!(f.mfa_used.as_deref(), Some("Yes"));
    assert_eq!(
        f.title,
        "User alice failed to pass MFA challenge while logging into console from 203.0.113.24"
    );
    assert_eq!(f.count, 1);
    assert!(f.notify);
}

#[test]
fn rule2_allowlists_each_let_the_broker_pass() {
    let broker = common::sample_path("rule2-allowlisted-broker.json");
    let attacker = common::sample_path("rule2-federated-getsignintoken-no-mfa.json");
    for (var, value) in [
        (config::RULE2_ALLOW_ISSUERS, "console-broker"),
        (
            config::RULE2_ALLOW_ISSUERS,
            "arn:aws:iam::111122223333:user/console-broker",
        ),
        (config::RULE2_ALLOW_USER_AGENTS, "console-broker/*"),
        (config::RULE2_ALLOW_CIDRS, "10.0.0.0/8"),
    ] {
        let env: HashMap<&str, &str> = [(var, value)].into();
        let config =
            || DetectorConfig::from_lookup(|k| env.get(k).map(|v| v.to_string())).expect("valid");
        assert_eq!(fired(config(), &broker), (vec![], 1), "{var}={value}");
        assert_eq!(
            fired(config(), &attacker).0,
            vec!["federated-single-factor"],
            "{var}={value} must not hide others"
        );
    }
    let env: HashMap<&str, &str> = [(config::DISABLED_RULES, "federated-single-factor")].into();
    let off = DetectorConfig::from_lookup(|k| env.get(k).map(|v| v.to_string())).expect("valid");
    assert_eq!(fired(off, &attacker), (vec![], 0));
}
