//! Every sample in events/ through the detector: exactly the expected rules
//! fire, and rule 2's allowlists each let the broker sample pass.

use crate::common;

use std::collections::HashMap;

use signin_watch::adapters::memory_store::MemoryStore;
use signin_watch::app::detector::Detector;
use signin_watch::config::{self, DetectorConfig};

fn fired(config: DetectorConfig, file: &std::path::Path) -> (Vec<String>, usize) {
    let detector = Detector::new(config.rules, config.policy, MemoryStore::new());
    let mut keys = Vec::new();
    let mut allowlisted = 0;
    for outcome in common::process_file(&detector, file) {
        keys.extend(outcome.detections.iter().map(|d| d.rule.name.clone()));
        allowlisted += outcome.allowlisted.len();
    }
    (keys, allowlisted)
}

#[test]
fn every_sample_fires_exactly_the_expected_rules() {
    // What each fires is what the pack's positive tests name: a rule that
    // fires on a sample its tests do not name fails here.
    let fires = common::fires();
    assert!(fires.iter().any(|(_, keys)| !keys.is_empty()));
    for (name, want) in &fires {
        let (got, _) = fired(DetectorConfig::default(), &common::sample_path(name));
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

fn config_of(pairs: &[(&str, &str)]) -> Result<DetectorConfig, config::ConfigError> {
    let env: HashMap<&str, &str> = pairs.iter().copied().collect();
    DetectorConfig::from_lookup(|k| env.get(k).map(|v| v.to_string()))
}

#[test]
fn rule2_allowlists_each_let_the_broker_pass() {
    let broker = common::sample_path("rule2-allowlisted-broker.json");
    let attacker = common::sample_path("rule2-federated-getsignintoken-no-mfa.json");
    let agent = (config::RULE2_ALLOW_USER_AGENTS, "console-broker/*");
    for pairs in [
        &[(config::RULE2_ALLOW_ISSUERS, "console-broker")][..],
        &[(
            config::RULE2_ALLOW_ISSUERS,
            "arn:aws:iam::111122223333:user/console-broker",
        )],
        &[(config::RULE2_ALLOW_CIDRS, "10.0.0.0/8")],
        &[agent, (config::RULE2_ALLOW_CIDRS, "10.0.0.0/8")],
        &[agent, (config::RULE2_ALLOW_ISSUERS, "console-broker")],
    ] {
        let config = || config_of(pairs).expect("valid");
        assert_eq!(fired(config(), &broker), (vec![], 1), "{pairs:?}");
        assert_eq!(
            fired(config(), &attacker).0,
            vec!["federated-single-factor"],
            "{pairs:?} must not hide others"
        );
    }
    let off = config_of(&[(config::DISABLED_RULES, "federated-single-factor")]).expect("valid");
    assert_eq!(fired(off, &attacker), (vec![], 0));
}

/// Whoever signs in sends any user agent: an agent alone is refused, and an
/// agent with a network lets nothing pass from another network.
#[test]
fn a_user_agent_allowlist_needs_an_issuer_or_a_network() {
    let err = config_of(&[(config::RULE2_ALLOW_USER_AGENTS, "console-broker/*")]).unwrap_err();
    assert_eq!(err.var, config::RULE2_ALLOW_USER_AGENTS, "{err}");
    assert!(err.to_string().contains("together with"), "{err}");

    let mut forged = common::sample_json("rule2-federated-getsignintoken-no-mfa.json");
    forged["detail"]["userAgent"] = "console-broker/2.4 (+https://intranet.example.com)".into();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("forged.json");
    std::fs::write(&path, forged.to_string()).expect("write");
    let config = config_of(&[
        (config::RULE2_ALLOW_USER_AGENTS, "console-broker/*"),
        (config::RULE2_ALLOW_CIDRS, "10.0.0.0/8"),
    ])
    .expect("valid");
    assert_eq!(
        fired(config, &path),
        (vec!["federated-single-factor".to_owned()], 0)
    );
}

/// Whoever holds other keys can mint a session under a federated name and
/// address already seen: the group holds the session issuer, so such a
/// session is a new group, with a first detection of its own.
#[test]
fn a_federated_session_from_other_keys_is_another_group() {
    let config = DetectorConfig::default();
    let detector = Detector::new(config.rules, config.policy, MemoryStore::new());
    let dir = tempfile::tempdir().expect("temp dir");
    let mut groups = Vec::new();
    for (i, issuer) in [
        "arn:aws:iam::111122223333:user/ci-deployer",
        "arn:aws:iam::111122223333:user/stolen-keys",
    ]
    .iter()
    .enumerate()
    {
        let mut event = common::sample_json("rule2-federated-getsignintoken-no-mfa.json");
        event["detail"]["eventID"] = format!("issuer-{i}").into();
        event["detail"]["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] =
            (*issuer).into();
        let path = dir.path().join(format!("{i}.json"));
        std::fs::write(&path, event.to_string()).expect("write");
        for outcome in common::process_file(&detector, &path) {
            for d in outcome.detections {
                assert!(d.finding.notify, "a first detection for {issuer}");
                assert!(d.finding.group.ends_with(issuer), "{}", d.finding.group);
                groups.push(d.finding.group);
            }
        }
    }
    assert_eq!(groups.len(), 2);
    assert_ne!(groups[0], groups[1]);
}
