//! Tuning hints: when a few session issuers or source addresses make most
//! of a rule's detections, say so, with the exact setting or Sigma filter
//! that would let them pass.
//!
//! A hint is a question, and it must not be one an attacker can ask. Only
//! what whoever signs in cannot choose is offered: the issuer's ARN (AWS
//! sets it from the keys that minted the session) and the source address;
//! user names, user agents and federated names never shape a hint. The
//! volume is the attacker's to choose, though: one address making most of
//! a rule's detections is also what a brute force looks like. So a value
//! is offered only when it persisted (a day or more between its first and
//! last detection), an address only from a network people work from (an
//! ISP's, a private one, or a list of your own that is not watched: never
//! a hosting provider's, AWS's, an unknown one or a watched list's), and
//! never for a high or critical rule. The hint says over how many days and
//! for how many users, and where the address is, for a person to judge.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use crate::config::{RULE2, RULE2_ALLOW_CIDRS, RULE2_ALLOW_ISSUERS, RULE2_ALLOW_USER_AGENTS};
use crate::domain::time::Timestamp;
use crate::render::report::{DAY_MS, Hint};

/// Rules with fewer detections get no hint: a share of three says little.
pub const MIN_DETECTIONS: u64 = 5;
/// At most this many values in one hint.
const MOST_VALUES: usize = 3;
/// A value offered must have been detected over at least this long.
const PERSISTED_MS: i64 = DAY_MS;
/// Distinct values counted per rule and dimension; past it the noise is
/// spread, no hint is offered, and memory stays bounded whatever the
/// archive holds.
pub const MAX_VALUES: usize = 10_000;
/// Users remembered per value, to say how many (past it, "at least").
const MAX_USERS: usize = 100;

/// The rule-2 allowlist in effect, which a hint adds to.
#[derive(Debug, Clone, Default)]
pub struct CurrentAllowlist {
    pub issuers: Vec<String>,
    pub cidrs: Vec<String>,
    /// User agents are set: the allowlist then needs an agent too, so a
    /// hint offers a filter instead.
    pub user_agents: bool,
}

/// What a rule's detections say about one value of a dimension.
#[derive(Debug, Clone)]
pub struct ValueTally {
    pub detections: u64,
    pub first: Timestamp,
    pub last: Timestamp,
    users: HashSet<String>,
    /// Where an address is (country, owner, class), for the hint's text.
    pub place: String,
    /// Whether the address is on a network people work from.
    pub workplace: bool,
}

/// A rule's values of one dimension, bounded.
#[derive(Debug, Clone, Default)]
pub struct Dimension {
    values: HashMap<String, ValueTally>,
    /// More than [`MAX_VALUES`] distinct values were seen.
    overflowed: bool,
}

impl Dimension {
    pub fn add(&mut self, value: &str, at: Timestamp, user: &str, place: &str, workplace: bool) {
        if let Some(v) = self.values.get_mut(value) {
            v.detections += 1;
            v.first = v.first.min(at);
            v.last = v.last.max(at);
            if v.users.len() < MAX_USERS {
                v.users.insert(user.to_owned());
            }
            return;
        }
        if self.values.len() >= MAX_VALUES {
            self.overflowed = true;
            return;
        }
        self.values.insert(
            value.to_owned(),
            ValueTally {
                detections: 1,
                first: at,
                last: at,
                users: HashSet::from([user.to_owned()]),
                place: place.to_owned(),
                workplace,
            },
        );
    }
}

/// What a hint can be about.
#[derive(Clone, Copy)]
enum Kind {
    Issuer,
    Source,
}

impl Kind {
    fn noun(self, n: usize) -> &'static str {
        match (self, n) {
            (Kind::Issuer, 1) => "session issuer",
            (Kind::Issuer, _) => "session issuers",
            (Kind::Source, 1) => "source address",
            (Kind::Source, _) => "source addresses",
        }
    }

    /// Whether a value may be offered at all.
    fn offered(self, value: &str, tally: &ValueTally) -> bool {
        let persisted = tally.last.as_millis() - tally.first.as_millis() >= PERSISTED_MS;
        persisted
            && match self {
                Kind::Issuer => {
                    value.starts_with("arn:")
                        && value
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || ":/_+=,.@-".contains(c))
                }
                Kind::Source => value.parse::<IpAddr>().is_ok() && tally.workplace,
            }
    }
}

/// One rule's detections, as the hints read them.
pub struct RuleFacts<'a> {
    pub rule: &'a str,
    pub kind: &'a str,
    pub severity: &'a str,
    pub detections: u64,
    pub issuers: &'a Dimension,
    pub sources: &'a Dimension,
}

