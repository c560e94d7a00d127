//! Typed configuration, read once. The Lambda reads it from its environment;
//! `replay` from flags that fall back to the same variables.

pub mod catalog;
pub mod geo;

use std::path::Path;
use std::sync::Arc;

use crate::domain::counter::NotifyPolicy;
use crate::domain::rules::allowlist::{Allowlist, AllowlistError};
use crate::domain::rules::correlation::Correlation;
use crate::domain::rules::{Rule, RuleSet};
use crate::domain::time::Timestamp;
pub use catalog::Catalog;

pub const SUPPRESSION_MINUTES: &str = "SIGNIN_WATCH_SUPPRESSION_MINUTES";
/// Detections of events before this time (RFC 3339) notify nobody: a new
/// deployment warms its counters and baselines from the trail quietly.
pub const QUIET_BEFORE: &str = "SIGNIN_WATCH_QUIET_BEFORE";
pub const ESCALATION_TIERS: &str = "SIGNIN_WATCH_ESCALATION_TIERS";
pub const BUDGET_PER_RULE_HOUR: &str = "SIGNIN_WATCH_NOTIFY_BUDGET_PER_RULE_HOUR";
pub const DISABLED_RULES: &str = "SIGNIN_WATCH_DISABLED_RULES";
pub const RULE2_ALLOW_ISSUERS: &str = "SIGNIN_WATCH_RULE2_ALLOW_ISSUERS";
pub const RULE2_ALLOW_USER_AGENTS: &str = "SIGNIN_WATCH_RULE2_ALLOW_USER_AGENTS";
pub const RULE2_ALLOW_CIDRS: &str = "SIGNIN_WATCH_RULE2_ALLOW_CIDRS";
pub const RULES_DIR: &str = "SIGNIN_WATCH_RULES_DIR";
/// Values of the rules' placeholders (`|expand: '%name%'`): a JSON object
/// of lists, or `name=a,b;other=c`.
pub const PLACEHOLDERS: &str = "SIGNIN_WATCH_PLACEHOLDERS";

/// The rule the `RULE2_ALLOW_*` variables tune.
pub const RULE2: &str = "federated-single-factor";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{var}={value:?}: {reason}")]
pub struct ConfigError {
    pub var: &'static str,
    pub value: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(var: &'static str, value: &str, reason: impl Into<String>) -> Self {
        ConfigError {
            var,
            value: value.to_owned(),
            reason: reason.into(),
        }
    }
}

/// What the detector needs to know.
#[derive(Debug, Clone)]
pub struct DetectorConfig {
    pub policy: NotifyPolicy,
    /// The rules switched on, with their filters.
    pub rules: RuleSet,
    /// Every rule and filter loaded, switched on or not.
    pub catalog: Catalog,
    /// Rules left inactive: their placeholders have no values (the rule's
    /// name, and why).
    pub inactive: Vec<(String, String)>,
}

/// `SIGNIN_WATCH_PLACEHOLDERS`: a JSON object of lists of strings, or
/// `name=a,b;other=c`.
pub fn parse_placeholders(
    value: &str,
) -> Result<std::collections::BTreeMap<String, Vec<String>>, ConfigError> {
    let trimmed = value.trim();
    let mut out: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    if trimmed.starts_with('{') {
        out = serde_json::from_str(trimmed).map_err(|e| {
            ConfigError::new(
                PLACEHOLDERS,
                value,
                format!("not a JSON object of lists of strings: {e}"),
            )
        })?;
    } else {
        for part in trimmed.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, list) = part.split_once('=').ok_or_else(|| {
                ConfigError::new(PLACEHOLDERS, value, format!("{part:?} is not name=a,b"))
            })?;
            let list: Vec<String> = list
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .collect();
            out.insert(name.trim().to_owned(), list);
        }
    }
    // An empty list matches nothing: `not expected` would then hold for
    // every sign-in.
    if let Some((name, _)) = out.iter().find(|(_, list)| list.is_empty()) {
        return Err(ConfigError::new(
            PLACEHOLDERS,
            value,
            format!("{name:?} has no values (a rule on it would match nothing, or everything)"),
        ));
    }
    Ok(out)
}

