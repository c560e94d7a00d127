//! A finding or a digest as an OCSF Detection Finding (class 2004) of OCSF
//! 1.8.0, for a SIEM or Amazon Security Lake (`docs/ocsf.md`).
//!
//! One finding is one event: its `finding_info.uid` is the finding's group,
//! so that a later detection of the same group is an `Update` of the same
//! finding (activity 2) and the first is its `Create` (activity 1).
//! `tools/ocsf_check.py` checks what this writes against the schema's own
//! files (tests/ocsf/schema).

use serde_json::{Map, Value, json};

use super::sanitize::{clean_line, escape_hidden_in_json, known};
use crate::domain::finding::Finding;
use crate::domain::geo::SrcGeo;
use crate::domain::identity::is_account_id;
use crate::domain::notify::{DigestNotice, Notice};
use crate::domain::rules::{RuleMeta, Severity, Technique};

/// The OCSF version the events follow (`metadata.version`).
pub const OCSF_VERSION: &str = "1.8.0";

const CLASS_UID: u32 = 2004;
const CATEGORY_UID: u32 = 2;
/// The OCSF account type of an AWS account.
const AWS_ACCOUNT: u32 = 10;
/// Titles, messages and descriptions: one line of at most this many
/// characters (names chosen by whoever signs in are in them). The
/// evidences keep names and agents exact, JSON-escaped, as the project's
/// own JSON does.
const MAX_TEXT: usize = 1024;

/// The event as one JSON line, hidden characters escaped as in the
/// project's own JSON.
pub fn ocsf_line(event: &Value) -> String {
    escape_hidden_in_json(event.to_string())
}

/// A detection or correlation finding as a Detection Finding.
pub fn ocsf_finding(notice: &Notice<'_>) -> Value {
    let f = notice.finding;
    let rule = notice.rule;
    let (activity_id, activity) = if f.count <= 1 {
        (1, "Create")
    } else {
        (2, "Update")
    };
    let mut event = header(activity_id, activity, f.severity, &f.region, &f.account);
    let description = match &f.correlation {
        Some(c) => c.story.clone(),
        None => rule.description.clone(),
    };
    event.extend([
        ("time".into(), json!(f.event_time.as_millis())),
        ("start_time".into(), json!(f.first_seen.as_millis())),
        ("end_time".into(), json!(f.last_seen.as_millis())),
        ("count".into(), json!(f.count)),
        ("message".into(), json!(clean_line(&f.title, MAX_TEXT))),
        ("risk_score".into(), json!(f.risk_score)),
        ("is_alert".into(), json!(true)),
        (
            "finding_info".into(),
            finding_info(
                rule,
                &f.group,
                &f.title,
                &description,
                f.kind,
                f.first_seen.as_millis(),
                f.last_seen.as_millis(),
            ),
        ),
        ("metadata".into(), metadata(&f.finding_id, &f.group)),
        ("evidences".into(), json!([evidence(f)])),
        ("resources".into(), json!(resources(f))),
        ("unmapped".into(), unmapped(f)),
    ]);
    Value::Object(event)
}

/// A digest (the notifications a rule folded in one hour) as one Detection
/// Finding of its rule, account and hour, counting them.
pub fn ocsf_digest(notice: &DigestNotice<'_>) -> Value {
    let d = notice.digest;
    let rule = notice.rule;
    let group = format!("digest#{}#{}#{}", d.key.rule_id, d.key.account, d.key.hour);
    let title = format!(
        "{} notifications of {} folded in account {} in the hour from {}",
        d.folded_count, rule.name, d.key.account, d.key.hour
    );
    let start = d.key.hour.as_millis();
    let end = d.key.hour_end().as_millis();
    let activity = if d.listed_before == 0 {
        (1, "Create")
    } else {
        (2, "Update")
    };
    let mut event = header(activity.0, activity.1, rule.severity, "", &d.key.account);
    event.extend([
        ("time".into(), json!(end)),
        ("start_time".into(), json!(start)),
        ("end_time".into(), json!(end)),
        ("count".into(), json!(d.folded_count)),
        ("message".into(), json!(title)),
        ("risk_score".into(), json!(rule.risk_score)),
        // Each folded detection was an event of its own: the digest
        // only counts them, and alerts nobody again.
        ("is_alert".into(), json!(false)),
        (
            "finding_info".into(),
            finding_info(
                rule,
                &group,
                &title,
                &rule.description,
                "digest",
                start,
                end,
            ),
        ),
        ("metadata".into(), metadata(&notice.digest_id(), &group)),
        (
            "unmapped".into(),
            json!({ "signin_watch": {
                "kind": "digest",
                "folded_count": d.folded_count,
                "listed_before": d.listed_before,
                "budget_per_rule_hour": notice.policy.budget_per_rule_hour,
                "folded": d.folded,
            }}),
        ),
    ]);
    Value::Object(event)
}

