//! The SNS message for a finding, built without the SDK so it can be tested
//! on its own: a subject, a body per protocol (`MessageStructure: json`),
//! attributes for subscription filter policies, and FIFO ids.

use serde_json::json;

use crate::domain::finding::Finding;
use crate::domain::hash::sha256_hex;
use crate::domain::notify::{DigestNotice, Notice};
use crate::render::{self, attribute_value, escape_hidden_in_json};

/// SNS's limit on a whole message, body and attributes together.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// Room kept for attribute names, types and SNS's own accounting.
const BUDGET_BYTES: usize = MAX_MESSAGE_BYTES - 8 * 1024;
const MAX_ATTRIBUTE_CHARS: usize = 256;

/// A message attribute's value, by SNS data type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageAttribute {
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
    pub attributes: Vec<(&'static str, MessageAttribute)>,
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
                        MessageAttribute::String(s)
                        | MessageAttribute::Number(s)
                        | MessageAttribute::StringArray(s) => s.len() + 12,
                    }
            })
            .sum();
        self.body.len() + self.subject.len() + attrs
    }
}

/// What the machine protocols (`sqs`, `lambda`, `https`, `email-json`)
/// receive: the project's finding JSON, or an OCSF Detection Finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MachineBody {
    #[default]
    Finding,
    Ocsf,
}

pub fn is_fifo_topic(topic_arn: &str) -> bool {
    topic_arn.ends_with(".fifo")
}

/// The message for a notice. Fields chosen by whoever signed in are cut (in
/// a copy of the finding, so the JSON stays valid) until the message fits.
pub fn build(notice: &Notice<'_>, fifo: bool) -> SnsMessage {
    build_as(notice, fifo, MachineBody::Finding)
}

/// [`build`], the machines' body as `body` says.
pub fn build_as(notice: &Notice<'_>, fifo: bool, body: MachineBody) -> SnsMessage {
    let mut msg = assemble(notice, fifo, body);
    for max in CUTS {
        if msg.size() <= BUDGET_BYTES {
            break;
        }
        let shorter = shortened(notice.finding, max);
        msg = assemble(
            &Notice {
                finding: &shorter,
                ..*notice
            },
            fifo,
            body,
        );
    }
    msg
}

/// The `MessageStructure: json` body: the text for email and the default,
/// the JSON for machines; hidden characters as `\uXXXX` escapes.
fn protocol_bodies(text: &str, json: &str) -> String {
    escape_hidden_in_json(
        json!({
            "default": text,
            "email": text,
            "email-json": json,
            "sqs": json,
            "lambda": json,
            "https": json,
        })
        .to_string(),
    )
}

fn assemble(notice: &Notice<'_>, fifo: bool, machine: MachineBody) -> SnsMessage {
    let finding = notice.finding;
    let text = render::email(notice);
    let json = match machine {
        MachineBody::Finding => render::json(finding),
        MachineBody::Ocsf => render::ocsf_line(&render::ocsf_finding(notice)),
    };
    let body = protocol_bodies(&text, &json);
    let attr = |s: &str| MessageAttribute::String(attribute_value(s, MAX_ATTRIBUTE_CHARS));
    let mut attributes = vec![
        ("rule_id", attr(&finding.rule_id)),
        ("rule", attr(&finding.rule)),
        ("severity", attr(finding.severity.as_str())),
        (
            "risk_score",
            MessageAttribute::Number(finding.risk_score.to_string()),
        ),
        ("account", attr(&finding.account)),
        ("user", attr(&finding.user)),
        ("src", attr(&finding.src)),
        (
            "mitre",
            MessageAttribute::StringArray(json!(finding.mitre).to_string()),
        ),
    ];
    // For subscription filter policies on where a sign-in came from; SNS
    // takes ten attributes at most, and these make ten.
    if let Some(geo) = &finding.src_geo {
        if let Some(country) = &geo.country {
            attributes.push(("src_country", attr(country)));
        }
        attributes.push(("src_network", attr(&geo.network)));
    }
    let (group_id, deduplication_id) = if fifo {
        // Group ids allow ASCII only and at most 128 characters; user names do not.
        let group = sha256_hex([finding.group.as_bytes()], 32);
        (Some(group), Some(finding.finding_id.clone()))
    } else {
        (None, None)
    };
    SnsMessage {
        subject: render::subject(finding),
        body,
        attributes,
        group_id,
        deduplication_id,
    }
}

/// The message for a digest: as many folded notifications listed as fit.
pub fn build_digest(notice: &DigestNotice<'_>, fifo: bool, machine: MachineBody) -> SnsMessage {
    let mut msg = assemble_digest(notice, fifo, machine, 100);
    for max in [50, 20, 5, 0] {
        if msg.size() <= BUDGET_BYTES {
            break;
        }
        msg = assemble_digest(notice, fifo, machine, max);
    }
    msg
}

