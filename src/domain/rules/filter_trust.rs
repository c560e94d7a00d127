//! Whether a filter can let a match pass on what whoever signs in chooses.
//!
//! A filter lets a match pass when its condition does not hold. Naming an
//! anchor (the session issuer, the source network) somewhere in the filter
//! is not enough: `condition: not agent and not network` lets a match pass
//! on the user agent alone. So the check asks the condition itself: with
//! every selection that pins an anchor false (the signer cannot make it
//! true), can the selections the signer steers (those naming a field the
//! signer chooses, and keywords, which match the user agent too) still
//! decide that a match passes? Every assignment of the other selections is
//! tried; a filter has a handful.

use rsigma_parser::{ConditionExpr, Detection, Detections, Quantifier};

use super::sigma::{ANCHORS, CHOSEN_BY_THE_SIGNER};

/// The most selections a filter's trust is checked over (2^n assignments).
const MAX_SELECTIONS: usize = 12;

/// Whether every way `d` can match pins an anchor.
fn anchored(d: &Detection) -> bool {
    match d {
        Detection::AllOf(items) => items.iter().any(|i| {
            i.field
                .name
                .as_deref()
                .is_some_and(|f| ANCHORS.contains(&f))
        }),
        Detection::AnyOf(ds) => !ds.is_empty() && ds.iter().all(anchored),
        Detection::And(ds) => ds.iter().any(anchored),
        Detection::ArrayMatch { field, .. } => ANCHORS.contains(&field.as_str()),
        Detection::Keywords(_) | Detection::Conditional { .. } => false,
    }
}

/// What in `d` the signer steers: the chosen fields it names, and
/// `keywords` for a keyword search.
fn steered(d: &Detection, out: &mut Vec<String>) {
    let mut add = |f: &str| {
        if !out.iter().any(|o| o == f) {
            out.push(f.to_owned());
        }
    };
    match d {
        Detection::AllOf(items) => {
            for i in items {
                match i.field.name.as_deref() {
                    Some(f) if CHOSEN_BY_THE_SIGNER.contains(&f) => add(f),
                    Some(_) => {}
                    None => add("keywords"),
                }
            }
        }
        Detection::AnyOf(ds) | Detection::And(ds) => ds.iter().for_each(|d| steered(d, out)),
        Detection::Keywords(_) => add("keywords"),
        Detection::ArrayMatch { field, .. } => {
            if CHOSEN_BY_THE_SIGNER.contains(&field.as_str()) {
                add(field);
            }
        }
        Detection::Conditional { named, .. } => named.values().for_each(|d| steered(d, out)),
    }
}

/// The condition's value with the selections named in `names` set to `value`.
fn holds(expr: &ConditionExpr, names: &[&String], value: &[bool]) -> bool {
    let of = |name: &str| {
        names
            .iter()
            .position(|n| n.as_str() == name)
            .is_some_and(|i| value[i])
    };
    match expr {
        ConditionExpr::Identifier(name) => of(name),
        ConditionExpr::And(es) => es.iter().all(|e| holds(e, names, value)),
        ConditionExpr::Or(es) => es.iter().any(|e| holds(e, names, value)),
        ConditionExpr::Not(e) => !holds(e, names, value),
        ConditionExpr::Selector {
            quantifier,
            pattern,
        } => {
            let matching: Vec<bool> = names
                .iter()
                .enumerate()
                .filter(|(_, n)| pattern.matches_detection_name(n))
                .map(|(i, _)| value[i])
                .collect();
            let true_count = matching.iter().filter(|v| **v).count() as u64;
            match quantifier {
                Quantifier::Any => true_count >= 1,
                Quantifier::All => true_count == matching.len() as u64,
                Quantifier::Count(n) => true_count >= *n,
            }
        }
    }
}

/// A filter that could let a match pass on what the signer steers alone
/// is refused, naming what.
pub(crate) fn check_filter_trust(detection: &Detections) -> Result<(), String> {
    let mut names: Vec<&String> = detection.named.keys().collect();
    names.sort();
    let mut steering: Vec<Vec<String>> = Vec::with_capacity(names.len());
    for n in &names {
        let mut out = Vec::new();
        steered(&detection.named[*n], &mut out);
        steering.push(out);
    }
    if steering.iter().all(Vec::is_empty) {
        return Ok(());
    }
    if names.len() > MAX_SELECTIONS {
        return Err(format!(
            "the filter names fields whoever signs in chooses in more than {MAX_SELECTIONS} \
             selections; signin-watch cannot check that it needs an issuer or a network: \
             split it into smaller filters"
        ));
    }
    let pinned: Vec<bool> = names
        .iter()
        .map(|n| anchored(&detection.named[*n]))
        .collect();
    let keeps = |value: &[bool]| detection.conditions.iter().any(|c| holds(c, &names, value));
    let free: Vec<usize> = (0..names.len()).filter(|&i| !pinned[i]).collect();
    for mask in 0u32..(1 << free.len()) {
        let mut value = vec![false; names.len()];
        for (bit, &i) in free.iter().enumerate() {
            value[i] = mask & (1 << bit) != 0;
        }
        if keeps(&value) {
            continue;
        }
        // The match passes here; would it without what the signer steers?
        let mut unsteered = value.clone();
        for &i in &free {
            if !steering[i].is_empty() {
                unsteered[i] = false;
            }
        }
        if keeps(&unsteered) {
            let mut fields: Vec<&str> = free
                .iter()
                .filter(|&&i| value[i])
                .flat_map(|&i| steering[i].iter().map(String::as_str))
                .collect();
            fields.dedup();
            return Err(format!(
                "the filter lets matches pass on {}, which whoever signs in chooses; name the session issuer \
                 (userIdentity.sessionContext.sessionIssuer.arn) or the network (sourceIPAddress|cidr) too, \
                 so that both must hold",
                fields.join(", ")
            ));
        }
    }
    Ok(())
}
