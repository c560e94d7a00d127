//! The rules compiled into both binaries: every file of `rules/` (filters
//! under `rules/filters/` are examples, not part of the pack), and the files
//! of `events/` their inline tests name.

use std::sync::{Arc, OnceLock};

use super::load::{self, CorrelationSpec, EventFiles, RuleError};
use super::{Origin, Rule};

macro_rules! pack_file {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/rules/", $name)),
        )
    };
}
macro_rules! event_file {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/events/", $name)),
        )
    };
}

/// `rules/*.yml`, by file name, in evaluation order.
pub const FILES: &[(&str, &str)] = &[
    pack_file!("brute-force-success.yml"),
    pack_file!("concurrent-console-sessions.yml"),
    pack_file!("console-brute-force.yml"),
    pack_file!("console-login-failure.yml"),
    pack_file!("console-login-from-cloud.yml"),
    pack_file!("console-login-success-mfa.yml"),
    pack_file!("console-login-success.yml"),
    pack_file!("console-login-unexpected-country.yml"),
    pack_file!("console-login-without-mfa.yml"),
    pack_file!("console-sessions-from-two-countries.yml"),
    pack_file!("failed-mfa.yml"),
    pack_file!("federated-console-login.yml"),
    pack_file!("federated-signin-token.yml"),
    pack_file!("federated-single-factor.yml"),
    pack_file!("federated-token-relay.yml"),
    pack_file!("first-console-sign-in.yml"),
    pack_file!("identity-center-brute-force.yml"),
    pack_file!("identity-center-credential-failure.yml"),
    pack_file!("impossible-travel.yml"),
    pack_file!("instance-role-console-login.yml"),
    pack_file!("mfa-fatigue-success.yml"),
    pack_file!("mfa-fatigue.yml"),
    pack_file!("new-country-for-principal.yml"),
    pack_file!("new-network-for-principal.yml"),
    pack_file!("password-spray.yml"),
    pack_file!("root-console-login-failure.yml"),
    pack_file!("root-console-login.yml"),
    pack_file!("root-from-new-network.yml"),
    pack_file!("root-password-recovery.yml"),
    pack_file!("root-spray-across-accounts.yml"),
    pack_file!("sign-in-from-listed-network.yml"),
];

/// `events/*.json`, by file name.
pub const EVENTS: &[(&str, &str)] = &[
    event_file!("iam-user-console-login-without-mfa.json"),
    event_file!("identity-center-credential-failure.json"),
    event_file!("instance-role-console-login.json"),
    event_file!("root-console-login-success.json"),
    event_file!("root-password-recovery.json"),
    event_file!("rule1-failed-mfa-iam-user.json"),
    event_file!("rule1-failed-mfa-root.json"),
    event_file!("rule1-near-miss-failed-password-no-mfa.json"),
    event_file!("rule1-near-miss-success-with-mfa.json"),
    event_file!("rule2-allowlisted-broker.json"),
    event_file!("rule2-federated-getsignintoken-no-mfa.json"),
    event_file!("rule2-near-miss-federated-with-mfa.json"),
    event_file!("rule2-near-miss-sso-role-getsignintoken.json"),
    event_file!("unrelated-mistyped-user-name.json"),
    event_file!("unrelated-s3-create-bucket.json"),
];

/// The embedded `events/`, for the pack's inline tests.
pub struct PackEvents;

impl EventFiles for PackEvents {
    fn read(&self, name: &str) -> Result<Vec<u8>, String> {
        EVENTS
            .iter()
            .find(|(file, _)| *file == name)
            .map(|(_, text)| text.as_bytes().to_vec())
            .ok_or_else(|| format!("no file events/{name} in the pack"))
    }

    /// Parsed once for all the pack's inline tests: the correlations'
    /// steps name the same few samples over and over.
    fn record(&self, name: &str) -> Result<serde_json::Value, String> {
        static RECORDS: OnceLock<Vec<(&str, Result<serde_json::Value, String>)>> = OnceLock::new();
        let records = RECORDS.get_or_init(|| {
            EVENTS
                .iter()
                .map(|(file, text)| {
                    let parsed = serde_json::from_str::<serde_json::Value>(text)
                        .map(|v| v.get("detail").cloned().unwrap_or(v))
                        .map_err(|e| format!("{file}: {e}"));
                    (*file, parsed)
                })
                .collect()
        });
        records
            .iter()
            .find(|(file, _)| *file == name)
            .map(|(_, record)| record.clone())
            .ok_or_else(|| format!("no file events/{name} in the pack"))?
    }
}