fn header(
    activity_id: u32,
    activity: &str,
    severity: Severity,
    region: &str,
    account: &str,
) -> Map<String, Value> {
    let (severity_id, severity_name) = severity_id(severity);
    let (risk_level_id, risk_level) = risk_level(severity);
    let mut cloud = json!({ "provider": "AWS" });
    if is_account_id(account) {
        cloud["account"] = json!({ "uid": account, "type_id": AWS_ACCOUNT, "type": "AWS Account" });
    }
    // A digest spans the regions its notifications came from.
    if let Some(region) = known(region) {
        cloud["region"] = json!(region);
    }
    let mut event = Map::new();
    event.extend([
        ("class_uid".into(), json!(CLASS_UID)),
        ("class_name".into(), json!("Detection Finding")),
        ("category_uid".into(), json!(CATEGORY_UID)),
        ("category_name".into(), json!("Findings")),
        ("activity_id".into(), json!(activity_id)),
        ("activity_name".into(), json!(activity)),
        ("type_uid".into(), json!(CLASS_UID * 100 + activity_id)),
        (
            "type_name".into(),
            json!(format!("Detection Finding: {activity}")),
        ),
        ("severity_id".into(), json!(severity_id)),
        ("severity".into(), json!(severity_name)),
        ("risk_level_id".into(), json!(risk_level_id)),
        ("risk_level".into(), json!(risk_level)),
        ("cloud".into(), cloud),
    ]);
    // The consumer owns a finding's status once it exists: only its
    // creation says `New`, so an update never reopens a triaged finding.
    if activity_id == 1 {
        event.insert("status_id".into(), json!(1));
        event.insert("status".into(), json!("New"));
    }
    event
}

/// OCSF's severity scale: 1 Informational to 5 Critical.
fn severity_id(s: Severity) -> (u32, &'static str) {
    match s {
        Severity::Informational => (1, "Informational"),
        Severity::Low => (2, "Low"),
        Severity::Medium => (3, "Medium"),
        Severity::High => (4, "High"),
        Severity::Critical => (5, "Critical"),
    }
}

/// OCSF's risk levels: 0 Info to 4 Critical.
fn risk_level(s: Severity) -> (u32, &'static str) {
    match s {
        Severity::Informational => (0, "Info"),
        Severity::Low => (1, "Low"),
        Severity::Medium => (2, "Medium"),
        Severity::High => (3, "High"),
        Severity::Critical => (4, "Critical"),
    }
}

fn finding_info(
    rule: &RuleMeta,
    uid: &str,
    title: &str,
    desc: &str,
    kind: &str,
    first: i64,
    last: i64,
) -> Value {
    let mut info = json!({
        "uid": uid,
        "title": clean_line(title, MAX_TEXT),
        "desc": clean_line(desc, MAX_TEXT),
        "types": [kind],
        "first_seen_time": first,
        "last_seen_time": last,
        "analytic": {
            "uid": rule.id,
            "name": rule.name,
            "desc": rule.title,
            "type_id": 1,
            "type": "Rule",
        },
        "attacks": attacks(&rule.mitre),
    });
    if !rule.source.url.is_empty() {
        info["src_url"] = json!(rule.source.url);
    }
    info
}

