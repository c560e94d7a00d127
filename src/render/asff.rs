//! A finding as an AWS Security Finding Format (ASFF) finding, for
//! Security Hub's `BatchImportFindings` (`docs/security-hub.md`).
//!
//! With the account's default product (`product/ACCOUNT/default`), Security
//! Hub takes only findings whose `AwsAccountId` is the importing account: a
//! finding belongs to the account the detector runs in, and the account
//! signed in to is its resource. `Id` is the finding's group, hashed to a
//! bounded length, so that a later detection of the same group updates the
//! finding (`UpdatedAt`, `LastObservedAt`, the counts) instead of adding one.
//! `replay --format asff` prints them; importing them from the function is
//! issue 25's next step.
//! `tools/asff_check.py` checks what this writes against botocore's model
//! of Security Hub.

use std::net::IpAddr;

use serde_json::{Map, Value, json};

use super::sanitize::{clean_line, known};
use crate::domain::finding::Finding;
use crate::domain::hash::sha256_hex;
use crate::domain::identity::is_account_id;
use crate::domain::notify::Notice;
use crate::domain::rules::{RuleMeta, Severity};
use crate::domain::time::Timestamp;

/// ASFF's documented bounds, in characters.
const MAX_TITLE: usize = 256;
const MAX_DESCRIPTION: usize = 1024;
const MAX_FIELD_KEY: usize = 128;
const MAX_FIELD_VALUE: usize = 2048;
const MAX_PRODUCT_FIELDS: usize = 50;
const MAX_RECOMMENDATION: usize = 512;

/// The Security Hub product findings are imported as: the account's
/// default product in the account and region the detector runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductTarget {
    pub partition: String,
    pub region: String,
    pub account: String,
}

impl ProductTarget {
    /// `arn:PARTITION:securityhub:REGION:ACCOUNT:product/ACCOUNT/default`.
    pub fn product_arn(&self) -> String {
        format!(
            "arn:{}:securityhub:{}:{}:product/{}/default",
            self.partition, self.region, self.account, self.account
        )
    }

    /// Reads a default product's ARN back into its target.
    pub fn from_product_arn(arn: &str) -> Option<Self> {
        let parts: Vec<&str> = arn.split(':').collect();
        match parts.as_slice() {
            ["arn", partition, "securityhub", region, account, product]
                if product == &format!("product/{account}/default")
                    && is_account_id(account)
                    && partition.starts_with("aws")
                    && !region.is_empty()
                    && region
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') =>
            {
                Some(ProductTarget {
                    partition: (*partition).to_owned(),
                    region: (*region).to_owned(),
                    account: (*account).to_owned(),
                })
            }
            _ => None,
        }
    }
}

/// The ASFF finding of a detection or correlation finding, imported into
/// `target`'s product and stamped `updated_at`, which must rise from one
/// import of a group to the next: Security Hub ignores an update whose
/// `UpdatedAt` is not later than the one it holds (replay: the group's
/// last-seen time, raised past the group's previous stamp).
pub fn asff_finding(notice: &Notice<'_>, target: &ProductTarget, updated_at: Timestamp) -> Value {
    let f = notice.finding;
    let rule = notice.rule;
    let description = match &f.correlation {
        Some(c) => c.story.clone(),
        None => format!("{} {}", f.title, rule.description),
    };
    let types = types(rule);
    let severity = json!({ "Label": label(f.severity), "Original": f.risk_score.to_string() });
    let mut finding = json!({
        "SchemaVersion": "2018-10-08",
        "Id": format!("signin-watch/{}", sha256_hex([f.group.as_bytes()], 16)),
        "ProductArn": target.product_arn(),
        "ProductName": "signin-watch",
        "CompanyName": "signin-watch",
        "Region": target.region,
        "GeneratorId": format!("signin-watch/{}", rule.id),
        "AwsAccountId": target.account,
        "Types": types,
        "FirstObservedAt": f.first_seen.to_string(),
        "LastObservedAt": f.last_seen.to_string(),
        "CreatedAt": f.first_seen.to_string(),
        "UpdatedAt": updated_at.max(f.first_seen).to_string(),
        "Severity": severity,
        "FindingProviderFields": { "Severity": severity, "Types": types },
        "Title": bounded(&f.title, MAX_TITLE),
        "Description": bounded(&description, MAX_DESCRIPTION),
        "Resources": [resource(f)],
        "ProductFields": product_fields(f),
        "RecordState": "ACTIVE",
        "Workflow": { "Status": "NEW" },
    });
    if let Some(url) = non_empty(&rule.source.url) {
        finding["SourceUrl"] = json!(url);
    }
    if let Some(text) = recommendation(rule) {
        finding["Remediation"] = json!({ "Recommendation": { "Text": text } });
    }
    if let Ok(ip) = f.src.parse::<IpAddr>() {
        let key = if ip.is_ipv4() {
            "SourceIpV4"
        } else {
            "SourceIpV6"
        };
        finding["Network"] = json!({ "Direction": "IN", key: f.src });
    }
    finding["Action"] = action(f);
    finding
}

