//! A finding: one detection, with everything a person needs to act on it.
//!
//! Its JSON form is documented in `docs/finding.md` and stable: fields are
//! only ever added. Fields chosen by whoever attempts the sign-in (user
//! names, user agents) are kept exact here; `crate::render` makes them safe
//! for text, subjects and attributes.

use std::collections::BTreeMap;

use serde::Serialize;

use super::correlation::Evidence;
use super::rules::correlation::CorrelationKind;

use super::budget::Folded;
use super::counter::{Counters, GroupKey, NotifyReason};
use super::geo::SrcGeo;
use super::hash::sha256_hex;
use super::observed::EventFacts;
use super::rules::{ObjectField, RuleMeta, ScoredField, Severity, Technique};
use super::time::Timestamp;

pub const SCHEMA: &str = "signin-watch/finding/v1";

/// The typed object a risk or threat score attaches to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScoredObject {
    #[serde(rename = "type")]
    pub kind: String,
    pub field: ObjectField,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub schema: &'static str,
    pub finding_id: String,
    /// `detection`: one rule matched one event.
    pub kind: &'static str,
    /// The rule's name, its key everywhere (its Sigma id when it has no name).
    pub rule: String,
    /// The rule's Sigma id.
    pub rule_id: String,
    /// The rule's Sigma title.
    pub rule_name: String,
    pub rule_source: String,
    pub severity: Severity,
    pub risk_score: u8,
    pub risk_object: ScoredObject,
    pub threat_object: ScoredObject,
    /// Technique and tactic ids.
    pub mitre: Vec<String>,
    pub mitre_techniques: Vec<Technique>,
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
    /// Where `src` is: country, network owner, class of network (sign-in
    /// records; docs/finding.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_geo: Option<std::sync::Arc<SrcGeo>>,
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
    /// Why a finding worth a notification sent none of its own: its rule
    /// spent the account's hourly budget, and it is a line of the digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub folded: Option<String>,
    /// For `kind: correlation`: what the correlation found.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub correlation: Option<CorrelationFacts>,
}

/// What a correlation alert found, beside the fields every finding has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CorrelationFacts {
    pub correlation_type: CorrelationKind,
    /// The `group-by` fields and their values.
    pub group_fields: BTreeMap<String, String>,
    pub window_start: Timestamp,
    pub window_end: Timestamp,
    /// Events counted (counts), or the events that led to the completing
    /// one (sequences).
    pub matched_events: u64,
    /// `value_count`: the distinct values counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distinct_values: Option<u64>,
    /// Up to 20 contributing events: eventID, time, rule, source.
    pub evidence: Vec<Evidence>,
    /// Sequences: the event that completed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completing_event: Option<Evidence>,
    /// Baselines and impossible travel: what made the alert ("last seen
    /// 2026-08-01T09:00:00Z", "7,842 km in 40 min: 11,764 km/h (country
    /// precision)").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The alert in one sentence.
    pub story: String,
}

/// `sha256(rule_id \n event_id)`, first 128 bits in hex: the same event and
/// rule always give the same id, so a re-sent finding can be deduplicated.
pub fn finding_id(rule_id: &str, event_id: &str) -> String {
    sha256_hex([rule_id.as_bytes(), b"\n", event_id.as_bytes()], 16)
}

impl Finding {
    pub fn new(
        rule: &RuleMeta,
        facts: EventFacts,
        key: &GroupKey,
        counters: &Counters,
        notify: Option<NotifyReason>,
    ) -> Self {
        let user = facts.principal.user.clone();
        let scored = |object: &ScoredField| ScoredObject {
            kind: object.kind.clone(),
            field: object.field,
            value: match object.field {
                ObjectField::User => user.clone(),
                ObjectField::Src => facts.src.clone(),
                ObjectField::Account => facts.account.clone(),
            },
        };
        let (risk_object, threat_object) = (scored(&rule.risk_object), scored(&rule.threat_object));
        // A rule that takes its severity from a watched list of networks.
        let (severity, risk_score) = match facts.src_geo.as_ref().and_then(|g| g.watch) {
            Some(watch) if rule.severity_from_list => (watch.severity, watch.risk_score),
            _ => (rule.severity, rule.risk_score),
        };
        Finding {
            schema: SCHEMA,
            finding_id: finding_id(&rule.id, &facts.event_id),
            kind: "detection",
            rule: rule.name.clone(),
            rule_id: rule.id.clone(),
            rule_name: rule.title.clone(),
            rule_source: rule.source.vendor.clone(),
            severity,
            risk_score,
            risk_object,
            threat_object,
            mitre: rule.mitre_ids(),
            mitre_techniques: rule.mitre.clone(),
            title: rule.title_for(&user, &facts.src, &facts.account),
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
            src_geo: facts.src_geo,
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
            folded: None,
            correlation: None,
        }
    }
}

impl From<&Finding> for Folded {
    /// What a digest keeps of a folded finding.
    fn from(finding: &Finding) -> Self {
        Folded {
            finding_id: finding.finding_id.clone(),
            group: finding.group.clone(),
            event_id: finding.event_id.clone(),
            event_time: finding.event_time,
            account: finding.account.clone(),
            user: finding.user.clone(),
            src: finding.src.clone(),
            place: finding.src_geo.as_ref().map(|g| g.describe()),
            count: finding.count,
            reason: finding.notify_reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            ),
            "2b8a95787879f2ff84f29735a9ed52d1"
        );
    }
}
