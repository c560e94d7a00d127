//! Which sign-in event names a rule can match, and which of them the
//! template's EventBridge pattern passes.
//!
//! The function sees on its EventBridge path only what the rule on the bus
//! lets through. A user rule on `CheckMfa` or `SwitchRole` loads, and never
//! fires there. `rules check` and start-up say so, and
//! `signin-watch rules pattern` prints the names to add (the template's
//! `ExtraEventNames` parameter).

use std::collections::{BTreeSet, HashMap};

use rsigma_parser::{ConditionExpr, Detection, Detections, Quantifier, SigmaValue};

/// The event names the template's pattern passes (`SigninEventsRule`,
/// `BusSigninEventsRule`, the forwarder), lowercase. The template tests
/// hold the template to this list.
pub const PATTERN_EVENT_NAMES: &[&str] = &[
    "consolelogin",
    "credentialchallenge",
    "credentialverification",
    "getsignintoken",
    "passwordrecoveryrequested",
];

/// The template's `detail` pattern without its `ExtraEventNames` branch, as
/// EventBridge reads it. The template tests hold the template to it.
pub const DETAIL_PATTERN: &str = r#"{
  "eventSource": [{"equals-ignore-case": "signin.amazonaws.com"}],
  "$or": [
    {"eventName": [{"equals-ignore-case": "ConsoleLogin"}],
     "errorMessage": [{"equals-ignore-case": "Failed authentication"}],
     "additionalEventData": {"MFAUsed": [{"equals-ignore-case": "Yes"}]}},
    {"eventName": [{"equals-ignore-case": "ConsoleLogin"}],
     "responseElements": {"ConsoleLogin": [{"equals-ignore-case": "Success"}, {"equals-ignore-case": "Failure"}]}},
    {"eventName": [{"equals-ignore-case": "GetSigninToken"}],
     "userIdentity": {"type": [{"equals-ignore-case": "FederatedUser"}]}},
    {"eventName": [{"equals-ignore-case": "ConsoleLogin"}, {"equals-ignore-case": "GetSigninToken"}],
     "userIdentity": {"type": [{"equals-ignore-case": "AssumedRole"}], "principalId": [{"wildcard": "*:i-*"}]}},
    {"eventName": [{"equals-ignore-case": "PasswordRecoveryRequested"}],
     "userIdentity": {"type": [{"equals-ignore-case": "Root"}]}},
    {"eventName": [{"equals-ignore-case": "CredentialVerification"}, {"equals-ignore-case": "CredentialChallenge"}],
     "serviceEventDetails": {"CredentialVerification": [{"equals-ignore-case": "Failure"}]}},
    {"eventName": [{"equals-ignore-case": "CredentialVerification"}, {"equals-ignore-case": "CredentialChallenge"}],
     "serviceEventDetails": {"CredentialChallenge": [{"equals-ignore-case": "Failure"}]}}
  ]
}"#;

/// CloudTrail's spelling of the sign-in event names: `ExtraEventNames`
/// matches exactly, while a Sigma rule matches in any case.
const CANONICAL: &[&str] = &[
    "CheckMfa",
    "ConsoleLogin",
    "ConsoleLogout",
    "CredentialChallenge",
    "CredentialVerification",
    "ExitRole",
    "GetSigninToken",
    "PasswordRecoveryCompleted",
    "PasswordRecoveryRequested",
    "PasswordUpdated",
    "RenewRole",
    "SwitchRole",
    "UserAuthentication",
];

/// `name` as CloudTrail spells it, when it is a sign-in event name this
/// knows; else as given.
pub fn canonical(name: &str) -> String {
    CANONICAL
        .iter()
        .find(|c| c.eq_ignore_ascii_case(name))
        .map_or_else(|| name.to_owned(), |c| (*c).to_owned())
}

/// Whether a record (the `detail` of an event) passes the template's
/// pattern, `ExtraEventNames` aside: the subset of EventBridge's pattern
/// language the template uses (values, `equals-ignore-case`, `wildcard`,
/// nested fields, `$or`).
pub fn passes_pattern(record: &serde_json::Value) -> bool {
    serde_json::from_str::<serde_json::Value>(DETAIL_PATTERN)
        .is_ok_and(|pattern| object_matches(&pattern, record))
}

fn object_matches(pattern: &serde_json::Value, record: &serde_json::Value) -> bool {
    let Some(fields) = pattern.as_object() else {
        return false;
    };
    fields.iter().all(|(key, want)| {
        if key == "$or" {
            return want
                .as_array()
                .is_some_and(|alts| alts.iter().any(|alt| object_matches(alt, record)));
        }
        let got = record.get(key);
        match want {
            serde_json::Value::Object(_) => got.is_some_and(|g| object_matches(want, g)),
            serde_json::Value::Array(values) => got
                .and_then(|g| g.as_str())
                .is_some_and(|g| values.iter().any(|v| value_matches(v, g))),
            _ => false,
        }
    })
}