/// What the pack holds: its detection rules, and its correlation rules
/// before linking (a custom rule may replace a rule they name).
#[derive(Debug, Clone)]
pub struct Contents {
    pub rules: Vec<Arc<Rule>>,
    pub correlations: Vec<CorrelationSpec>,
}

/// The pack, parsed once per process.
pub fn contents() -> Result<Contents, RuleError> {
    static PACK: OnceLock<Result<Contents, RuleError>> = OnceLock::new();
    PACK.get_or_init(|| {
        let mut out = Contents {
            rules: Vec::new(),
            correlations: Vec::new(),
        };
        for (name, text) in FILES {
            let loaded = load::parse(Origin::Pack(name), text, &PackEvents)?;
            out.rules.extend(loaded.rules.into_iter().map(Arc::new));
            out.correlations.extend(loaded.correlations);
        }
        Ok(out)
    })
    .clone()
}

/// The pack's detection rules.
pub fn rules() -> Result<Vec<Arc<Rule>>, RuleError> {
    Ok(contents()?.rules)
}

/// The pack rule with this name or id.
pub fn rule(key: &str) -> Option<Arc<Rule>> {
    rules().ok()?.into_iter().find(|r| r.is_named(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::rules::RuleKind;
    use crate::domain::rules::inline::{self, Case};

    fn listing(dir: &str, ext: &str) -> Vec<String> {
        let mut names: Vec<String> =
            std::fs::read_dir(format!("{}/{dir}", env!("CARGO_MANIFEST_DIR")))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(ext))
                .collect();
        names.sort();
        names
    }

    #[test]
    fn the_pack_holds_every_rule_file_and_event_file() {
        let files: Vec<&str> = FILES.iter().map(|(n, _)| *n).collect();
        assert_eq!(files, listing("rules", ".yml"));
        let events: Vec<&str> = EVENTS.iter().map(|(n, _)| *n).collect();
        assert_eq!(events, listing("events", ".json"));
    }

    #[test]
    fn every_pack_rule_passes_its_tests_and_has_the_three_cases() {
        // The pack's tests are written for the embedded geo data.
        let locator = crate::config::geo::locator(None, None).unwrap();
        let rules = rules().unwrap();
        assert!(
            rules.len() + contents().unwrap().correlations.len() >= FILES.len(),
            "every file holds a rule or a correlation"
        );
        let correlations =
            crate::domain::rules::load::link::link(contents().unwrap().correlations, &rules)
                .unwrap();
        // A baseline's or travel's rule is tested as its correlation.
        let with_memory = |rule: &Rule| {
            correlations
                .iter()
                .any(|c| c.id == rule.id && (c.baseline.is_some() || c.travel.is_some()))
        };
        for rule in rules.iter().filter(|r| !with_memory(r)) {
            let failures = inline::run_rule(rule, &locator);
            assert!(failures.is_empty(), "{}: {failures:#?}", rule.name);
            for case in [Case::Positive, Case::NearMiss, Case::Unrelated] {
                assert!(
                    rule.tests.iter().any(|t| t.case == case),
                    "{} lacks a {} test",
                    rule.name,
                    case.as_str()
                );
            }
            if rule.kind == RuleKind::Detection {
                assert!(
                    !rule.investigation_steps.is_empty() && !rule.known_false_positives.is_empty(),
                    "{}",
                    rule.name
                );
                assert!(
                    !rule.references.is_empty() && !rule.tuning.is_empty(),
                    "{}",
                    rule.name
                );
            }
        }
        for c in &correlations {
            let failures = crate::domain::correlation::simulate::run(c, &locator);
            assert!(failures.is_empty(), "{}: {failures:#?}", c.name);
            for case in [Case::Positive, Case::NearMiss, Case::Unrelated] {
                assert!(
                    c.tests.iter().any(|t| t.case == case),
                    "{} lacks a {} test",
                    c.name,
                    case.as_str()
                );
            }
            if !c.building_block {
                assert!(
                    !c.investigation_steps.is_empty() && c.story.is_some(),
                    "{}",
                    c.name
                );
            }
        }
        let mut names: Vec<&str> = rules
            .iter()
            .filter(|r| !with_memory(r))
            .map(|r| r.name.as_str())
            .chain(correlations.iter().map(|c| c.name.as_str()))
            .collect();
        let count = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), count, "names are unique");
    }
}