/// The hints for one rule's detections.
pub fn hints(facts: &RuleFacts<'_>, current: &CurrentAllowlist) -> Vec<Hint> {
    // A filter names detection rules (a correlation is tuned through the
    // rules it counts); a high or critical rule's noise is for a person
    // to look at, not to allowlist from a count.
    if facts.kind != "detection"
        || matches!(facts.severity, "high" | "critical")
        || facts.detections < MIN_DETECTIONS
    {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (kind, dim) in [(Kind::Issuer, facts.issuers), (Kind::Source, facts.sources)] {
        if dim.overflowed {
            continue;
        }
        if let Some(values) = concentrated(kind, dim, facts.detections) {
            out.push(hint(facts, kind, &values, current));
        }
    }
    out
}

/// The fewest values (at most [`MOST_VALUES`]) that make at least four
/// fifths of `total`; none when no such few exist or one of them may not
/// be offered.
fn concentrated(kind: Kind, dim: &Dimension, total: u64) -> Option<Vec<(&str, &ValueTally)>> {
    let mut ranked: Vec<(&str, &ValueTally)> =
        dim.values.iter().map(|(k, v)| (k.as_str(), v)).collect();
    ranked.sort_by(|a, b| b.1.detections.cmp(&a.1.detections).then(a.0.cmp(b.0)));
    let mut made = 0;
    let mut values = Vec::new();
    for (value, tally) in ranked.into_iter().take(MOST_VALUES) {
        if !kind.offered(value, tally) {
            return None;
        }
        made += tally.detections;
        values.push((value, tally));
        if 5 * made >= 4 * total {
            return Some(values);
        }
    }
    None
}

fn hint(
    facts: &RuleFacts<'_>,
    kind: Kind,
    values: &[(&str, &ValueTally)],
    current: &CurrentAllowlist,
) -> Hint {
    let (rule, total) = (facts.rule, facts.detections);
    let n = values.len();
    let made: u64 = values.iter().map(|(_, t)| t.detections).sum();
    let first = values
        .iter()
        .map(|(_, t)| t.first)
        .min()
        .unwrap_or(Timestamp::from_millis(0));
    let last = values
        .iter()
        .map(|(_, t)| t.last)
        .max()
        .unwrap_or(Timestamp::from_millis(0));
    let days = (last.as_millis() - first.as_millis()) / DAY_MS + 1;
    let users: HashSet<&String> = values.iter().flat_map(|(_, t)| &t.users).collect();
    let users = if users.len() >= MAX_USERS {
        format!("at least {MAX_USERS}")
    } else {
        users.len().to_string()
    };
    let (them, verb) = if n == 1 {
        ("it", "makes")
    } else {
        ("them", "make")
    };
    let places: Vec<String> = values
        .iter()
        .filter(|(_, t)| !t.place.is_empty())
        .map(|(v, t)| format!("{v}: {}", t.place))
        .collect();
    let place = if matches!(kind, Kind::Source) && !places.is_empty() {
        format!(" ({})", places.join("; "))
    } else {
        String::new()
    };
    let text = format!(
        "{n} {}{place} {verb} {}% of {rule}'s {total} detections ({made}), over {days} days, for {users} users: allowlist {them}, if {} yours?",
        kind.noun(n),
        100 * made / total,
        if n == 1 { "it is" } else { "they are" },
    );
    let new: Vec<String> = values
        .iter()
        .map(|(v, _)| match kind {
            Kind::Issuer => (*v).to_owned(),
            Kind::Source => host_cidr(v),
        })
        .collect();
    if rule == RULE2 && !current.user_agents {
        let (flag, var, param, existing) = match kind {
            Kind::Issuer => (
                "--rule2-allow-issuers",
                RULE2_ALLOW_ISSUERS,
                "Rule2AllowIssuers",
                &current.issuers,
            ),
            Kind::Source => (
                "--rule2-allow-cidrs",
                RULE2_ALLOW_CIDRS,
                "Rule2AllowCidrs",
                &current.cidrs,
            ),
        };
        let mut all: Vec<String> = existing.clone();
        for v in new {
            if !all.contains(&v) {
                all.push(v);
            }
        }
        let listed: Vec<String> = all.iter().map(|v| quote(v)).collect();
        return Hint {
            text,
            how: format!(
                "Set {var} (the stack's {param} parameter) to the list below, or pass it to replay; it keeps the {} value(s) set now:",
                existing.len()
            ),
            setting: format!("{flag} '[{}]'", listed.join(",")),
        };
    }
    let (field, what) = match kind {
        Kind::Issuer => (
            "userIdentity.sessionContext.sessionIssuer.arn|cased",
            "issuers",
        ),
        Kind::Source => ("sourceIPAddress|cidr", "sources"),
    };
    let name = format!("{rule}-allow-{what}");
    let mut yaml = format!(
        "title: {}\nname: {}\nlogsource:\n  product: aws\n  service: cloudtrail\nfilter:\n  rules:\n    - {}\n  known:\n    {field}:\n",
        quote(&format!(
            "Let {rule}'s matches from {} {} pass",
            if n == 1 { "this" } else { "these" },
            kind.noun(n)
        )),
        quote(&name),
        quote(rule)
    );
    for v in &new {
        yaml.push_str(&format!("      - {}\n", quote(v)));
    }
    yaml.push_str("  condition: not known\n");
    let agents = if rule == RULE2 && current.user_agents {
        format!(
            " ({RULE2_ALLOW_USER_AGENTS} is set, so the allowlist would also need an agent: a filter lets these pass alone)"
        )
    } else {
        String::new()
    };
    Hint {
        text,
        how: format!(
            "Save as {name}.yml in your rules directory (--rules DIR, SIGNIN_WATCH_RULES_DIR; add to a file of that name if you have one) and check it with `signin-watch rules check`{agents}:"
        ),
        setting: yaml,
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