/// The tactics ASFF's types taxonomy lists as categories of `TTPs`.
const TTP_CATEGORIES: &[&str] = &[
    "Initial Access",
    "Execution",
    "Persistence",
    "Privilege Escalation",
    "Defense Evasion",
    "Credential Access",
    "Discovery",
    "Lateral Movement",
    "Collection",
    "Command and Control",
];

/// `TTPs/<tactic>/<technique>` for each technique and each of its tactics
/// the taxonomy lists (not Resource Development or Reconnaissance); a rule
/// with none is an unusual behaviour of a user.
fn types(rule: &RuleMeta) -> Vec<String> {
    let mut out: Vec<String> = rule
        .mitre
        .iter()
        .flat_map(|t| {
            t.tactics
                .iter()
                .filter(|tactic| TTP_CATEGORIES.contains(&tactic.as_str()))
                .map(move |tactic| format!("TTPs/{tactic}/{}", t.id))
        })
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|t| seen.insert(t.clone()));
    out.truncate(50);
    if out.is_empty() {
        out.push("Unusual Behaviors/User".to_owned());
    }
    out
}

fn label(s: Severity) -> &'static str {
    match s {
        Severity::Informational => "INFORMATIONAL",
        Severity::Low => "LOW",
        Severity::Medium => "MEDIUM",
        Severity::High => "HIGH",
        Severity::Critical => "CRITICAL",
    }
}

/// The principal signed in as, else the account signed in to.
/// An assumed role is the role its session issuer names, not the session;
/// a record without a known account is a resource of type `Other`.
fn resource(f: &Finding) -> Value {
    let partition = f
        .principal_arn
        .as_deref()
        .and_then(|arn| arn.split(':').nth(1))
        .filter(|p| PARTITIONS.contains(p))
        .unwrap_or("aws");
    let role = f
        .session_issuer
        .as_deref()
        .filter(|arn| arn.starts_with("arn:") && arn.contains(":role/"));
    let (kind, id) = match (&f.principal_arn, f.identity_type.as_deref(), role) {
        (Some(arn), Some("IAMUser"), _) => ("AwsIamUser", arn.clone()),
        (_, Some("AssumedRole"), Some(role)) => ("AwsIamRole", role.to_owned()),
        _ if is_account_id(&f.account) => ("AwsAccount", format!("AWS::::Account:{}", f.account)),
        _ => ("Other", "an account CloudTrail did not name".to_owned()),
    };
    let mut resource =
        json!({ "Type": kind, "Id": bounded(&id, MAX_FIELD_VALUE), "Partition": partition });
    if let Some(region) = known(&f.region) {
        resource["Region"] = json!(region);
    }
    resource
}

/// The partitions Security Hub's model names for a resource.
const PARTITIONS: &[&str] = &["aws", "aws-cn", "aws-us-gov", "aws-us-iso", "aws-us-iso-b"];

