//! Whether a filter can let a match pass on what whoever signs in chooses.
//!
//! A filter lets a match pass when its condition does not hold. Naming an
//! anchor (the session issuer, the source network) somewhere in the filter
//! is not enough: `condition: not agent and not network` lets a match pass
//! on the user agent alone, and `condition: browser` over a user agent lets
//! every other user agent pass. So the check asks the condition itself:
//! with every selection that firmly pins an anchor taken as false (the
//! signer cannot make it true), the outcome must not depend on the
//! selections the signer steers (those naming a field the signer chooses,
//! and keywords, which match the user agent too). Every assignment of the
//! selections is tried; a filter has a handful.
//!
//! An anchor pins only with exact values or CIDR networks of an IPv4 /16 or
//! an IPv6 /32 at least: `sourceIPAddress|exists`, `|re: .*`, `|contains`
//! or `0.0.0.0/0` hold for anyone, and a /8 holds whole clouds.

use rsigma_parser::{
    ConditionExpr, Detection, DetectionItem, Detections, Modifier, Quantifier, SigmaValue,
};

use super::sigma::{ANCHORS, CHOSEN_BY_THE_SIGNER};

/// The most selections a filter's trust is checked over (2^n assignments).
const MAX_SELECTIONS: usize = 12;

/// Whether a network is narrow enough to pin anyone down: an IPv4 /16 or
/// an IPv6 /32 at least (a /8 holds whole clouds: 3.0.0.0/8 is mostly
/// Amazon's, 2600::/8 all of ARIN's IPv6), or inside a private range (your
/// own network, reached through your VPC endpoints).
fn narrow(net: ipnet::IpNet) -> bool {
    match net {
        ipnet::IpNet::V4(n) => {
            n.prefix_len() >= 16 || (n.prefix_len() >= 8 && n.addr().is_private())
        }
        ipnet::IpNet::V6(n) => {
            n.prefix_len() >= 32
                || (n.prefix_len() >= 7 && (n.addr().segments()[0] & 0xfe00) == 0xfc00)
        }
    }
}

/// Whether `item` pins an anchor: an anchor field, exact values (or
/// `cased`), or [narrow](narrow) CIDR networks.
fn pins(item: &DetectionItem) -> bool {
    let Some(field) = item.field.name.as_deref() else {
        return false;
    };
    if !ANCHORS.contains(&field) || item.values.is_empty() {
        return false;
    }
    let modifiers = &item.field.modifiers;
    let cidr = modifiers.contains(&Modifier::Cidr);
    let plain = modifiers
        .iter()
        .all(|m| matches!(m, Modifier::Cased | Modifier::Cidr));
    plain
        && item.values.iter().all(|v| match v {
            SigmaValue::String(s) => s.as_plain().is_some_and(|p| {
                !p.is_empty() && (!cidr || p.parse::<ipnet::IpNet>().is_ok_and(narrow))
            }),
            _ => false,
        })
}

/// Whether every way `d` can match pins an anchor.
fn anchored(d: &Detection) -> bool {
    match d {
        Detection::AllOf(items) => items.iter().any(pins),
        Detection::AnyOf(ds) => !ds.is_empty() && ds.iter().all(anchored),
        Detection::And(ds) => ds.iter().any(anchored),
        Detection::ArrayMatch { .. } | Detection::Keywords(_) | Detection::Conditional { .. } => {
            false
        }
    }
}

/// Whether the signer chooses `field`: the listed fields, and every key of
/// `additionalEventData` but those AWS decides (whether MFA was used, and
/// with which device), since the client sends the rest (`LoginTo`,
/// `MobileVersion`, ...).
fn chosen_by_the_signer(field: &str) -> bool {
    CHOSEN_BY_THE_SIGNER.contains(&field)
        || field
            .strip_prefix("additionalEventData.")
            .is_some_and(|key| !["MFAUsed", "MFAIdentifier"].contains(&key))
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
                    Some(f) if chosen_by_the_signer(f) => add(f),
                    Some(_) => {}
                    None => add("keywords"),
                }
            }
        }
        Detection::AnyOf(ds) | Detection::And(ds) => ds.iter().for_each(|d| steered(d, out)),
        Detection::Keywords(_) => add("keywords"),
        Detection::ArrayMatch { field, .. } => {
            if chosen_by_the_signer(field) {
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
    let free = (0..names.len()).filter(|&i| !pinned[i]);
    let steered: Vec<usize> = free.clone().filter(|&i| !steering[i].is_empty()).collect();
    let others: Vec<usize> = free.filter(|&i| steering[i].is_empty()).collect();
    // For every setting of the selections the signer does not steer (the
    // anchors false), every setting of those it steers gives one outcome.
    for other in 0u32..(1 << others.len()) {
        let mut value = vec![false; names.len()];
        for (bit, &i) in others.iter().enumerate() {
            value[i] = other & (1 << bit) != 0;
        }
        let baseline = keeps(&value);
        for mask in 1u32..(1 << steered.len()) {
            let mut v = value.clone();
            for (bit, &i) in steered.iter().enumerate() {
                v[i] = mask & (1 << bit) != 0;
            }
            if keeps(&v) == baseline {
                continue;
            }
            let mut fields: Vec<&str> = steered
                .iter()
                .enumerate()
                .filter(|(bit, _)| mask & (1 << bit) != 0)
                .flat_map(|(_, &i)| steering[i].iter().map(String::as_str))
                .collect();
            fields.sort_unstable();
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
