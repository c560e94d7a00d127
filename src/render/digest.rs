//! A digest as people and machines read it: the notifications a rule folded
//! in one hour beyond its budget, one line each.

use std::fmt::Write;

use serde_json::{Value, json};

use super::sanitize::{MAX_SUBJECT_CHARS, ascii_subject, clean_line};
use crate::domain::notify::DigestNotice;

pub const DIGEST_SCHEMA: &str = "signin-watch/digest/v1";

/// The digest's JSON, listing at most `max_listed` folded notifications
/// (the earliest first) and counting the rest.
pub fn digest_json(notice: &DigestNotice<'_>, max_listed: usize) -> Value {
    let d = notice.digest;
    let listed: Vec<_> = d.folded.iter().take(max_listed).collect();
    json!({
        "schema": DIGEST_SCHEMA,
        "kind": "digest",
        "digest_id": notice.digest_id(),
        // What a pager titles and groups by, under a finding's names, so
        // that one template serves both: the subject without its
        // severity, and the rule, account and hour.
        "title": digest_title(notice),
        "group": format!("digest#{}#{}#{}", d.key.rule_id, d.key.account, d.key.hour),
        "rule": notice.rule.name,
        "rule_id": d.key.rule_id,
        "rule_name": notice.rule.title,
        "account": d.key.account,
        "severity": notice.rule.severity.as_str(),
        "risk_score": notice.rule.risk_score,
        "mitre": notice.rule.mitre_ids(),
        "hour_start": d.key.hour,
        "hour_end": d.key.hour_end(),
        "budget_per_rule_hour": notice.policy.budget_per_rule_hour,
        "folded_count": d.folded_count,
        "listed_before": d.listed_before,
        "folded": listed,
        "not_listed": d.folded_count.saturating_sub(listed.len() as u64),
    })
}

/// The digest as an email, listing at most `max_listed`.
pub fn digest_text(notice: &DigestNotice<'_>, max_listed: usize) -> String {
    let d = notice.digest;
    let rule = notice.rule;
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "signin-watch folded {} notifications of \"{}\" ({}) in account {} in the hour from {} to {} (UTC, event time): \
         more than its budget of {} messages per rule, account and hour.",
        d.folded_count,
        clean_line(&rule.title, 200),
        rule.name,
        clean_line(&d.key.account, 64),
        d.key.hour,
        d.key.hour_end(),
        notice.policy.budget_per_rule_hour,
    );
    let _ = writeln!(
        out,
        "Every detection is counted and every finding kept: each line's group is its counter's key (GROUP#<group>) in the counter table."
    );
    if d.listed_before > 0 {
        let _ = writeln!(
            out,
            "An earlier digest for this hour listed {}; events delivered late since bring it to {}.",
            d.listed_before, d.folded_count
        );
    }
    let _ = writeln!(
        out,
        "\nSeverity {}, risk {}, MITRE {}.\n",
        rule.severity.as_str(),
        rule.risk_score,
        rule.mitre_ids().join(", ")
    );
    let _ = writeln!(
        out,
        "event time | account | user | source IP | where | count | group"
    );
    for f in d.folded.iter().take(max_listed) {
        let _ = writeln!(
            out,
            "{} | {} | {} | {} | {} | {} | {}",
            f.event_time,
            clean_line(&f.account, 64),
            clean_line(&f.user, 64),
            clean_line(&f.src, 64),
            clean_line(f.place.as_deref().unwrap_or("-"), 128),
            f.count,
            clean_line(&f.group, 256),
        );
    }
    let rest = d
        .folded_count
        .saturating_sub(d.folded.len().min(max_listed) as u64);
    if rest > 0 {
        let _ = writeln!(
            out,
            "… and {rest} more, in the table and in the function's findings."
        );
    }
    out
}

/// `[SEVERITY] Digest: N more <rule> notifications, <hour>`: printable
/// ASCII, fewer than 100 characters.
pub fn digest_subject(notice: &DigestNotice<'_>) -> String {
    let raw = format!(
        "[{}] {}",
        notice.rule.severity.as_str().to_uppercase(),
        digest_title(notice)
    );
    ascii_subject(&raw, MAX_SUBJECT_CHARS)
}

/// `Digest: N more <rule> notifications, account A, <hour> UTC`.
fn digest_title(notice: &DigestNotice<'_>) -> String {
    let d = notice.digest;
    let hour = d.key.hour.to_string();
    format!(
        "Digest: {} more {} notifications, account {}, {} UTC",
        d.folded_count,
        notice.rule.name,
        d.key.account,
        hour.get(..13).unwrap_or(&hour).replace('T', " ") + ":00",
    )
}