/// One ATT&CK object per technique and tactic it serves (a technique
/// serving no known tactic stands alone); a sub-technique names its parent.
fn attacks(mitre: &[Technique]) -> Vec<Value> {
    let mut out = Vec::new();
    for t in mitre {
        let (technique, sub) = match t.id.split_once('.') {
            Some((parent, _)) => (
                json!({ "uid": parent, "name": t.name.split(':').next().unwrap_or(&t.name).trim() }),
                Some(json!({ "uid": t.id, "name": t.name })),
            ),
            None => (json!({ "uid": t.id, "name": t.name }), None),
        };
        let tactics: Vec<Option<Value>> = if t.tactics.is_empty() {
            vec![None]
        } else {
            t.tactics
                .iter()
                .map(|name| {
                    Some(match crate::domain::rules::tactic_id(name) {
                        Some(id) => json!({ "uid": id, "name": name }),
                        None => json!({ "name": name }),
                    })
                })
                .collect()
        };
        for tactic in tactics {
            let mut attack = json!({ "technique": technique });
            if let Some(sub) = &sub {
                attack["sub_technique"] = sub.clone();
            }
            if let Some(tactic) = tactic {
                attack["tactic"] = tactic;
            }
            out.push(attack);
        }
    }
    out
}

fn metadata(uid: &str, group: &str) -> Value {
    json!({
        "version": OCSF_VERSION,
        "uid": uid,
        "correlation_uid": group,
        "log_name": "signin-watch findings",
        "profiles": ["cloud"],
        "product": {
            "name": "signin-watch",
            "vendor_name": "signin-watch",
            "version": env!("CARGO_PKG_VERSION"),
        },
    })
}

/// What the finding's events show: the source address and where it is,
/// the user, the browser, the sign-in.
fn evidence(f: &Finding) -> Value {
    // `ip` is an address; CloudTrail's `sourceIPAddress` is sometimes a
    // service's name, and a finding without one says `unknown`.
    let mut src = match f.src.parse::<std::net::IpAddr>() {
        Ok(_) => json!({ "ip": f.src }),
        Err(_) => match known(&f.src) {
            Some(name) => json!({ "name": name }),
            None => json!({}),
        },
    };
    if let Some(geo) = &f.src_geo {
        if let Some(location) = location(geo) {
            src["location"] = location;
        }
        if geo.asn.is_some() || geo.as_org.is_some() {
            let mut system = Map::new();
            if let Some(asn) = geo.asn {
                system.insert("number".into(), json!(asn));
            }
            if let Some(org) = &geo.as_org {
                system.insert("name".into(), json!(org));
            }
            src["autonomous_system"] = Value::Object(system);
        }
    }
    let mut user = json!({
        "name": f.user,
        "type_id": user_type(f.identity_type.as_deref()).0,
        "type": user_type(f.identity_type.as_deref()).1,
    });
    if is_account_id(&f.account) {
        user["account"] =
            json!({ "uid": f.account, "type_id": AWS_ACCOUNT, "type": "AWS Account" });
    }
    if let Some(arn) = &f.principal_arn {
        user["uid"] = json!(arn);
    }
    let mut actor = json!({ "user": user });
    // `MFAUsed` says whether this sign-in used MFA: the session's, not
    // whether the user has a device (`user.has_mfa`).
    if let Some(mfa) = &f.mfa_used {
        actor["session"] = json!({ "is_mfa": mfa.eq_ignore_ascii_case("yes") });
    }
    let mut evidence = json!({
        "actor": actor,
        "api": {
            "operation": f.signature,
            "service": { "name": "signin.amazonaws.com" },
        },
    });
    if src.as_object().is_some_and(|o| !o.is_empty()) {
        evidence["src_endpoint"] = src;
    }
    if let Some(agent) = &f.user_agent {
        evidence["http_request"] = json!({ "user_agent": agent });
    }
    evidence
}

fn location(geo: &SrcGeo) -> Option<Value> {
    let mut location = Map::new();
    if let Some(country) = &geo.country {
        location.insert("country".into(), json!(country));
    }
    if let Some(city) = &geo.city {
        location.insert("city".into(), json!(city));
    }
    if location.is_empty() {
        return None;
    }
    if let (Some(lat), Some(long)) = (geo.latitude, geo.longitude) {
        location.insert("lat".into(), json!(lat));
        location.insert("long".into(), json!(long));
    }
    location.insert("provider".into(), json!(geo.source));
    Some(Value::Object(location))
}