fn assemble_digest(
    notice: &DigestNotice<'_>,
    fifo: bool,
    machine: MachineBody,
    max_listed: usize,
) -> SnsMessage {
    let text = render::digest_text(notice, max_listed);
    let json = match machine {
        MachineBody::Finding => render::digest_json(notice, max_listed).to_string(),
        // OCSF's digest counts the folded notifications and lists them in
        // `unmapped`, all of them: past SNS's size, the text is cut instead.
        MachineBody::Ocsf => render::ocsf_line(&render::ocsf_digest(notice)),
    };
    let body = protocol_bodies(&text, &json);
    let rule = notice.rule;
    let attr = |s: &str| MessageAttribute::String(attribute_value(s, MAX_ATTRIBUTE_CHARS));
    let attributes = vec![
        ("kind", attr("digest")),
        ("rule_id", attr(&notice.digest.key.rule_id)),
        ("rule", attr(&rule.name)),
        ("severity", attr(rule.severity.as_str())),
        (
            "risk_score",
            MessageAttribute::Number(rule.risk_score.to_string()),
        ),
        (
            "folded",
            MessageAttribute::Number(notice.digest.folded_count.to_string()),
        ),
        (
            "mitre",
            MessageAttribute::StringArray(json!(rule.mitre_ids()).to_string()),
        ),
    ];
    let id = notice.digest_id();
    let (group_id, deduplication_id) = if fifo {
        let group = sha256_hex([notice.digest.key.rule_id.as_bytes()], 32);
        (Some(group), Some(id))
    } else {
        (None, None)
    };
    SnsMessage {
        subject: render::digest_subject(notice),
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

/// A copy of `finding` whose strings chosen by whoever signed in are cut
/// to `max` characters; the cuts a message tries, longest first.
pub const CUTS: [usize; 4] = [4096, 1024, 256, 64];

pub fn shortened(finding: &Finding, max: usize) -> Finding {
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
    use crate::domain::counter::NotifyPolicy;
    use crate::domain::rules::pack;
    use crate::render::tests::sample_finding as finding;

    fn message(finding: &Finding, fifo: bool) -> SnsMessage {
        let policy = NotifyPolicy::default();
        build(
            &Notice {
                finding,
                rule: &pack::rule("failed-mfa").unwrap(),
                policy: &policy,
            },
            fifo,
        )
    }

    #[test]
    fn one_body_per_protocol_and_filter_attributes() {
        let f = finding("alice", "Mozilla/5.0");
        let m = message(&f, false);
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
                "rule",
                "severity",
                "risk_score",
                "account",
                "user",
                "src",
                "mitre",
                "src_network"
            ]
        );
        // A located address adds its country: ten attributes, SNS's most.
        let mut located = f.clone();
        let mut geo = crate::domain::geo::SrcGeo::default();
        geo.country = Some("DE".into());
        geo.network = "cloud".into();
        located.src_geo = Some(std::sync::Arc::new(geo));
        let attributes = message(&located, false).attributes;
        assert_eq!(attributes.len(), 10);
        assert!(attributes.contains(&("src_country", MessageAttribute::String("DE".into()))));
        assert!(attributes.contains(&("src_network", MessageAttribute::String("cloud".into()))));
        assert!(m.attributes.contains(&(
            "mitre",
            MessageAttribute::StringArray(r#"["T1586.003","T1621"]"#.into())
        )));
        assert!(
            m.attributes
                .contains(&("risk_score", MessageAttribute::Number("50".into())))
        );
        assert_eq!((m.group_id, m.deduplication_id), (None, None));
        assert!(m.subject.len() < 100 && m.subject.is_ascii());
    }

    #[test]
    fn fifo_ids_are_ascii_and_stable() {
        let f = finding("jürgen\u{202e}", "x");
        let m = message(&f, true);
        let g = m.group_id.unwrap();
        assert!(g.len() <= 128 && g.is_ascii());
        assert_eq!(m.deduplication_id.as_deref(), Some(f.finding_id.as_str()));
        assert!(is_fifo_topic("arn:aws:sns:us-east-1:1:findings.fifo"));
        assert!(!is_fifo_topic("arn:aws:sns:us-east-1:1:findings"));
    }

    #[test]
    fn huge_fields_are_cut_and_the_json_stays_valid() {
        let f = finding(&"u".repeat(300_000), &"A\"gent\n".repeat(100_000));
        let m = message(&f, false);
        assert!(m.size() <= MAX_MESSAGE_BYTES, "{} bytes", m.size());
        let body: serde_json::Value = serde_json::from_str(&m.body).unwrap();
        let sqs: serde_json::Value = serde_json::from_str(body["sqs"].as_str().unwrap()).unwrap();
        assert!(sqs["user_agent"].as_str().unwrap().ends_with("…[cut]"));
        assert_eq!(sqs["finding_id"], f.finding_id, "ids are never cut");
        for (_, v) in &m.attributes {
            if let MessageAttribute::String(s) = v {
                assert!(s.chars().count() <= MAX_ATTRIBUTE_CHARS);
            }
        }
    }

    #[test]
    fn hidden_text_never_reaches_attributes_subject_or_body_raw() {
        let f = finding("\u{202e}\u{200b}", "agent\u{2066}\u{ffff}");
        let m = message(&f, false);
        let user = m.attributes.iter().find(|(k, _)| *k == "user").unwrap();
        assert_eq!(user.1, MessageAttribute::String("unknown".into()));
        for (k, v) in &m.attributes {
            if let MessageAttribute::String(s) = v {
                assert!(!s.trim().is_empty(), "{k} is empty");
                assert!(!s.chars().any(crate::render::is_hidden), "{k}: {s:?}");
            }
        }
        assert!(!m.subject.chars().any(crate::render::is_hidden));
        let raw_hidden = |t: &str| {
            t.chars()
                .any(|c| !c.is_ascii() && crate::render::is_hidden(c))
        };
        assert!(!raw_hidden(&m.body), "{}", m.body);
        let body: serde_json::Value = serde_json::from_str(&m.body).unwrap();
        let sqs: serde_json::Value = serde_json::from_str(body["sqs"].as_str().unwrap()).unwrap();
        assert_eq!(
            sqs["user"], "\u{202e}\u{200b}",
            "exact in the JSON, as escapes"
        );
        assert!(
            !raw_hidden(body["email"].as_str().unwrap()),
            "the text drops them"
        );
    }
}
