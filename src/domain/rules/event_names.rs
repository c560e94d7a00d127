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
    /// Every event name the rule matches passes the pattern.
    Passed,
    /// These event names do not pass it.
    Missing(Vec<String>),
    /// The rule pins no event name: it may match names the pattern drops.
    Unpinned,
}

/// What the pattern lets a rule matching `names` see.
pub fn reach(names: Option<&BTreeSet<String>>) -> Reach {
    match names {
        None => Reach::Unpinned,
        Some(names) => {
            let missing: Vec<String> = names
                .iter()
                .filter(|n| !PATTERN_EVENT_NAMES.contains(&n.to_ascii_lowercase().as_str()))
                .cloned()
                .collect();
            if missing.is_empty() {
                Reach::Passed
            } else {
                Reach::Missing(missing)
            }
        }
    }
}
