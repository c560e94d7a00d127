//! A correlation alert as people read it: its finding, with the rule's
//! title and story templates filled in from the alert and its group.

use crate::domain::correlation::Alert;
use crate::domain::counter::{Counters, GroupKey, NotifyReason};
use crate::domain::finding::{CorrelationFacts, Finding};
use crate::domain::identity::Principal;
use crate::domain::observed::EventFacts;
use crate::domain::rules::RuleMeta;
use crate::domain::rules::correlation::Correlation;

/// The finding of a correlation alert. The group's fields stand in for the
/// event's where they are named alike (`account`, `user`,
/// `sourceIPAddress`, ...); the completing or the latest contributing event
/// gives the rest. Its title and story are the rule's templates, filled in.
pub fn correlation_finding(
    c: &Correlation,
    alert: &Alert,
    key: &GroupKey,
    counters: &Counters,
    notify: Option<NotifyReason>,
) -> Finding {
    let last = alert.completing.as_ref().or(alert.evidence.last());
    let group = |names: &[&str]| names.iter().find_map(|n| key.field(n)).map(str::to_owned);
    let account = group(&["account", "recipientAccountId", "userIdentity.accountId"])
        .unwrap_or_else(|| "unknown".into());
    let user = group(&["user", "userIdentity.userName"])
        .or_else(|| last.map(|e| e.user.clone()))
        .unwrap_or_else(|| "unknown".into());
    let src = group(&["src", "sourceIPAddress"])
        .or_else(|| last.map(|e| e.src.clone()))
        .unwrap_or_else(|| "unknown".into());
    let facts = EventFacts {
        event_id: key.alert_event_id(&alert.identity),
        event_time: alert.time,
        account,
        region: "unknown".into(),
        principal: Principal {
            user,
            identity_type: None,
            arn: None,
            session_issuer: key.field("issuer").map(str::to_owned),
        },
        src,
        user_agent: None,
        signature: c.kind.as_str().to_owned(),
        dest: "signin.amazonaws.com".into(),
        mfa_used: None,
        error_message: None,
        outcome: None,
        signin_endpoint: None,
        src_geo: None,
    };
    let (user, src, account) = (
        facts.principal.user.clone(),
        facts.src.clone(),
        facts.account.clone(),
    );
    let mut finding = Finding::new(&c.meta, facts, key, counters, notify);
    finding.kind = "correlation";
    // The counts first: a user's name never becomes a placeholder.
    finding.title = RuleMeta {
        title_template: fill_counts(&c.title_template, alert),
        ..(*c.meta).clone()
    }
    .title_for(&user, &src, &account);
    finding.correlation = Some(CorrelationFacts {
        correlation_type: c.kind,
        group_fields: key.fields.iter().cloned().collect(),
        window_start: alert.window_start,
        window_end: alert.window_end,
        matched_events: alert.count,
        distinct_values: alert.distinct,
        evidence: alert.evidence.clone(),
        completing_event: alert.completing.clone(),
        detail: alert.detail.clone(),
        story: story(c, alert, key),
    });
    finding
}

/// `$count$` and `$distinct$` filled in from `alert`.
fn fill_counts(template: &str, alert: &Alert) -> String {
    template
        .replace("$count$", &alert.count.to_string())
        .replace(
            "$distinct$",
            &alert.distinct.unwrap_or(alert.count).to_string(),
        )
}

/// The alert in one sentence: the rule's `story` with its placeholders
/// filled in, else a sentence of the counts and times.
pub fn story(c: &Correlation, alert: &Alert, key: &GroupKey) -> String {
    // Sequences: the addresses and times of what led to the completing event.
    let mut sources: Vec<&str> = alert.evidence.iter().map(|e| e.src.as_str()).collect();
    sources.sort_unstable();
    sources.dedup();
    let first = alert
        .evidence
        .iter()
        .map(|e| e.time)
        .min()
        .unwrap_or(alert.window_start);
    let last = alert
        .evidence
        .iter()
        .map(|e| e.time)
        .max()
        .unwrap_or(alert.window_end);
    let group: Vec<String> = key.fields.iter().map(|(_, v)| v.clone()).collect();
    let template = c.story.clone().unwrap_or_else(|| {
        "$count$ events of $rule$ for $group$ between $first$ and $last$ UTC".to_owned()
    });
    let addresses = match sources.len() {
        1 => "1 address".to_owned(),
        n => format!("{n} addresses"),
    };
    // Where the evidence came from: each place's city and country (what
    // precedes its network owner), once each, in the evidence's order.
    let mut places: Vec<&str> = Vec::new();
    for p in alert.evidence.iter().filter_map(|e| e.place.as_deref()) {
        let short = crate::domain::geo::area_of(p);
        if !places.contains(&short) {
            places.push(short);
        }
    }
    let places = if places.is_empty() {
        "unknown places".to_owned()
    } else {
        places.join("; ")
    };
    // Values from the record last: a user's name never becomes a placeholder.
    let mut text = fill_counts(&template, alert)
        .replace("$addresses$", &addresses)
        .replace("$places$", &places)
        .replace("$first$", &first.hh_mm())
        .replace("$last$", &last.hh_mm())
        .replace("$rule$", &c.name)
        .replace("$group$", &group.join(", "));
    if let Some(then) = &alert.completing {
        text = text
            .replace("$then_src$", &then.src)
            .replace("$then_time$", &then.time.hh_mm())
            .replace(
                "$then_place$",
                then.place
                    .as_deref()
                    .map_or("an unknown place", crate::domain::geo::area_of),
            )
            .replace("$value$", then.value.as_deref().unwrap_or("no value"));
    }
    // Baselines and travel: what made the alert, in the engine's words.
    text = text.replace("$detail$", alert.detail.as_deref().unwrap_or(""));
    for (name, value) in &key.fields {
        text = text.replace(&format!("${name}$"), value);
    }
    // A group without a user or a source field (a baseline's principal, an
    // account): the completing event's.
    if let Some(e) = alert.completing.as_ref().or(alert.evidence.last()) {
        text = text.replace("$user$", &e.user).replace("$src$", &e.src);
    }
    text
}
