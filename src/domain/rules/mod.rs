//! Detection rules: published metadata plus a pure, synchronous check.
//!
//! A rule holds no state; counting and notification live in the counter
//! store. Values are compared ignoring ASCII case, as Splunk's search does.

mod failed_mfa;
mod federated_single_factor;

use serde::Serialize;

use super::record::CloudTrailRecord;
use super::tuning::{Allowlist, AllowlistHit};

pub use failed_mfa::FAILED_MFA;
pub use federated_single_factor::FEDERATED_SINGLE_FACTOR;

/// Every rule this build knows, in evaluation order.
pub const ALL_RULES: [&Rule; 2] = [&FAILED_MFA, &FEDERATED_SINGLE_FACTOR];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// A MITRE ATT&CK technique or tactic a rule is tagged with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Technique {
    pub id: &'static str,
    pub name: &'static str,
    /// The tactics the technique serves; empty for a tactic tag itself.
    pub tactics: &'static [&'static str],
}

/// Where a rule comes from upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RuleSource {
    pub vendor: &'static str,
    pub url: &'static str,
    /// The upstream revision this implementation follows.
    pub version: &'static str,
    pub status: &'static str,
}

/// The field a risk or threat object is taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ObjectRef {
    pub field: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// A rule: metadata and a check. `matches` is pure: the same record always
/// gives the same answer.
#[derive(Debug)]
pub struct Rule {
    pub id: &'static str,
    /// Short name used in configuration (`failed-mfa`, `federated-single-factor`).
    pub key: &'static str,
    pub name: &'static str,
    pub source: RuleSource,
    pub description: &'static str,
    pub severity: Severity,
    pub risk_score: u8,
    pub risk_object: ObjectRef,
    pub threat_object: ObjectRef,
    pub mitre: &'static [Technique],
    /// With `$user$` and `$src$` placeholders, as Splunk writes them.
    pub title_template: &'static str,
    pub references: &'static [&'static str],
    pub known_false_positives: &'static [&'static str],
    pub investigation_steps: &'static [&'static str],
    pub tuning: &'static str,
    pub matches: fn(&CloudTrailRecord<'_>) -> bool,
}

impl Rule {
    pub fn mitre_ids(&self) -> Vec<&'static str> {
        self.mitre.iter().map(|t| t.id).collect()
    }

    /// The rule's title with the placeholders filled in.
    pub fn title(&self, user: &str, src: &str) -> String {
        self.title_template
            .replace("$user$", user)
            .replace("$src$", src)
    }

    pub fn by_key_or_id(name: &str) -> Option<&'static Rule> {
        ALL_RULES
            .into_iter()
            .find(|r| r.key.eq_ignore_ascii_case(name) || r.id.eq_ignore_ascii_case(name))
    }
}

/// What a rule made of a record it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Match,
    /// The rule matched, and an allowlist the operator configured said to let it pass.
    Allowlisted(AllowlistHit),
}

/// The rules switched on, each with its allowlist.
#[derive(Debug, Clone)]
pub struct RuleSet {
    entries: Vec<(&'static Rule, Allowlist)>,
}

impl Default for RuleSet {
    fn default() -> Self {
        Self::new(ALL_RULES.iter().map(|r| (*r, Allowlist::default())))
    }
}

impl RuleSet {
    pub fn new(entries: impl IntoIterator<Item = (&'static Rule, Allowlist)>) -> Self {
        Self {
            entries: entries.into_iter().collect(),
        }
    }

    pub fn rules(&self) -> impl Iterator<Item = &'static Rule> + '_ {
        self.entries.iter().map(|(r, _)| *r)
    }

    /// Every enabled rule's verdict on `record`, in rule order, leaving out
    /// the rules that do not match.
    pub fn evaluate(&self, record: &CloudTrailRecord<'_>) -> Vec<(&'static Rule, Verdict)> {
        let mut out = Vec::new();
        for (rule, allow) in &self.entries {
            if !(rule.matches)(record) {
                continue;
            }
            let verdict = match allow.check(record) {
                Some(hit) => Verdict::Allowlisted(hit),
                None => Verdict::Match,
            };
            out.push((*rule, verdict));
        }
        out
    }
}

#[cfg(test)]
mod table_tests;
