//! A finding or a digest as an event on the detector's event bus
//! (`docs/event-bus.md`): the project's own JSON as `detail`, and beside it
//! `page`, the fields a pager or a chat message needs, already bounded and
//! mapped, so that an EventBridge input transformer only places them.
//!
//! Input transformers insert a string placed *outside* quotes as a JSON
//! string; the example routes (`deploy/finding-routes.yaml`) place every
//! value that way, so that no name chosen by whoever signs in can break out
//! of the payload.

use serde_json::{Value, json};

use super::digest::digest_json;
use super::sanitize::clean_line;
use crate::domain::hash::sha256_hex;
use crate::domain::notify::{DigestNotice, Notice};
use crate::domain::rules::Severity;

/// The events' `source`: the project's own, never `aws.*`.
pub const EVENT_SOURCE: &str = "signin-watch";
/// `detail-type` of a finding's event.
pub const FINDING_DETAIL_TYPE: &str = "signin-watch finding";
/// `detail-type` of a digest's event.
pub const DIGEST_DETAIL_TYPE: &str = "signin-watch digest";

/// PagerDuty's bound on a summary, the tightest of the documented targets.
const MAX_SUMMARY: usize = 1024;
/// A chat notification's title, summary and each next step: a line.
const MAX_CHAT_LINE: usize = 250;
/// The next steps a chat notification lists (the rule's first ones).
const MAX_CHAT_STEPS: usize = 5;

/// The event detail of a finding worth a notification.
pub fn finding_event_detail(notice: &Notice<'_>) -> Value {
    let f = notice.finding;
    let mut detail = serde_json::to_value(f).unwrap_or_else(|e| json!({ "error": e.to_string() }));
    detail["page"] = page(
        &f.title,
        f.severity,
        &f.group,
        &format!("aws account {} {}", f.account, f.region),
        &f.rule,
        f.kind,
    );
    let description = match &f.correlation {
        Some(c) => c.story.clone(),
        None => notice.rule.description.clone(),
    };
    detail["chat"] = chat(&Chat {
        id: &f.finding_id,
        title: &f.title,
        description: &description,
        severity: f.severity,
        group: &f.group,
        rule: notice.rule,
        account: &f.account,
        kind: f.kind,
    });
    detail
}

/// The event detail of a digest.
pub fn digest_event_detail(notice: &DigestNotice<'_>, max_listed: usize) -> Value {
    let d = notice.digest;
    let mut detail = digest_json(notice, max_listed);
    let summary = format!(
        "{} more {} notifications in account {} in the hour from {}",
        d.folded_count, notice.rule.name, d.key.account, d.key.hour
    );
    // One incident per rule, account and hour: a later digest of the hour
    // (late events) updates it.
    let group = format!("digest#{}#{}#{}", d.key.rule_id, d.key.account, d.key.hour);
    detail["page"] = page(
        &summary,
        notice.rule.severity,
        &group,
        &format!("aws account {}", d.key.account),
        &notice.rule.name,
        "digest",
    );
    let id = notice.digest_id();
    let description = format!(
        "More than {} notifications of this rule in account {} in that hour: \
         the rest are counted and listed in this digest, not sent one by one.",
        notice.policy.budget_per_rule_hour, d.key.account
    );
    detail["chat"] = chat(&Chat {
        id: &id,
        title: &summary,
        description: &description,
        severity: notice.rule.severity,
        group: &group,
        rule: notice.rule,
        account: &d.key.account,
        kind: "digest",
    });
    detail
}

/// What a chat notification is made of.
struct Chat<'a> {
    id: &'a str,
    title: &'a str,
    description: &'a str,
    severity: Severity,
    group: &'a str,
    rule: &'a crate::domain::rules::RuleMeta,
    account: &'a str,
    kind: &'a str,
}

/// The finding as an Amazon Q Developer in chat applications (formerly
/// AWS Chatbot) custom notification, whole: a route's input transformer
/// sends `<chat>` to the chat topic as it is. Text in client markdown,
/// escaped so that no name pings a channel; the rule's investigation steps
/// as next steps; a group's notifications in one thread.
fn chat(c: &Chat<'_>) -> Value {
    let steps: Vec<String> = c
        .rule
        .investigation_steps
        .iter()
        .take(MAX_CHAT_STEPS)
        .map(|s| chat_line(s, MAX_CHAT_LINE))
        .collect();
    let thread = format!("signin-watch/{}", sha256_hex([c.group.as_bytes()], 16));
    json!({
        "version": "1.0",
        "source": "custom",
        "id": c.id,
        "content": {
            "textType": "client-markdown",
            "title": chat_line(
                &format!("[{}] {}", c.severity.as_str().to_uppercase(), c.title),
                MAX_CHAT_LINE,
            ),
            "description": chat_line(c.description, MAX_SUMMARY),
            "nextSteps": steps,
            "keywords": [c.severity.as_str(), c.rule.name, c.kind],
        },
        "metadata": {
            "threadId": thread,
            "summary": chat_line(c.title, MAX_CHAT_LINE),
            "eventType": "signin-watch",
            "additionalContext": {
                "rule": c.rule.name,
                "account": clean_line(c.account, 64),
            },
        },
    })
}

