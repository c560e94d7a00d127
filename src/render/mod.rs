//! Presentation: a finding as people and machines read it. A correlation's
//! title and story, the email text, the SNS subject, the JSON line, and the
//! sanitising of text that whoever signs in chooses. Used alike by the
//! detector, the SNS adapter and `replay`.

mod asff;
mod correlation;
mod digest;
mod email;
mod event;
mod ocsf;
pub mod report;
mod sanitize;

pub use asff::{ProductTarget, asff_finding};
pub use correlation::{correlation_finding, story};
pub use digest::{DIGEST_SCHEMA, digest_json, digest_subject, digest_text};
pub use email::{email, write_email};
pub use event::{
    DIGEST_DETAIL_TYPE, EVENT_SOURCE, FINDING_DETAIL_TYPE, digest_event_detail,
    finding_event_detail,
};
pub use ocsf::{OCSF_VERSION, ocsf_digest, ocsf_finding, ocsf_line};
pub use sanitize::{
    MAX_SUBJECT_CHARS, ascii_subject, attribute_value, clean_line, escape_hidden_in_json, is_hidden,
};

use crate::domain::finding::Finding;

/// The finding as one JSON line (`docs/finding.md`): fields exact, escaped
/// by the JSON encoder, hidden characters as `\uXXXX` escapes.
pub fn json(finding: &Finding) -> String {
    // A finding holds strings, numbers and options only, which always serialise.
    escape_hidden_in_json(
        serde_json::to_string(finding).unwrap_or_else(|e| format!(r#"{{"error":"{e}"}}"#)),
    )
}

/// An SNS subject: `[SEVERITY] title`, printable ASCII only, fewer than 100
/// characters.
pub fn subject(finding: &Finding) -> String {
    let title = clean_line(&finding.title, MAX_SUBJECT_CHARS);
    let raw = format!("[{}] {}", finding.severity.as_str().to_uppercase(), title);
    ascii_subject(&raw, MAX_SUBJECT_CHARS)
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::domain::counter::{Counters, GroupKey, NotifyReason};
    use crate::domain::finding::Finding;
    use crate::domain::identity::Principal;
    use crate::domain::observed::EventFacts;
    use crate::domain::rules::pack;
    use crate::domain::time::Timestamp;

    /// A first failed-MFA detection of `user`, from `agent`.
    pub(crate) fn sample_finding(user: &str, agent: &str) -> Finding {
        let t = Timestamp::from_millis(1_763_600_000_000);
        let facts = EventFacts {
            event_id: "ev-1".into(),
            event_time: t,
            account: "111122223333".into(),
            region: "us-east-1".into(),
            principal: Principal {
                user: user.into(),
                identity_type: Some("IAMUser".into()),
                arn: None,
                session_issuer: None,
            },
            src: "203.0.113.7".into(),
            user_agent: Some(agent.into()),
            signature: "ConsoleLogin".into(),
            dest: "https://console.aws.amazon.com/".into(),
            mfa_used: Some("Yes".into()),
            error_message: Some("Failed authentication".into()),
            outcome: Some("Failure".into()),
            signin_endpoint: None,
            src_geo: Some(std::sync::Arc::new(
                crate::domain::geo::Locator::default().locate("203.0.113.7"),
            )),
        };
        let rule = pack::rule("failed-mfa").expect("the pack holds failed-mfa");
        let key = GroupKey::detection(&rule.id, &facts.account, user, &facts.src, None);
        let c = Counters {
            count: 1,
            first_seen: t,
            last_seen: t,
            last_notified: Some(t),
        };
        Finding::new(&rule, facts, &key, &c, Some(NotifyReason::FirstDetection))
    }

    #[test]
    fn subjects_name_the_severity_and_stay_ascii() {
        let f = sample_finding("jürgen\u{202e}", "x");
        let subject = super::subject(&f);
        assert!(
            subject.starts_with("[MEDIUM] User j?rgen failed"),
            "{subject}"
        );
        assert!(subject.len() < 100 && subject.is_ascii());
        let json: serde_json::Value = serde_json::from_str(&super::json(&f)).unwrap();
        assert_eq!(
            json["user"], "jürgen\u{202e}",
            "the JSON keeps the name exact"
        );
    }
}