impl Default for DetectorConfig {
    /// The pack, every rule on, the default policy. The pack is compiled in
    /// and checked by the unit tests, so it always loads.
    fn default() -> Self {
        Self::from_lookup(|_| None).unwrap_or_else(|e| panic!("the compiled pack loads: {e}"))
    }
}

/// A list: a JSON array of strings, or comma-separated (a user agent with a
/// comma in it needs the JSON form).
pub fn parse_list(var: &'static str, value: &str) -> Result<Vec<String>, ConfigError> {
    let trimmed = value.trim();
    if trimmed.starts_with('[') {
        return serde_json::from_str::<Vec<String>>(trimmed).map_err(|e| {
            ConfigError::new(var, value, format!("not a JSON array of strings: {e}"))
        });
    }
    Ok(trimmed
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect())
}

pub fn parse_number<T: std::str::FromStr>(
    var: &'static str,
    value: &str,
    what: &str,
) -> Result<T, ConfigError> {
    value
        .trim()
        .parse()
        .map_err(|_| ConfigError::new(var, value, format!("expected {what}")))
}

impl DetectorConfig {
    /// Reads the configuration through `get` (an environment lookup).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut policy = NotifyPolicy::default();
        if let Some(v) = get(SUPPRESSION_MINUTES) {
            policy.suppression_window_minutes =
                parse_number(SUPPRESSION_MINUTES, &v, "whole minutes (0 or more)")?;
        }
        if let Some(v) = get(QUIET_BEFORE).filter(|v| !v.trim().is_empty()) {
            policy.quiet_before = Some(Timestamp::parse(v.trim()).ok_or_else(|| {
                ConfigError::new(
                    QUIET_BEFORE,
                    &v,
                    "expected a time such as 2026-12-07T00:00:00Z",
                )
            })?);
        }
        if let Some(v) = get(ESCALATION_TIERS) {
            let mut tiers = Vec::new();
            for item in parse_list(ESCALATION_TIERS, &v)? {
                let n: u64 = item.parse().map_err(|_| {
                    ConfigError::new(
                        ESCALATION_TIERS,
                        &v,
                        format!("{item:?} is not a count (expected e.g. 5,25,100)"),
                    )
                })?;
                if n < 2 {
                    return Err(ConfigError::new(
                        ESCALATION_TIERS,
                        &v,
                        "tiers start at 2 (the first detection always notifies)",
                    ));
                }
                tiers.push(n);
            }
            tiers.sort_unstable();
            tiers.dedup();
            policy.escalation_tiers = tiers;
        }
        if let Some(v) = get(BUDGET_PER_RULE_HOUR) {
            policy.budget_per_rule_hour = parse_number(
                BUDGET_PER_RULE_HOUR,
                &v,
                "whole messages per rule per hour (0: no budget)",
            )?;
        }
        let rules_dir = get(RULES_DIR).filter(|d| !d.trim().is_empty());
        let geoip_dir = get(geo::GEOIP_DIR).filter(|d| !d.trim().is_empty());
        let locator = geo::locator(
            rules_dir.as_deref().map(|d| Path::new(d.trim())),
            geoip_dir.as_deref().map(|d| Path::new(d.trim())),
        )?;
        let catalog = match &rules_dir {
            Some(dir) => Catalog::with_dir(Path::new(dir.trim()), &locator)
                .map_err(|e| ConfigError::new(RULES_DIR, dir, e.to_string()))?,
            None => Catalog::pack().map_err(|e| ConfigError::new(RULES_DIR, "", e.to_string()))?,
        };
        let mut disabled: Vec<&Arc<Rule>> = Vec::new();
        let mut disabled_correlations: Vec<&Arc<Correlation>> = Vec::new();
        if let Some(v) = get(DISABLED_RULES) {
            for name in parse_list(DISABLED_RULES, &v)? {
                // A rule with a memory is a rule and a correlation of one name.
                let rule = catalog.find(&name);
                let correlation = catalog.find_correlation(&name);
                disabled.extend(rule);
                disabled_correlations.extend(correlation);
                if rule.is_none() && correlation.is_none() {
                    return Err(ConfigError::new(
                        DISABLED_RULES,
                        &v,
                        format!(
                            "unknown rule {name:?} (known: {})",
                            catalog.names().join(", ")
                        ),
                    ));
                }
            }
        }
        let mut rule2 = Allowlist::default();
        if let Some(v) = get(RULE2_ALLOW_ISSUERS) {
            rule2.issuers = parse_list(RULE2_ALLOW_ISSUERS, &v)?;
        }
        if let Some(v) = get(RULE2_ALLOW_USER_AGENTS) {
            rule2.user_agents = parse_list(RULE2_ALLOW_USER_AGENTS, &v)?;
        }
        if let Some(v) = get(RULE2_ALLOW_CIDRS) {
            rule2.source_cidrs = parse_list(RULE2_ALLOW_CIDRS, &v)?;
        }
        let mut filters = catalog.filters.clone();
        let allowlist = rule2.filter(RULE2).map_err(|e| {
            let (var, value) = match e {
                AllowlistError::Cidr(_) => (RULE2_ALLOW_CIDRS, get(RULE2_ALLOW_CIDRS)),
                AllowlistError::UserAgentAlone => {
                    (RULE2_ALLOW_USER_AGENTS, get(RULE2_ALLOW_USER_AGENTS))
                }
            };
            ConfigError::new(var, &value.unwrap_or_default(), e.to_string())
        })?;
        filters.extend(allowlist.map(Arc::new));
        let placeholders = get(PLACEHOLDERS).unwrap_or_default();
        let values = parse_placeholders(&placeholders)?;
        // A misspelt name would leave its rule inactive without a word.
        let named: Vec<&String> = catalog.rules.iter().flat_map(|r| &r.placeholders).collect();
        if let Some(name) = values.keys().find(|n| !named.contains(n)) {
            return Err(ConfigError::new(
                PLACEHOLDERS,
                &placeholders,
                format!(
                    "no loaded rule names %{name}% (the rules' placeholders: {})",
                    named
                        .iter()
                        .map(|n| format!("%{n}%"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let mut inactive = Vec::new();
        let mut enabled = Vec::new();
        for rule in catalog
            .rules
            .iter()
            .filter(|r| !disabled.iter().any(|d| Arc::ptr_eq(d, r)))
        {
            if rule.placeholders.is_empty() {
                enabled.push(rule.clone());
                continue;
            }
            // A rule with placeholders runs with the settings' values only.
            let missing = rule.missing_placeholders(&values);
            if !missing.is_empty() {
                let why = format!("no values for %{}%", missing.join("%, %"));
                inactive.push((rule.name.clone(), why));
                continue;
            }
            let filled = rule.with_placeholders(&values).map_err(|e| {
                ConfigError::new(
                    PLACEHOLDERS,
                    &placeholders,
                    format!("{:?} does not compile with these values: {e}", rule.name),
                )
            })?;
            enabled.push(Arc::new(filled));
        }
        let correlations = catalog
            .correlations
            .iter()
            .filter(|c| !disabled_correlations.iter().any(|d| Arc::ptr_eq(d, c)))
            .cloned()
            .collect();
        Ok(DetectorConfig {
            policy,
            rules: RuleSet::new(enabled, filters)
                .with_correlations(correlations)
                .with_locator(locator),
            catalog,
            inactive,
        })
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<DetectorConfig, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        DetectorConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.policy, NotifyPolicy::default());
        // Every rule is on but those whose placeholders have no values.
        assert_eq!(c.inactive.len(), 1, "{:?}", c.inactive);
        assert_eq!(
            c.rules.rules().count() + c.inactive.len(),
            c.catalog.rules.len()
        );
        let alerting = c
            .catalog
            .correlations
            .iter()
            .filter(|c| !c.building_block)
            .count();
        assert_eq!(c.rules.correlations().len(), alerting);
        assert!(alerting >= 9, "the pack's correlations");
    }

    #[test]
    fn values_are_read() {
        let c = cfg(&[
            (SUPPRESSION_MINUTES, "15"),
            (ESCALATION_TIERS, "100, 10"),
            (BUDGET_PER_RULE_HOUR, "5"),
            (DISABLED_RULES, "failed-mfa"),
            (
                RULE2_ALLOW_USER_AGENTS,
                r#"["Mozilla/5.0 (X11, Linux)", "Jersey/*"]"#,
            ),
            (RULE2_ALLOW_ISSUERS, "console-broker"),
            (RULE2_ALLOW_CIDRS, "10.0.0.0/8,2001:db8::/32"),
        ])
        .unwrap();
        assert_eq!(c.policy.suppression_window_minutes, 15);
        assert_eq!(c.policy.escalation_tiers, vec![10, 100]);
        assert_eq!(c.policy.budget_per_rule_hour, 5);
        assert_eq!(
            cfg(&[]).unwrap().policy.budget_per_rule_hour,
            20,
            "the default"
        );
        let names: Vec<_> = c.rules.rules().map(|r| r.name.as_str()).collect();
        assert!(
            !names.contains(&"failed-mfa") && names.contains(&"federated-single-factor"),
            "{names:?}"
        );
    }

    #[test]
    fn a_rule_with_placeholders_runs_only_with_their_values() {
        let rule = "console-login-unexpected-country";
        let off = cfg(&[]).unwrap();
        assert!(!off.rules.rules().any(|r| r.name == rule));
        let (name, why) = &off.inactive[0];
        assert_eq!(
            (name.as_str(), why.as_str()),
            (rule, "no values for %expected_countries%")
        );
        for value in [
            "expected_countries=DE, FR",
            r#"{"expected_countries": ["DE", "FR"]}"#,
        ] {
            let on = cfg(&[(PLACEHOLDERS, value)]).unwrap();
            assert!(on.inactive.is_empty());
            let r = on.rules.rules().find(|r| r.name == rule).expect("active");
            let located = |ip: &str| {
                let text = format!(
                    r#"{{"eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin",
                        "responseElements":{{"ConsoleLogin":"Success"}},"sourceIPAddress":"{ip}"}}"#
                );
                let mut record: crate::domain::record::CloudTrailRecord =
                    serde_json::from_str(&text).unwrap();
                record.enrich(on.rules.locator());
                r.matches(&record)
            };
            assert!(located("8.8.8.8"), "the United States is not expected");
            assert!(!located("80.128.0.1"), "Germany is");
        }
        // Other values than the tests': France alone makes Germany unexpected.
        let fr = cfg(&[(PLACEHOLDERS, "expected_countries=FR")]).unwrap();
        let r = fr.rules.rules().find(|r| r.name == rule).expect("active");
        let mut record: crate::domain::record::CloudTrailRecord = serde_json::from_str(
            r#"{"eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin",
                "responseElements":{"ConsoleLogin":"Success"},"sourceIPAddress":"80.128.0.1"}"#,
        )
        .unwrap();
        record.enrich(fr.rules.locator());
        assert!(r.matches(&record));
    }

    #[test]
    fn errors_name_the_variable_and_value() {
        for (var, value) in [
            (SUPPRESSION_MINUTES, "an hour"),
            (QUIET_BEFORE, "yesterday"),
            (SUPPRESSION_MINUTES, "-5"),
            (ESCALATION_TIERS, "5,x"),
            (ESCALATION_TIERS, "1"),
            (BUDGET_PER_RULE_HOUR, "twenty"),
            (BUDGET_PER_RULE_HOUR, "-1"),
            (DISABLED_RULES, "rule-3"),
            (RULE2_ALLOW_CIDRS, "10.0.0.0/40"),
            (RULE2_ALLOW_ISSUERS, "[1,2]"),
            (RULE2_ALLOW_USER_AGENTS, "Jersey/*"),
            (RULES_DIR, "/no/such/rules"),
            (PLACEHOLDERS, "expected_countries"),
            (PLACEHOLDERS, "{\"expected_countries\": \"DE\"}"),
            (PLACEHOLDERS, "expected_countries="),
            (PLACEHOLDERS, "{\"expected_countries\": []}"),
            (PLACEHOLDERS, "expected_country=DE"),
        ] {
            let err = cfg(&[(var, value)]).unwrap_err();
            assert_eq!(err.var, var);
            assert!(err.to_string().starts_with(&format!("{var}=")), "{err}");
        }
    }
}
