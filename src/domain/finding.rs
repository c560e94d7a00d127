//! A finding: one detection, with everything a person needs to act on it.
//!
//! The JSON form is documented in `docs/finding.md` and stable: fields are
//! only ever added. User names and user agents are chosen by whoever attempts
//! the sign-in, so the text and subject forms strip control characters and
//! bound their length; the JSON form keeps them exact (JSON-escaped).

use std::borrow::Cow;
use std::fmt::Write as _;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::counter::{Counters, GroupKey, NotifyPolicy, NotifyReason};
use super::identity::Principal;
use super::rules::{Rule, Severity, Technique};
use super::time::Timestamp;

pub const SCHEMA: &str = "signin-watch/finding/v1";
/// SNS wants a subject of fewer than 100 characters.
pub const MAX_SUBJECT_CHARS: usize = 99;
const TEXT_USER_CHARS: usize = 128;
const TEXT_AGENT_CHARS: usize = 256;
const TEXT_FIELD_CHARS: usize = 512;

/// The typed object a risk or threat score attaches to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScoredObject {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub field: &'static str,
    pub value: String,
}

/// Facts about the detected event, taken from the record and its envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFacts {
    pub event_id: String,
    pub event_time: Timestamp,
    pub account: String,
    pub region: String,
    pub principal: Principal,
    pub src: String,
    pub user_agent: Option<String>,
    pub signature: String,
    pub dest: String,
    pub mfa_used: Option<String>,
    pub error_message: Option<String>,
    pub outcome: Option<String>,
    pub signin_endpoint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub schema: &'static str,
    pub finding_id: String,
    pub rule_id: &'static str,
    pub rule_name: &'static str,
    pub rule_source: &'static str,
    pub severity: Severity,
    pub risk_score: u8,
    pub risk_object: ScoredObject,
    pub threat_object: ScoredObject,
    /// Technique and tactic ids.
    pub mitre: Vec<&'static str>,
    pub mitre_techniques: &'static [Technique],
    pub title: String,
    pub event_id: String,
    pub event_time: Timestamp,
    pub account: String,
    pub region: String,
    pub user: String,
    pub principal_arn: Option<String>,
    pub identity_type: Option<String>,
    pub session_issuer: Option<String>,
    pub src: String,
    pub user_agent: Option<String>,
    pub signin_endpoint: Option<String>,
    // Splunk's grouping fields, under Splunk's names.
    pub signature: String,
    pub dest: String,
    pub vendor_account: String,
    pub vendor_region: String,
    pub vendor_product: &'static str,
    #[serde(rename = "MFAUsed")]
    pub mfa_used: Option<String>,
    #[serde(rename = "errorMessage")]
    pub error_message: Option<String>,
    pub outcome: Option<String>,
    pub group: String,
    pub count: u64,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub notify: bool,
    pub notify_reason: Option<NotifyReason>,
}

