//! The email rendering of a finding: the title, then who, where, what and
//! when, the counters, MITRE ATT&CK, what to check next, false positives,
//! how to tune and references. Every line is safe whatever the signer chose.

use std::fmt::{self, Write};

use super::sanitize::clean_line;
use crate::domain::correlation::{Evidence, MAX_EVIDENCE};
use crate::domain::finding::{CorrelationFacts, SCHEMA};
use crate::domain::notify::Notice;

const USER_CHARS: usize = 128;
const AGENT_CHARS: usize = 256;
const FIELD_CHARS: usize = 512;

/// The email text of a notice.
pub fn email(notice: &Notice<'_>) -> String {
    let mut text = String::with_capacity(2048);
    // Writing into a String cannot fail.
    let _ = write_email(&mut text, notice);
    text
}

/// Writes the email text of a notice to `out`, stopping at the first error.
pub fn write_email(out: &mut impl Write, notice: &Notice<'_>) -> fmt::Result {
    let Notice {
        finding: f,
        rule,
        policy,
    } = *notice;
    let clean = |s: &str| clean_line(s, FIELD_CHARS);
    let optional = |v: &Option<String>| v.as_deref().map_or_else(|| "-".to_owned(), clean);
    let user = clean_line(&f.user, USER_CHARS);
    let src = clean(&f.src);
    let agent = f
        .user_agent
        .as_deref()
        .map_or_else(|| "-".to_owned(), |a| clean_line(a, AGENT_CHARS));
    let line =
        |out: &mut dyn Write, label: &str, value: &str| writeln!(out, "  {label:<16}{value}");

    writeln!(out, "{}", clean(&f.title))?;
    writeln!(out)?;
    if let Some(c) = &f.correlation {
        // The story first: what happened, in one sentence.
        writeln!(out, "{}", clean(&c.story))?;
        writeln!(out)?;
    }
    writeln!(
        out,
        "Severity {} | risk score {} on {} {} | threat object {} {}",
        f.severity.as_str(),
        f.risk_score,
        f.risk_object.kind,
        clean_line(&f.risk_object.value, USER_CHARS),
        f.threat_object.kind,
        clean(&f.threat_object.value)
    )?;
    writeln!(
        out,
        "Rule: {} ({}, {})",
        f.rule_name, f.rule_source, f.rule_id
    )?;
    match &f.notify_reason {
        Some(why) => writeln!(out, "Why you are told: {}", why.describe(policy))?,
        None => writeln!(
            out,
            "Folded into the counter (within the suppression window)."
        )?,
    }
    writeln!(out)?;
    match &f.correlation {
        Some(c) => write_correlation(out, c)?,
        None => {
            writeln!(out, "Who")?;
            line(out, "User", &user)?;
            line(out, "Identity type", &optional(&f.identity_type))?;
            line(out, "Principal ARN", &optional(&f.principal_arn))?;
            line(out, "Session issuer", &optional(&f.session_issuer))?;
            writeln!(out, "Where")?;
            line(out, "Account", &clean(&f.account))?;
            line(out, "Region", &clean(&f.region))?;
            line(out, "Source IP", &src)?;
            if let Some(geo) = &f.src_geo {
                // "Frankfurt, Germany, AS24940 Hetzner Online GmbH, cloud"
                line(out, "Source network", &clean(&geo.describe()))?;
            }
            line(out, "User agent", &agent)?;
            line(out, "Signing in to", &clean(&f.dest))?;
            line(out, "Sign-in host", &optional(&f.signin_endpoint))?;
            writeln!(out, "What and when")?;
            line(out, "Event", &clean(&f.signature))?;
            line(out, "Event time", &f.event_time.to_string())?;
            line(out, "Event ID", &clean(&f.event_id))?;
            line(out, "MFAUsed", &optional(&f.mfa_used))?;
            line(out, "Error message", &optional(&f.error_message))?;
            line(out, "Outcome", &optional(&f.outcome))?;
        }
    }
    let scope = if f.correlation.is_some() {
        "Counters for this rule and group (one per alert)"
    } else {
        "Counters for this rule, account, user and source IP"
    };
    writeln!(out, "{scope}")?;
    line(out, "Count", &f.count.to_string())?;
    line(out, "First seen", &f.first_seen.to_string())?;
    line(out, "Last seen", &f.last_seen.to_string())?;
    writeln!(out)?;
    writeln!(out, "MITRE ATT&CK")?;
    for tech in &f.mitre_techniques {
        if tech.tactics.is_empty() {
            writeln!(out, "  {} {} (tactic)", tech.id, tech.name)?;
        } else {
            writeln!(
                out,
                "  {} {} ({})",
                tech.id,
                tech.name,
                tech.tactics.join(", ")
            )?;
        }
    }
    writeln!(out)?;
    writeln!(out, "What to check next")?;
    for (i, step) in rule.investigation_steps.iter().enumerate() {
        writeln!(out, "  {}. {step}", i + 1)?;
    }
    writeln!(out)?;
    writeln!(out, "Known false positives")?;
    for fp in &rule.known_false_positives {
        writeln!(out, "  - {fp}")?;
    }
    writeln!(out)?;
    writeln!(out, "How to tune")?;
    writeln!(out, "  {}", rule.tuning)?;
    writeln!(out)?;
    writeln!(out, "References")?;
    for r in &rule.references {
        writeln!(out, "  {r}")?;
    }
    // The rule's own source, unless its references already name it.
    if !rule.references.iter().any(|r| r == &rule.source.url) {
        writeln!(out, "  {}", rule.source.url)?;
    }
    writeln!(out)?;
    writeln!(out, "Finding {} (signin-watch, {})", f.finding_id, SCHEMA)
}