/// The sign-in as an API call from a remote address, with where it is.
fn action(f: &Finding) -> Value {
    let mut call = json!({
        "Api": non_empty(&f.signature).unwrap_or("ConsoleLogin"),
        "ServiceName": "signin.amazonaws.com",
        "CallerType": "remoteip",
        "FirstSeen": f.first_seen.to_string(),
        "LastSeen": f.last_seen.to_string(),
    });
    let mut remote = Map::new();
    if f.src.parse::<std::net::Ipv4Addr>().is_ok() {
        remote.insert("IpAddressV4".into(), json!(f.src));
    }
    if let Some(geo) = &f.src_geo {
        let mut org = Map::new();
        if let Some(asn) = geo.asn.and_then(|a| i32::try_from(a).ok()) {
            org.insert("Asn".into(), json!(asn));
        }
        if let Some(name) = geo.as_org.as_deref().and_then(non_empty) {
            org.insert("AsnOrg".into(), json!(bounded(name, 256)));
        }
        if !org.is_empty() {
            remote.insert("Organization".into(), Value::Object(org));
        }
        let mut country = Map::new();
        if let Some(code) = geo.country.as_deref().and_then(non_empty) {
            country.insert("CountryCode".into(), json!(code));
        }
        if let Some(name) = geo.country_name.as_deref().and_then(non_empty) {
            country.insert("CountryName".into(), json!(name));
        }
        if !country.is_empty() {
            remote.insert("Country".into(), Value::Object(country));
        }
        if let Some(city) = geo.city.as_deref().and_then(non_empty) {
            remote.insert("City".into(), json!({ "CityName": bounded(city, 256) }));
        }
        if let (Some(lat), Some(lon)) = (geo.latitude, geo.longitude) {
            remote.insert("GeoLocation".into(), json!({ "Lat": lat, "Lon": lon }));
        }
    }
    if !remote.is_empty() {
        call["RemoteIpDetails"] = Value::Object(remote);
    }
    json!({ "ActionType": "AWS_API_CALL", "AwsApiCallAction": call })
}

/// The finding's own fields, `signin-watch/<name>`, values as one line each
/// within ASFF's bounds; empty ones left out (Security Hub refuses them).
fn product_fields(f: &Finding) -> Map<String, Value> {
    let geo = f.src_geo.as_deref();
    let mut fields: Vec<(&str, Option<String>)> = vec![
        ("kind", Some(f.kind.to_owned())),
        ("rule", Some(f.rule.clone())),
        ("rule_id", Some(f.rule_id.clone())),
        ("group", Some(f.group.clone())),
        ("count", Some(f.count.to_string())),
        ("first_seen", Some(f.first_seen.to_string())),
        ("last_seen", Some(f.last_seen.to_string())),
        ("event_id", Some(f.event_id.clone())),
        ("event_time", Some(f.event_time.to_string())),
        ("account", known(&f.account).map(str::to_owned)),
        ("region", known(&f.region).map(str::to_owned)),
        ("user", Some(f.user.clone())),
        ("principal_arn", f.principal_arn.clone()),
        ("identity_type", f.identity_type.clone()),
        ("session_issuer", f.session_issuer.clone()),
        ("src", Some(f.src.clone())),
        ("src_country", geo.and_then(|g| g.country.clone())),
        ("src_asn", geo.and_then(|g| g.asn).map(|a| a.to_string())),
        ("src_as_org", geo.and_then(|g| g.as_org.clone())),
        ("src_network", geo.map(|g| g.network.clone())),
        ("src_geo_source", geo.map(|g| g.source.clone())),
        ("user_agent", f.user_agent.clone()),
        ("MFAUsed", f.mfa_used.clone()),
        ("outcome", f.outcome.clone()),
        ("errorMessage", f.error_message.clone()),
        ("risk_score", Some(f.risk_score.to_string())),
        ("mitre", Some(f.mitre.join(","))),
        ("notify", Some(f.notify.to_string())),
        (
            "notify_reason",
            f.notify_reason
                .as_ref()
                .and_then(|r| serde_json::to_value(r).ok())
                .and_then(|v| v.as_str().map(str::to_owned)),
        ),
        ("folded", f.folded.clone()),
    ];
    if let Some(c) = &f.correlation {
        fields.push((
            "correlation_type",
            serde_json::to_value(c.correlation_type)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned)),
        ));
        fields.push(("matched_events", Some(c.matched_events.to_string())));
        fields.push(("window_start", Some(c.window_start.to_string())));
        fields.push(("window_end", Some(c.window_end.to_string())));
        fields.push(("distinct_values", c.distinct_values.map(|n| n.to_string())));
        fields.push(("detail", c.detail.clone()));
    }
    fields
        .into_iter()
        .filter_map(|(name, value)| {
            let value = bounded(&value?, MAX_FIELD_VALUE);
            non_empty(&value)?;
            Some((
                bounded(&format!("signin-watch/{name}"), MAX_FIELD_KEY),
                json!(value),
            ))
        })
        .take(MAX_PRODUCT_FIELDS)
        .collect()
}

