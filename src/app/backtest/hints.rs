//! Tuning hints: when a few session issuers, source addresses or accounts
//! make most of a rule's detections, say so, with the exact setting or
//! Sigma filter that would let them pass.
//!
//! Only what whoever signs in cannot choose is offered: the issuer's ARN
//! (AWS sets it from the keys that minted the session), the source address
//! and the account. User names, user agents and federated names never
//! shape a hint: a filter on them alone would let an attacker pass by
//! naming himself like the noise.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::config::{RULE2, RULE2_ALLOW_CIDRS, RULE2_ALLOW_ISSUERS};
use crate::render::report::Hint;

/// Rules with fewer detections get no hint: a share of three says little.
pub const MIN_DETECTIONS: u64 = 5;
/// The share a few values must make together.
const SHARE: f64 = 0.8;
/// At most this many values in one hint.
const MOST_VALUES: usize = 3;
/// Accounts are offered only among this many: filtering out the one or
/// two accounts a rule sees is switching the rule off.
const MIN_ACCOUNTS: usize = 5;

/// What a hint can be about.
#[derive(Clone, Copy)]
enum Dimension {
    Issuer,
    Source,
    Account,
}

impl Dimension {
    fn noun(self, n: usize) -> &'static str {
        match (self, n) {
            (Dimension::Issuer, 1) => "session issuer",
            (Dimension::Issuer, _) => "session issuers",
            (Dimension::Source, 1) => "source address",
            (Dimension::Source, _) => "source addresses",
            (Dimension::Account, 1) => "account",
            (Dimension::Account, _) => "accounts",
        }
    }

    /// Whether a value may go into a setting at all.
    fn usable(self, value: &str) -> bool {
        match self {
            Dimension::Issuer => {
                value.starts_with("arn:")
                    && value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || ":/_+=,.@-".contains(c))
            }
            Dimension::Source => value.parse::<IpAddr>().is_ok(),
            Dimension::Account => crate::domain::identity::is_account_id(value),
        }
    }
}

/// The hints for one rule's detections.
pub fn hints(
    rule: &str,
    kind: &str,
    detections: u64,
    issuers: &HashMap<String, u64>,
    sources: &HashMap<String, u64>,
    accounts: &HashMap<String, u64>,
) -> Vec<Hint> {
    // A filter names detection rules; a correlation is tuned through the
    // rules it counts.
    if kind != "detection" || detections < MIN_DETECTIONS {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (dim, counts) in [
        (Dimension::Issuer, issuers),
        (Dimension::Source, sources),
        (Dimension::Account, accounts),
    ] {
        if matches!(dim, Dimension::Account) && counts.len() < MIN_ACCOUNTS {
            continue;
        }
        if let Some((values, made)) = concentrated(dim, counts, detections) {
            out.push(hint(rule, dim, &values, made, detections));
        }
    }
    out
}

/// The fewest values (at most [`MOST_VALUES`]) that make at least
/// [`SHARE`] of `total`, and how many they make; none when no such few
/// exist or one of them cannot go into a setting.
fn concentrated(
    dim: Dimension,
    counts: &HashMap<String, u64>,
    total: u64,
) -> Option<(Vec<String>, u64)> {
    let mut ranked: Vec<(&String, u64)> = counts.iter().map(|(k, v)| (k, *v)).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut made = 0;
    let mut values = Vec::new();
    for (value, n) in ranked.into_iter().take(MOST_VALUES) {
        if !dim.usable(value) {
            return None;
        }
        made += n;
        values.push(value.clone());
        if made as f64 >= SHARE * total as f64 {
            return Some((values, made));
        }
    }
    None
}

fn hint(rule: &str, dim: Dimension, values: &[String], made: u64, total: u64) -> Hint {
    let n = values.len();
    let pct = (100 * made) / total;
    let (them, verb) = if n == 1 {
        ("it", "makes")
    } else {
        ("them", "make")
    };
    let action = match dim {
        Dimension::Account => format!(
            "if {} sandboxes, filter {them} out?",
            if n == 1 {
                "it is one of your"
            } else {
                "they are your"
            }
        ),
        _ => format!("allowlist {them}?"),
    };
    let text = format!(
        "{n} {} {verb} {pct}% of {rule}'s {total} detections ({made}): {action}",
        dim.noun(n)
    );
    let quoted: Vec<String> = values.iter().map(|v| quote(v)).collect();
    match dim {
        Dimension::Issuer if rule == RULE2 => Hint {
            text,
            how: format!(
                "Set {RULE2_ALLOW_ISSUERS} (the stack's Rule2AllowIssuers parameter), or pass it to replay, to let sign-ins from sessions these issuers minted pass:"
            ),
            setting: format!("--rule2-allow-issuers '[{}]'", quoted.join(",")),
        },
        Dimension::Source if rule == RULE2 => Hint {
            text,
            how: format!(
                "Set {RULE2_ALLOW_CIDRS} (the stack's Rule2AllowCidrs parameter), or pass it to replay:"
            ),
            setting: format!(
                "--rule2-allow-cidrs '[{}]'",
                values
                    .iter()
                    .map(|v| quote(&host_cidr(v)))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        },
        _ => {
            let (field, listed): (&str, Vec<String>) = match dim {
                Dimension::Issuer => (
                    "userIdentity.sessionContext.sessionIssuer.arn|cased",
                    quoted,
                ),
                Dimension::Source => (
                    "sourceIPAddress|cidr",
                    values.iter().map(|v| quote(&host_cidr(v))).collect(),
                ),
                Dimension::Account => ("recipientAccountId", quoted),
            };
            let what = match dim {
                Dimension::Issuer => "issuers",
                Dimension::Source => "sources",
                Dimension::Account => "accounts",
            };
            let name = format!("{rule}-allow-{what}");
            let mut yaml = format!(
                "title: {}\nname: {}\nlogsource:\n  product: aws\n  service: cloudtrail\nfilter:\n  rules:\n    - {}\n  known:\n    {field}:\n",
                quote(&format!(
                    "Let {rule}'s matches from {} {} pass",
                    if n == 1 { "this" } else { "these" },
                    dim.noun(n)
                )),
                quote(&name),
                quote(rule)
            );
            for v in &listed {
                yaml.push_str(&format!("      - {v}\n"));
            }
            yaml.push_str("  condition: not known\n");
            Hint {
                text,
                how: format!(
                    "Save as {name}.yml in your rules directory (--rules DIR, SIGNIN_WATCH_RULES_DIR) and check it with `signin-watch rules check`:"
                ),
                setting: yaml,
            }
        }
    }
}

/// A value as a JSON string, which YAML and the settings' JSON lists read
/// alike, whatever it holds.
fn quote(value: &str) -> String {
    serde_json::Value::from(value).to_string()
}

/// An address as the block that holds it alone.
fn host_cidr(address: &str) -> String {
    match address.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => format!("{a}/32"),
        Ok(IpAddr::V6(a)) => format!("{a}/128"),
        Err(_) => address.to_owned(),
    }
}