/// OCSF's user types: the root user is an administrator; IAM users, role
/// sessions and federated users are users.
fn user_type(identity_type: Option<&str>) -> (u32, &'static str) {
    match identity_type {
        Some("Root") => (2, "Admin"),
        Some("IAMUser" | "AssumedRole" | "FederatedUser" | "IdentityCenterUser") => (1, "User"),
        Some(_) => (99, "Other"),
        None => (0, "Unknown"),
    }
}

/// The principal signed in as (an assumed role: the role its session
/// issuer names), else the account; none when neither is known.
fn resources(f: &Finding) -> Vec<Value> {
    let role = f
        .session_issuer
        .as_deref()
        .filter(|arn| arn.starts_with("arn:") && arn.contains(":role/"));
    let (uid, kind) = match (&f.principal_arn, f.identity_type.as_deref(), role) {
        (Some(arn), Some("IAMUser"), _) => (arn.as_str(), "AWS::IAM::User"),
        (_, Some("AssumedRole"), Some(role)) => (role, "AWS::IAM::Role"),
        _ if is_account_id(&f.account) => (f.account.as_str(), "AWS::::Account"),
        _ => return Vec::new(),
    };
    let mut resource = json!({ "uid": uid, "type": kind });
    if let Some(partition) = uid.strip_prefix("arn:").and_then(|r| r.split(':').next()) {
        resource["cloud_partition"] = json!(partition);
    }
    if let Some(region) = known(&f.region) {
        resource["region"] = json!(region);
    }
    vec![resource]
}

/// The finding's own fields OCSF has no place for, under the project's name.
fn unmapped(f: &Finding) -> Value {
    let mut own = json!({
        "kind": f.kind,
        "rule": f.rule,
        "group": f.group,
        "event_id": f.event_id,
        "notify": f.notify,
        "notify_reason": f.notify_reason,
        "MFAUsed": f.mfa_used,
        "outcome": f.outcome,
        "errorMessage": f.error_message,
        "signin_endpoint": f.signin_endpoint,
        "src_geo": f.src_geo,
    });
    if let Some(folded) = &f.folded {
        own["folded"] = json!(folded);
    }
    if let Some(c) = &f.correlation {
        own["correlation"] = json!(c);
    }
    json!({ "signin_watch": own })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::counter::NotifyPolicy;
    use crate::domain::rules::pack;
    use crate::render::tests::sample_finding;

    #[test]
    fn a_groups_first_detection_creates_the_finding_and_later_ones_update_it() {
        let rule = pack::rule("failed-mfa").expect("in the pack");
        let mut f = sample_finding("alice", "Mozilla/5.0");
        let policy = NotifyPolicy::default();
        let event = |f: &Finding| {
            ocsf_finding(&Notice {
                finding: f,
                rule: &rule.meta,
                policy: &policy,
            })
        };
        let first = event(&f);
        assert_eq!(
            (first["activity_id"].clone(), first["type_uid"].clone()),
            (json!(1), json!(200401))
        );
        f.count = 3;
        let later = event(&f);
        assert_eq!(
            (later["activity_id"].clone(), later["type_uid"].clone()),
            (json!(2), json!(200402))
        );
        assert_eq!(first["finding_info"]["uid"], later["finding_info"]["uid"]);
        assert_eq!(later["severity_id"], 3);
        // The seed rule's techniques, with their tactics.
        let attacks = later["finding_info"]["attacks"]
            .as_array()
            .expect("attacks");
        assert!(
            attacks
                .iter()
                .any(|a| a["technique"]["uid"] == "T1621" && a["tactic"]["uid"] == "TA0006"),
            "{attacks:?}"
        );
        assert!(
            attacks
                .iter()
                .any(|a| a["sub_technique"]["uid"] == "T1586.003"
                    && a["technique"]["uid"] == "T1586"),
            "{attacks:?}"
        );
    }
}