/// `sha256(rule_id \n event_id)`, first 128 bits in hex: the same event and
/// rule always give the same id, so a re-sent finding can be deduplicated.
pub fn finding_id(rule_id: &str, event_id: &str) -> String {
    let digest = Sha256::new()
        .chain_update(rule_id.as_bytes())
        .chain_update(b"\n")
        .chain_update(event_id.as_bytes())
        .finalize();
    digest[..16]
        .iter()
        .fold(String::with_capacity(32), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

impl Finding {
    pub fn new(
        rule: &'static Rule,
        facts: EventFacts,
        key: &GroupKey,
        counters: &Counters,
        notify: Option<NotifyReason>,
    ) -> Self {
        let user = facts.principal.user.clone();
        Finding {
            schema: SCHEMA,
            finding_id: finding_id(rule.id, &facts.event_id),
            rule_id: rule.id,
            rule_name: rule.name,
            rule_source: rule.source.vendor,
            severity: rule.severity,
            risk_score: rule.risk_score,
            risk_object: ScoredObject {
                kind: rule.risk_object.kind,
                field: rule.risk_object.field,
                value: user.clone(),
            },
            threat_object: ScoredObject {
                kind: rule.threat_object.kind,
                field: rule.threat_object.field,
                value: facts.src.clone(),
            },
            mitre: rule.mitre_ids(),
            mitre_techniques: rule.mitre,
            title: rule.title(&user, &facts.src),
            event_id: facts.event_id,
            event_time: facts.event_time,
            vendor_account: facts.account.clone(),
            vendor_region: facts.region.clone(),
            account: facts.account,
            region: facts.region,
            user,
            principal_arn: facts.principal.arn,
            identity_type: facts.principal.identity_type,
            session_issuer: facts.principal.session_issuer,
            src: facts.src,
            user_agent: facts.user_agent,
            signin_endpoint: facts.signin_endpoint,
            signature: facts.signature,
            dest: facts.dest,
            vendor_product: "AWS CloudTrail",
            mfa_used: facts.mfa_used,
            error_message: facts.error_message,
            outcome: facts.outcome,
            group: key.id(),
            count: counters.count,
            first_seen: counters.first_seen,
            last_seen: counters.last_seen,
            notify: notify.is_some(),
            notify_reason: notify,
        }
    }

    pub fn to_json(&self) -> String {
        // Serialising plain strings, numbers and options cannot fail.
        serde_json::to_string(self).unwrap_or_else(|e| format!(r#"{{"error":"{e}"}}"#))
    }

    /// An SNS subject: printable ASCII only, fewer than 100 characters.
    pub fn subject(&self) -> String {
        let title = clean_line(&self.title, MAX_SUBJECT_CHARS);
        let raw = format!("[{}] {}", self.severity.as_str().to_uppercase(), title);
        ascii_subject(&raw, MAX_SUBJECT_CHARS)
    }

    /// The human rendering for email.
    pub fn to_text(&self, rule: &Rule, policy: &NotifyPolicy) -> String {
        let mut t = String::with_capacity(2048);
        let user = clean_line(&self.user, TEXT_USER_CHARS);
        let src = clean_line(&self.src, TEXT_FIELD_CHARS);
        let agent = self
            .user_agent
            .as_deref()
            .map(|a| clean_line(a, TEXT_AGENT_CHARS));
        let line = |t: &mut String, label: &str, value: &str| {
            let _ = writeln!(t, "  {label:<16}{value}");
        };
        let opt = |v: &Option<String>| {
            v.as_deref()
                .map(|s| clean_line(s, TEXT_FIELD_CHARS))
                .unwrap_or_else(|| "-".into())
        };

        let _ = writeln!(t, "{}", clean_line(&self.title, TEXT_FIELD_CHARS));
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "Severity {} | risk score {} on user {} | threat object {} {}",
            self.severity.as_str(),
            self.risk_score,
            user,
            self.threat_object.kind,
            src
        );
        let _ = writeln!(
            t,
            "Rule: {} ({}, {})",
            self.rule_name, self.rule_source, self.rule_id
        );
        match &self.notify_reason {
            Some(why) => {
                let _ = writeln!(t, "Why you are told: {}", why.describe(policy));
            }
            None => {
                let _ = writeln!(
                    t,
                    "Folded into the counter (within the suppression window)."
                );
            }
        }
        let _ = writeln!(t);
        let _ = writeln!(t, "Who");
        line(&mut t, "User", &user);
        line(&mut t, "Identity type", &opt(&self.identity_type));
        line(&mut t, "Principal ARN", &opt(&self.principal_arn));
        line(&mut t, "Session issuer", &opt(&self.session_issuer));
        let _ = writeln!(t, "Where");
        line(
            &mut t,
            "Account",
            &clean_line(&self.account, TEXT_FIELD_CHARS),
        );
        line(
            &mut t,
            "Region",
            &clean_line(&self.region, TEXT_FIELD_CHARS),
        );
        line(&mut t, "Source IP", &src);
        line(&mut t, "User agent", agent.as_deref().unwrap_or("-"));
        line(
            &mut t,
            "Signing in to",
            &clean_line(&self.dest, TEXT_FIELD_CHARS),
        );
        line(&mut t, "Sign-in host", &opt(&self.signin_endpoint));
        let _ = writeln!(t, "What and when");
        line(
            &mut t,
            "Event",
            &clean_line(&self.signature, TEXT_FIELD_CHARS),
        );
        line(&mut t, "Event time", &self.event_time.to_string());
        line(
            &mut t,
            "Event ID",
            &clean_line(&self.event_id, TEXT_FIELD_CHARS),
        );
        line(&mut t, "MFAUsed", &opt(&self.mfa_used));
        line(&mut t, "Error message", &opt(&self.error_message));
        line(&mut t, "Outcome", &opt(&self.outcome));
        let _ = writeln!(t, "Counters for this rule, account, user and source IP");
        line(&mut t, "Count", &self.count.to_string());
        line(&mut t, "First seen", &self.first_seen.to_string());
        line(&mut t, "Last seen", &self.last_seen.to_string());
        let _ = writeln!(t);
        let _ = writeln!(t, "MITRE ATT&CK");
        for tech in self.mitre_techniques {
            if tech.tactics.is_empty() {
                let _ = writeln!(t, "  {} {} (tactic)", tech.id, tech.name);
            } else {
                let _ = writeln!(
                    t,
                    "  {} {} ({})",
                    tech.id,
                    tech.name,
                    tech.tactics.join(", ")
                );
            }
        }
        let _ = writeln!(t);
        let _ = writeln!(t, "What to check next");
        for (i, step) in rule.investigation_steps.iter().enumerate() {
            let _ = writeln!(t, "  {}. {step}", i + 1);
        }
        let _ = writeln!(t);
        let _ = writeln!(t, "Known false positives");
        for fp in rule.known_false_positives {
            let _ = writeln!(t, "  - {fp}");
        }
        let _ = writeln!(t);
        let _ = writeln!(t, "How to tune");
        let _ = writeln!(t, "  {}", rule.tuning);
        let _ = writeln!(t);
        let _ = writeln!(t, "References");
        for r in rule.references {
            let _ = writeln!(t, "  {r}");
        }
        let _ = writeln!(t, "  {}", rule.source.url);
        let _ = writeln!(t);
        let _ = writeln!(t, "Finding {} (signin-watch, {})", self.finding_id, SCHEMA);
        t
    }
}

/// Attacker-chosen text made safe for one line of a message: control
/// characters, line and paragraph separators and bidirectional overrides
/// removed, and at most `max` characters (an ellipsis marks a cut).
pub fn clean_line(text: &str, max: usize) -> String {
    let is_unsafe = |c: char| {
        c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
    };
    let cleaned: Cow<str> = if text.chars().any(is_unsafe) {
        Cow::Owned(text.chars().filter(|c| !is_unsafe(*c)).collect())
    } else {
        Cow::Borrowed(text)
    };
    truncate_chars(&cleaned, max, "…")
}

fn truncate_chars(text: &str, max: usize, mark: &str) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let keep = max.saturating_sub(mark.chars().count());
    let mut out: String = text.chars().take(keep).collect();
    out.push_str(mark);
    out
}

/// Printable ASCII only (others become `?`), at most `max` characters,
/// never empty, starting with a printable non-space character.
pub fn ascii_subject(text: &str, max: usize) -> String {
    let ascii: String = text
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .collect();
    let trimmed = ascii.trim();
    let out = truncate_chars(
        if trimmed.is_empty() {
            "signin-watch finding"
        } else {
            trimmed
        },
        max,
        "...",
    );
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn finding_ids_are_stable_and_distinct() {
        let a = finding_id("r1", "e1");
        assert_eq!(a, finding_id("r1", "e1"));
        assert_eq!(a.len(), 32);
        assert_ne!(a, finding_id("r2", "e1"));
        assert_ne!(a, finding_id("r1", "e2"));
        // Pinned: changing the id scheme breaks FIFO deduplication across versions.
        assert_eq!(
            finding_id(
                "55349868-5583-466f-98ab-d3beb321961e",
                "d38ce1b3-4575-4cb8-a632-611b8243bfc3"
            )
            .len(),
            32
        );
    }

    #[test]
    fn clean_line_strips_breaks_and_bidi() {
        assert_eq!(clean_line("ali\nce\r\t\u{202e}x\u{2028}", 100), "alicex");
        assert_eq!(clean_line("abcdef", 4), "abc…");
        assert_eq!(clean_line("abcd", 4), "abcd");
    }

    proptest! {
        #[test]
        fn subjects_are_short_printable_ascii(s in "\\PC{0,300}", ctl in "[\\x00-\\x1f\\x7f]{0,5}") {
            let subject = ascii_subject(&format!("{ctl}{s}{ctl}"), MAX_SUBJECT_CHARS);
            prop_assert!(!subject.is_empty());
            prop_assert!(subject.chars().count() <= MAX_SUBJECT_CHARS);
            prop_assert!(subject.chars().all(|c| (' '..='~').contains(&c)), "{subject:?}");
            prop_assert!(!subject.starts_with(' '));
        }

        #[test]
        fn clean_lines_have_no_control_characters(s in "\\PC{0,600}", ctl in "[\\x00-\\x1f]{0,5}") {
            let out = clean_line(&format!("{s}{ctl}{s}"), 128);
            prop_assert!(out.chars().count() <= 128);
            prop_assert!(!out.chars().any(|c| c.is_control()));
        }
    }
}