/// What a pager or chat message takes: a one-line summary (and, as `text`,
/// escaped for chat markdown), the severity on
/// PagerDuty's scale (`critical`, `error`, `warning`, `info`), a
/// deduplication key of fixed length (the group's hash: a repeat updates
/// one incident), where and what.
fn page(
    summary: &str,
    severity: Severity,
    group: &str,
    source: &str,
    rule: &str,
    kind: &str,
) -> Value {
    let summary = clean_line(summary, MAX_SUMMARY);
    json!({
        "text": chat_line(
            &format!("[{}] {summary}", severity.as_str().to_uppercase()),
            MAX_SUMMARY,
        ),
        "summary": summary,
        "severity": pager_severity(severity),
        "dedup_key": format!("signin-watch/{}", sha256_hex([group.as_bytes()], 16)),
        "source": clean_line(source, 255),
        "component": rule,
        "class": kind,
        "group": "signin-watch",
    })
}

/// One line for Slack's or Teams' markdown, of at most `max` characters
/// once escaped: hidden characters removed, `&`, `<` and `>` escaped as
/// Slack documents, so that no name pings a channel (`<!channel>`) or makes
/// a link; a cut never splits an escape.
fn chat_line(text: &str, max: usize) -> String {
    let clean = clean_line(text, usize::MAX);
    let mut out = String::new();
    let mut len = 0;
    for c in clean.chars() {
        let piece = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            _ => "",
        };
        let width = if piece.is_empty() { 1 } else { piece.len() };
        if len + width > max.saturating_sub(1) {
            out.push('…');
            return out;
        }
        if piece.is_empty() {
            out.push(c);
        } else {
            out.push_str(piece);
        }
        len += width;
    }
    out
}

fn pager_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Informational => "info",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::counter::NotifyPolicy;
    use crate::domain::rules::pack;
    use crate::render::tests::sample_finding;

    #[test]
    fn a_chat_line_is_bounded_once_escaped_and_never_splits_an_escape() {
        let line = chat_line(&"&".repeat(300), 250);
        assert!(line.chars().count() <= 250, "{}", line.chars().count());
        assert!(line.ends_with('…'));
        let body = line.trim_end_matches('…');
        assert_eq!(body.replace("&amp;", ""), "", "only whole escapes: {body}");
        assert_eq!(chat_line("a <b> & c", 250), "a &lt;b&gt; &amp; c");
    }

    #[test]
    fn the_page_is_bounded_and_keyed_by_the_group() {
        let rule = pack::rule("failed-mfa").expect("in the pack");
        let policy = NotifyPolicy::default();
        let long = format!("<!channel>{}\u{202e}\n\"}}", "x".repeat(3000));
        let f = sample_finding(&long, "agent");
        let detail = finding_event_detail(&Notice {
            finding: &f,
            rule: &rule.meta,
            policy: &policy,
        });
        let page = &detail["page"];
        let summary = page["summary"].as_str().expect("a summary");
        assert!(summary.chars().count() <= MAX_SUMMARY);
        assert!(!summary.contains('\n') && !summary.contains('\u{202e}'));
        assert_eq!(page["severity"], "warning");
        let text = page["text"].as_str().expect("a chat line");
        assert!(text.starts_with("[MEDIUM] "), "{text}");
        assert_eq!(page["dedup_key"].as_str().expect("a key").len(), 45);
        // The chat notification, whole, escaped and bounded.
        let chat = &detail["chat"];
        assert_eq!(
            (chat["version"].clone(), chat["source"].clone()),
            (json!("1.0"), json!("custom"))
        );
        assert_eq!(chat["content"]["textType"], "client-markdown");
        let title = chat["content"]["title"].as_str().expect("a title");
        assert!(!title.contains('\n') && !title.contains('<'), "{title}");
        assert!(title.chars().count() <= MAX_CHAT_LINE, "{title}");
        assert!(
            summary.chars().count() <= MAX_SUMMARY,
            "bounded after escaping"
        );
        assert!(
            !chat["content"]["nextSteps"]
                .as_array()
                .expect("steps")
                .is_empty()
        );
        assert_eq!(chat["metadata"]["threadId"], page["dedup_key"]);
        // The finding itself, exact, beside it.
        assert_eq!(detail["user"], long.as_str());
        assert_eq!(detail["finding_id"], f.finding_id.as_str());
    }
}
