//! Typed configuration, read once. The Lambda reads it from its environment;
//! `replay` from flags that fall back to the same variables.

use crate::domain::counter::NotifyPolicy;
use crate::domain::rules::{ALL_RULES, FEDERATED_SINGLE_FACTOR, Rule, RuleSet};
use crate::domain::tuning::{Allowlist, Cidr};

pub const SUPPRESSION_MINUTES: &str = "SIGNIN_WATCH_SUPPRESSION_MINUTES";
pub const ESCALATION_TIERS: &str = "SIGNIN_WATCH_ESCALATION_TIERS";
pub const DISABLED_RULES: &str = "SIGNIN_WATCH_DISABLED_RULES";
pub const RULE2_ALLOW_ISSUERS: &str = "SIGNIN_WATCH_RULE2_ALLOW_ISSUERS";
pub const RULE2_ALLOW_USER_AGENTS: &str = "SIGNIN_WATCH_RULE2_ALLOW_USER_AGENTS";
pub const RULE2_ALLOW_CIDRS: &str = "SIGNIN_WATCH_RULE2_ALLOW_CIDRS";

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
#[derive(Debug, Clone, Default)]
pub struct DetectorConfig {
    pub policy: NotifyPolicy,
    pub rules: RuleSet,
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
        let mut disabled: Vec<&'static Rule> = Vec::new();
        if let Some(v) = get(DISABLED_RULES) {
            for name in parse_list(DISABLED_RULES, &v)? {
                let rule = Rule::by_key_or_id(&name).ok_or_else(|| {
                    let known: Vec<_> = ALL_RULES.iter().map(|r| r.key).collect();
                    ConfigError::new(
                        DISABLED_RULES,
                        &v,
                        format!("unknown rule {name:?} (known: {})", known.join(", ")),
                    )
                })?;
                disabled.push(rule);
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
            rule2.source_cidrs = parse_list(RULE2_ALLOW_CIDRS, &v)?
                .iter()
                .map(|c| {
                    c.parse::<Cidr>()
                        .map_err(|e| ConfigError::new(RULE2_ALLOW_CIDRS, &v, e.to_string()))
                })
                .collect::<Result<_, _>>()?;
        }
        let rules = RuleSet::new(
            ALL_RULES
                .into_iter()
                .filter(|r| !disabled.iter().any(|d| std::ptr::eq(*d, *r)))
                .map(|r| {
                    let allow = if std::ptr::eq(r, &FEDERATED_SINGLE_FACTOR) {
                        rule2.clone()
                    } else {
                        Allowlist::default()
                    };
                    (r, allow)
                }),
        );
        Ok(DetectorConfig { policy, rules })
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
        assert_eq!(c.rules.rules().count(), 2);
    }

    #[test]
    fn values_are_read() {
        let c = cfg(&[
            (SUPPRESSION_MINUTES, "15"),
            (ESCALATION_TIERS, "100, 10"),
            (DISABLED_RULES, "failed-mfa"),
            (
                RULE2_ALLOW_USER_AGENTS,
                r#"["Mozilla/5.0 (X11, Linux)", "Jersey/*"]"#,
            ),
            (RULE2_ALLOW_CIDRS, "10.0.0.0/8,2001:db8::/32"),
        ])
        .unwrap();
        assert_eq!(c.policy.suppression_window_minutes, 15);
        assert_eq!(c.policy.escalation_tiers, vec![10, 100]);
        let ids: Vec<_> = c.rules.rules().map(|r| r.key).collect();
        assert_eq!(ids, vec!["federated-single-factor"]);
    }

    #[test]
    fn errors_name_the_variable_and_value() {
        for (var, value) in [
            (SUPPRESSION_MINUTES, "an hour"),
            (SUPPRESSION_MINUTES, "-5"),
            (ESCALATION_TIERS, "5,x"),
            (ESCALATION_TIERS, "1"),
            (DISABLED_RULES, "rule-3"),
            (RULE2_ALLOW_CIDRS, "10.0.0.0/40"),
            (RULE2_ALLOW_ISSUERS, "[1,2]"),
        ] {
            let err = cfg(&[(var, value)]).unwrap_err();
            assert_eq!(err.var, var);
            assert!(err.to_string().starts_with(&format!("{var}=")), "{err}");
        }
    }
}