/// The rule's first investigation steps, as one line.
fn recommendation(rule: &RuleMeta) -> Option<String> {
    let text = rule.investigation_steps.join(" ");
    non_empty(&text)?;
    Some(bounded(&text, MAX_RECOMMENDATION))
}

/// One line of at most `max` characters, without control or hidden
/// characters (whoever signs in chooses some of these strings).
fn bounded(text: &str, max: usize) -> String {
    clean_line(text, max)
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.trim().is_empty()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::counter::NotifyPolicy;
    use crate::domain::rules::pack;
    use crate::render::tests::sample_finding;

    /// The largest finding Security Hub takes, in bytes of JSON.
    const ASFF_MAX_FINDING_BYTES: usize = 240 * 1024;

    fn target() -> ProductTarget {
        ProductTarget::from_product_arn(
            "arn:aws:securityhub:eu-west-1:999988887777:product/999988887777/default",
        )
        .expect("a default product")
    }

    #[test]
    fn only_a_default_products_arn_is_a_target() {
        assert_eq!(target().account, "999988887777");
        assert_eq!(
            target().product_arn(),
            "arn:aws:securityhub:eu-west-1:999988887777:product/999988887777/default"
        );
        for wrong in [
            "arn:aws:securityhub:eu-west-1:999988887777:product/111122223333/default",
            "arn:aws:securityhub:eu-west-1:99998888777:product/99998888777/default",
            "arn:aws:securityhub:eu-west-1:999988887777:product/aws/guardduty",
            "arn:aws:sns:eu-west-1:999988887777:product/999988887777/default",
            "",
        ] {
            assert_eq!(ProductTarget::from_product_arn(wrong), None, "{wrong}");
        }
    }

    #[test]
    fn chosen_names_stay_within_asffs_bounds() {
        // Whoever signs in chooses the user name and the agent: a name of
        // 5,000 characters with a right-to-left override and a newline.
        let user = format!("{}\u{202e}\nadmin", "é".repeat(5000));
        let f = sample_finding(&user, &"A".repeat(10_000));
        let rule = pack::rule("failed-mfa").expect("in the pack");
        let notice = Notice {
            finding: &f,
            rule: &rule.meta,
            policy: &NotifyPolicy::default(),
        };
        let a = asff_finding(&notice, &target(), f.last_seen);
        for field in ["Title", "Description"] {
            let text = a[field].as_str().expect("text");
            assert!(
                !text.contains('\u{202e}') && !text.contains('\n'),
                "{field}"
            );
        }
        assert!(a["Title"].as_str().expect("a title").chars().count() <= MAX_TITLE);
        assert!(a["Description"].as_str().expect("text").chars().count() <= MAX_DESCRIPTION);
        let fields = a["ProductFields"].as_object().expect("fields");
        assert!(fields.len() <= MAX_PRODUCT_FIELDS);
        for (k, v) in fields {
            let v = v.as_str().expect("a string");
            assert!(k.chars().count() <= MAX_FIELD_KEY);
            assert!(
                v.chars().count() <= MAX_FIELD_VALUE && !v.trim().is_empty(),
                "{k}"
            );
        }
        assert!(serde_json::to_vec(&a).expect("JSON").len() < ASFF_MAX_FINDING_BYTES);
        // The group, not the name, makes the Id: bounded whatever the name.
        assert_eq!(
            a["Id"].as_str().expect("an id").len(),
            "signin-watch/".len() + 32
        );
    }

    #[test]
    fn types_are_ttps_by_tactic_and_technique() {
        let rule = pack::rule("failed-mfa").expect("in the pack");
        let types = types(&rule.meta);
        assert!(types.iter().all(|t| t.starts_with("TTPs/")), "{types:?}");
        assert!(
            types.contains(&"TTPs/Credential Access/T1621".to_owned()),
            "{types:?}"
        );
        // T1586.003 serves Resource Development, which the taxonomy lacks.
        assert!(
            !types.iter().any(|t| t.contains("Resource Development")),
            "{types:?}"
        );
    }
}
