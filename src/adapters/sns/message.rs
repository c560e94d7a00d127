//! The SNS message for a finding, built without the SDK so it can be tested
//! on its own: a subject, a body per protocol (`MessageStructure: json`),
//! attributes for subscription filter policies, and FIFO ids.

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::domain::counter::NotifyPolicy;
use crate::domain::finding::{Finding, clean_line};
use crate::domain::rules::Rule;

/// SNS's limit on a whole message, body and attributes together.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// Room kept for attribute names, types and SNS's own accounting.
const BUDGET_BYTES: usize = MAX_MESSAGE_BYTES - 8 * 1024;
const MAX_ATTRIBUTE_CHARS: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeValue {
    String(String),
    Number(String),
    /// A JSON array, as SNS's `String.Array` wants it.
    StringArray(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnsMessage {
    pub subject: String,
    /// The `MessageStructure: json` body: one string per protocol.
    pub body: String,
    pub attributes: Vec<(&'static str, AttributeValue)>,
    /// Set for FIFO topics.
    pub group_id: Option<String>,
    pub deduplication_id: Option<String>,
}

impl SnsMessage {
    pub fn size(&self) -> usize {
        let attrs: usize = self
            .attributes
            .iter()
            .map(|(k, v)| {
                k.len()
                    + match v {
                        AttributeValue::String(s)
                        | AttributeValue::Number(s)
                        | AttributeValue::StringArray(s) => s.len() + 12,
                    }
            })
            .sum();
        self.body.len() + self.subject.len() + attrs
    }
}

pub fn is_fifo_topic(topic_arn: &str) -> bool {
    topic_arn.ends_with(".fifo")
}

/// The message for `finding`. Fields chosen by whoever signed in are cut
/// (in a copy of the finding, so the JSON stays valid) until the message fits.
pub fn build(finding: &Finding, rule: &Rule, policy: &NotifyPolicy, fifo: bool) -> SnsMessage {
    let mut msg = assemble(finding, rule, policy, fifo);
    for max in [4096, 1024, 256, 64] {
        if msg.size() <= BUDGET_BYTES {
            break;
        }
        msg = assemble(&shortened(finding, max), rule, policy, fifo);
    }
    msg
}

fn assemble(finding: &Finding, rule: &Rule, policy: &NotifyPolicy, fifo: bool) -> SnsMessage {
    let text = finding.to_text(rule, policy);
    let json = finding.to_json();
    let body = json!({
        "default": text,
        "email": text,
        "email-json": json,
        "sqs": json,
        "lambda": json,
        "https": json,
    })
    .to_string();
    let attr = |s: &str| AttributeValue::String(clean_line(s, MAX_ATTRIBUTE_CHARS));
    let attributes = vec![
        ("rule_id", attr(finding.rule_id)),
        ("severity", attr(finding.severity.as_str())),
        (
            "risk_score",
            AttributeValue::Number(finding.risk_score.to_string()),
        ),
        ("account", attr(&finding.account)),
        ("user", attr(&finding.user)),
        ("src", attr(&finding.src)),
        (
            "mitre",
            AttributeValue::StringArray(json!(finding.mitre).to_string()),
        ),
    ];
    let (group_id, deduplication_id) = if fifo {
        // Group ids allow ASCII only and at most 128 characters; user names do not.
        let digest = Sha256::digest(finding.group.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        (Some(hex), Some(finding.finding_id.clone()))
    } else {
        (None, None)
    };
    SnsMessage {
        subject: finding.subject(),
        body,
        attributes,
        group_id,
        deduplication_id,
    }
}

fn cut(s: &mut String, max: usize) {
    if s.chars().count() > max {
        *s = s.chars().take(max).collect::<String>() + "…[cut]";
    }
}

fn shortened(finding: &Finding, max: usize) -> Finding {
    let mut f = finding.clone();
    for s in [
        &mut f.title,
        &mut f.event_id,
        &mut f.account,
        &mut f.vendor_account,
        &mut f.region,
        &mut f.vendor_region,
        &mut f.user,
        &mut f.src,
        &mut f.signature,
        &mut f.dest,
        &mut f.group,
    ] {
        cut(s, max);
    }
    f.risk_object.value = f.user.clone();
    f.threat_object.value = f.src.clone();
    for s in [
        &mut f.principal_arn,
        &mut f.identity_type,
        &mut f.session_issuer,
        &mut f.user_agent,
        &mut f.signin_endpoint,
        &mut f.mfa_used,
        &mut f.error_message,
        &mut f.outcome,
    ]
    .into_iter()
    .flatten()
    {
        cut(s, max);
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::counter::{Counters, GroupKey, NotifyReason};
    use crate::domain::finding::EventFacts;
    use crate::domain::identity::Principal;
    use crate::domain::rules::FAILED_MFA;
    use crate::domain::time::Timestamp;

    fn finding(user: &str, agent: &str) -> Finding {
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
        };
        let key = GroupKey {
            rule_id: FAILED_MFA.id.into(),
            account: facts.account.clone(),
            user: user.into(),
            src: facts.src.clone(),
        };
        let c = Counters {
            count: 1,
            first_seen: t,
            last_seen: t,
            last_notified: Some(t),
        };
        Finding::new(
            &FAILED_MFA,
            facts,
            &key,
            &c,
            Some(NotifyReason::FirstDetection),
        )
    }

    #[test]
    fn one_body_per_protocol_and_filter_attributes() {
        let f = finding("alice", "Mozilla/5.0");
        let m = build(&f, &FAILED_MFA, &NotifyPolicy::default(), false);
        let body: serde_json::Value = serde_json::from_str(&m.body).unwrap();
        for proto in ["default", "email", "email-json", "sqs", "lambda", "https"] {
            assert!(body[proto].is_string(), "{proto}");
        }
        assert!(
            body["email"]
                .as_str()
                .unwrap()
                .contains("What to check next")
        );
        let sqs: serde_json::Value = serde_json::from_str(body["sqs"].as_str().unwrap()).unwrap();
        assert_eq!(sqs["finding_id"], f.finding_id);
        let names: Vec<_> = m.attributes.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            names,
            [
                "rule_id",
                "severity",
                "risk_score",
                "account",
                "user",
                "src",
                "mitre"
            ]
        );
        assert!(m.attributes.contains(&(
            "mitre",
            AttributeValue::StringArray(r#"["T1586.003","T1621"]"#.into())
        )));
        assert!(
            m.attributes
                .contains(&("risk_score", AttributeValue::Number("50".into())))
        );
        assert_eq!((m.group_id, m.deduplication_id), (None, None));
        assert!(m.subject.len() < 100 && m.subject.is_ascii());
    }

    #[test]
    fn fifo_ids_are_ascii_and_stable() {
        let f = finding("jürgen\u{202e}", "x");
        let m = build(&f, &FAILED_MFA, &NotifyPolicy::default(), true);
        let g = m.group_id.unwrap();
        assert!(g.len() <= 128 && g.is_ascii());
        assert_eq!(m.deduplication_id.as_deref(), Some(f.finding_id.as_str()));
        assert!(is_fifo_topic("arn:aws:sns:us-east-1:1:findings.fifo"));
        assert!(!is_fifo_topic("arn:aws:sns:us-east-1:1:findings"));
    }

    #[test]
    fn huge_fields_are_cut_and_the_json_stays_valid() {
        let f = finding(&"u".repeat(300_000), &"A\"gent\n".repeat(100_000));
        let m = build(&f, &FAILED_MFA, &NotifyPolicy::default(), false);
        assert!(m.size() <= MAX_MESSAGE_BYTES, "{} bytes", m.size());
        let body: serde_json::Value = serde_json::from_str(&m.body).unwrap();
        let sqs: serde_json::Value = serde_json::from_str(body["sqs"].as_str().unwrap()).unwrap();
        assert!(sqs["user_agent"].as_str().unwrap().ends_with("…[cut]"));
        assert_eq!(sqs["finding_id"], f.finding_id, "ids are never cut");
        for (_, v) in &m.attributes {
            if let AttributeValue::String(s) = v {
                assert!(s.chars().count() <= MAX_ATTRIBUTE_CHARS);
            }
        }
    }
}