/// A correlation's details: its group, its window, what it counted, and the
/// events it rests on.
fn write_correlation(out: &mut impl Write, c: &CorrelationFacts) -> fmt::Result {
    let clean = |s: &str| clean_line(s, FIELD_CHARS);
    let line =
        |out: &mut dyn Write, label: &str, value: &str| writeln!(out, "  {label:<16}{value}");
    writeln!(out, "Group")?;
    for (name, value) in &c.group_fields {
        line(out, &clean_line(name, 15), &clean(value))?;
    }
    writeln!(out, "Window ({})", c.correlation_type.as_str())?;
    line(out, "From", &c.window_start.to_string())?;
    line(out, "To", &c.window_end.to_string())?;
    line(out, "Events", &c.matched_events.to_string())?;
    if let Some(n) = c.distinct_values {
        line(out, "Distinct values", &n.to_string())?;
    }
    let evidence = |out: &mut dyn Write, e: &Evidence| {
        let value = e
            .value
            .as_deref()
            .map(|v| format!(" value {}", clean_line(v, USER_CHARS)))
            .unwrap_or_default();
        let place = e
            .place
            .as_deref()
            .map(|p| format!(" ({})", clean(p)))
            .unwrap_or_default();
        writeln!(
            out,
            "  {}  {}  {} from {}{place}, user {}{value}",
            e.time,
            clean(&e.event_id),
            clean(&e.rule),
            clean(&e.src),
            clean_line(&e.user, USER_CHARS),
        )
    };
    writeln!(
        out,
        "Evidence (time, eventID, rule, source; up to {MAX_EVIDENCE})"
    )?;
    for e in &c.evidence {
        evidence(out, e)?;
    }
    if let Some(e) = &c.completing_event {
        writeln!(out, "Completed by")?;
        evidence(out, e)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accepts `limit` bytes, then fails every write.
    struct Full {
        limit: usize,
        written: usize,
    }

    impl Write for Full {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            if self.written + s.len() > self.limit {
                return Err(fmt::Error);
            }
            self.written += s.len();
            Ok(())
        }
    }

    #[test]
    fn every_reference_is_listed_once() {
        let finding = crate::render::tests::sample_finding("alice", "agent");
        let policy = Default::default();
        for rule in crate::domain::rules::pack::rules().unwrap() {
            let notice = Notice {
                finding: &finding,
                rule: &rule.meta,
                policy: &policy,
            };
            let text = email(&notice);
            let block = text
                .split("References\n")
                .nth(1)
                .and_then(|rest| rest.split("\n\n").next())
                .unwrap_or_else(|| panic!("{}: no references", rule.meta.name));
            let mut lines: Vec<&str> = block.lines().collect();
            let listed = lines.len();
            lines.sort_unstable();
            lines.dedup();
            assert_eq!(lines.len(), listed, "{}: {block}", rule.meta.name);
            assert!(block.contains(&rule.meta.source.url), "{}", rule.meta.name);
        }
    }

    #[test]
    fn a_failed_write_stops_the_rendering_with_an_error() {
        let finding = crate::render::tests::sample_finding("alice\u{202e}\n", "agent\r\nx");
        let rule = &crate::domain::rules::pack::rule("failed-mfa").unwrap();
        let policy = Default::default();
        let notice = Notice {
            finding: &finding,
            rule,
            policy: &policy,
        };
        let whole = email(&notice);
        assert!(
            whole.starts_with("User alice failed to pass MFA challenge"),
            "{whole}"
        );
        assert!(whole.contains("  User            alice\n"), "{whole}");
        assert!(whole.contains("  User agent      agentx\n"), "{whole}");
        for limit in [0, 10, whole.len() / 2, whole.len() - 1] {
            let mut out = Full { limit, written: 0 };
            assert_eq!(
                write_email(&mut out, &notice),
                Err(fmt::Error),
                "limit {limit}"
            );
        }
        let mut out = Full {
            limit: whole.len(),
            written: 0,
        };
        assert_eq!(write_email(&mut out, &notice), Ok(()));
    }
}