fn value_matches(want: &serde_json::Value, got: &str) -> bool {
    match want {
        serde_json::Value::String(s) => s == got,
        serde_json::Value::Object(m) => {
            if let Some(s) = m.get("equals-ignore-case").and_then(|v| v.as_str()) {
                s.eq_ignore_ascii_case(got)
            } else if let Some(w) = m.get("wildcard").and_then(|v| v.as_str()) {
                wildcard(w.as_bytes(), got.as_bytes())
            } else {
                false
            }
        }
        _ => false,
    }
}

/// `*` matches any run of bytes.
fn wildcard(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| wildcard(rest, &text[i..])),
        Some((c, rest)) => text.first() == Some(c) && wildcard(rest, &text[1..]),
    }
}

/// The event names every record a detection matches has (as the rule
/// spells them; CloudTrail's own are in `PascalCase`); `None` when the
/// detection does not pin them.
pub(crate) fn event_names(detection: &Detections) -> Option<BTreeSet<String>> {
    let mut all: Option<BTreeSet<String>> = None;
    for c in &detection.conditions {
        // Several conditions: any may hold.
        let names = condition(c, &detection.named)?;
        all.get_or_insert_with(BTreeSet::new).extend(names);
    }
    all
}

fn intersect(sets: impl Iterator<Item = Option<BTreeSet<String>>>) -> Option<BTreeSet<String>> {
    sets.flatten()
        .reduce(|a, b| a.intersection(&b).cloned().collect())
}

fn union(mut sets: impl Iterator<Item = Option<BTreeSet<String>>>) -> Option<BTreeSet<String>> {
    sets.try_fold(BTreeSet::new(), |mut acc, s| {
        acc.extend(s?);
        Some(acc)
    })
}

fn condition(expr: &ConditionExpr, named: &HashMap<String, Detection>) -> Option<BTreeSet<String>> {
    match expr {
        ConditionExpr::Identifier(name) => named.get(name).and_then(detection),
        ConditionExpr::And(xs) => intersect(xs.iter().map(|x| condition(x, named))),
        ConditionExpr::Or(xs) => union(xs.iter().map(|x| condition(x, named))),
        ConditionExpr::Not(_) => None,
        ConditionExpr::Selector {
            quantifier,
            pattern,
        } => {
            let chosen = named
                .iter()
                .filter(|(name, _)| pattern.matches_detection_name(name))
                .map(|(_, d)| detection(d));
            match quantifier {
                Quantifier::All => intersect(chosen),
                Quantifier::Any | Quantifier::Count(_) => union(chosen),
            }
        }
    }
}

fn detection(d: &Detection) -> Option<BTreeSet<String>> {
    match d {
        Detection::AllOf(items) => intersect(items.iter().map(|item| {
            let plain = item.field.modifiers.is_empty()
                || item
                    .field
                    .modifiers
                    .iter()
                    .all(|m| matches!(m, rsigma_parser::Modifier::Cased));
            if item.field.name.as_deref() != Some("eventName") || !plain {
                return None;
            }
            item.values
                .iter()
                .map(|v| match v {
                    SigmaValue::String(s) => s.as_plain(),
                    _ => None,
                })
                .collect()
        })),
        Detection::And(ds) => intersect(ds.iter().map(detection)),
        Detection::AnyOf(ds) => union(ds.iter().map(detection)),
        _ => None,
    }
}

/// What the template's pattern lets a rule see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// Every event name the rule matches passes the pattern, and so do its
    /// positive inline test records.
    Passed,
    /// These event names (as CloudTrail spells them) do not pass it, or
    /// the rule's own positive examples of them do not.
    Missing(Vec<String>),
    /// The rule pins no event name: it may match names the pattern drops.
    Unpinned,
}

/// What the pattern lets a rule matching `names` see, judged also on the
/// rule's `positives` (its positive inline test records, as JSON).
pub fn reach<'a>(
    names: Option<&BTreeSet<String>>,
    positives: impl Iterator<Item = &'a str>,
) -> Reach {
    let mut missing: BTreeSet<String> = BTreeSet::new();
    if let Some(names) = names {
        missing.extend(
            names
                .iter()
                .filter(|n| !PATTERN_EVENT_NAMES.contains(&n.to_ascii_lowercase().as_str()))
                .map(|n| canonical(n)),
        );
    }
    // A positive the pattern drops: its event name must go through
    // ExtraEventNames, which passes that name whatever its other fields.
    for record in positives {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(record) else {
            continue;
        };
        if !passes_pattern(&value)
            && let Some(name) = value.get("eventName").and_then(|n| n.as_str())
        {
            missing.insert(canonical(name));
        }
    }
    match (names, missing.is_empty()) {
        (_, false) => Reach::Missing(missing.into_iter().collect()),
        (None, true) => Reach::Unpinned,
        (Some(_), true) => Reach::Passed,
    }
}
