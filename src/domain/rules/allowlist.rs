//! The rule-2 allowlist variables (`SIGNIN_WATCH_RULE2_ALLOW_*`), as a
//! Sigma filter on `federated-single-factor`.
//!
//! A match passes when its session issuer (ARN exactly, or name in any case)
//! or its source network is listed. A user agent is whatever the caller
//! sends, so user-agent entries are accepted only together with issuers or
//! networks, and then a match passes only when both hold: its user agent is
//! listed and its issuer or network is.

use std::net::IpAddr;

use ipnet::IpNet;
use yaml_serde::{Mapping, Value};

use super::load::{self, EventFiles};
use super::{Filter, Origin};

/// The entries of the three variables, as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    /// Session issuer ARNs (exact) or names (any case).
    pub issuers: Vec<String>,
    /// User agents: exact, or a prefix when the entry ends with `*`.
    pub user_agents: Vec<String>,
    /// IPv4 or IPv6 networks, or single addresses.
    pub source_cidrs: Vec<String>,
}

/// What is wrong with an allowlist, naming the variable's kind of entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllowlistError {
    #[error("{0:?} is not a CIDR block (expected e.g. 203.0.113.0/24 or 2001:db8::/32)")]
    Cidr(String),
    #[error(
        "a user agent is whatever the caller sends: give user agents only together with session issuers or source networks"
    )]
    UserAgentAlone,
}

/// The network of a CIDR entry; a bare address is a /32 or /128.
pub fn parse_cidr(entry: &str) -> Result<IpNet, AllowlistError> {
    let text = entry.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| AllowlistError::Cidr(entry.to_owned()))
}

/// `text` as a Sigma string that matches it exactly: wildcards and
/// backslashes escaped.
fn sigma_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn list(values: impl IntoIterator<Item = String>) -> Value {
    Value::Sequence(values.into_iter().map(Value::String).collect())
}

fn selection(pairs: &[(&str, Value)]) -> Value {
    let mut m = Mapping::new();
    for (k, v) in pairs {
        m.insert(Value::String((*k).to_owned()), v.clone());
    }
    Value::Mapping(m)
}

impl Allowlist {
    pub fn is_empty(&self) -> bool {
        self.issuers.is_empty() && self.user_agents.is_empty() && self.source_cidrs.is_empty()
    }

    /// The filter on `rule`, or `None` when the allowlist is empty.
    pub fn filter(&self, rule: &str) -> Result<Option<Filter>, AllowlistError> {
        if self.is_empty() {
            return Ok(None);
        }
        if self.issuers.is_empty() && self.source_cidrs.is_empty() {
            return Err(AllowlistError::UserAgentAlone);
        }
        let mut networks = Vec::new();
        for entry in &self.source_cidrs {
            let net = parse_cidr(entry)?;
            networks.push(net.to_string());
            // CloudTrail may write an IPv4 source as an IPv4-mapped IPv6 address.
            if let IpNet::V4(v4) = net {
                networks.push(format!("::ffff:{}/{}", v4.network(), 96 + v4.prefix_len()));
            }
        }
        let (arns, names): (Vec<&String>, Vec<&String>) =
            self.issuers.iter().partition(|i| i.starts_with("arn:"));
        let mut trusted = Vec::new();
        let mut named = Mapping::new();
        if !arns.is_empty() {
            trusted.push("issuer_arn");
            named.insert(
                Value::String("issuer_arn".into()),
                selection(&[(
                    "userIdentity.sessionContext.sessionIssuer.arn|cased",
                    list(arns.iter().map(|a| sigma_literal(a))),
                )]),
            );
        }
        if !names.is_empty() {
            // An issuer's name pins the broker within its account.
            trusted.push("issuer_name");
            named.insert(
                Value::String("issuer_name".into()),
                selection(&[(
                    "userIdentity.sessionContext.sessionIssuer.userName",
                    list(names.iter().map(|n| sigma_literal(n))),
                )]),
            );
        }
        if !networks.is_empty() {
            trusted.push("network");
            named.insert(
                Value::String("network".into()),
                selection(&[("sourceIPAddress|cidr", list(networks))]),
            );
        }
        let trusted = format!("({})", trusted.join(" or "));
        let condition = if self.user_agents.is_empty() {
            format!("not {trusted}")
        } else {
            let (prefixes, exact): (Vec<&String>, Vec<&String>) =
                self.user_agents.iter().partition(|a| a.ends_with('*'));
            let mut agent = Vec::new();
            if !exact.is_empty() {
                agent.push((
                    "userAgent|cased",
                    list(exact.iter().map(|a| sigma_literal(a))),
                ));
            }
            if !prefixes.is_empty() {
                agent.push((
                    "userAgent|startswith|cased",
                    list(prefixes.iter().map(|a| sigma_literal(&a[..a.len() - 1]))),
                ));
            }
            // Either form of entry may match: one selection each, any may hold.
            let mut names_used = Vec::new();
            for (i, (field, values)) in agent.into_iter().enumerate() {
                let name = format!("agent_{i}");
                named.insert(Value::String(name.clone()), selection(&[(field, values)]));
                names_used.push(name);
            }
            format!("not ({trusted} and ({}))", names_used.join(" or "))
        };
        named.insert(Value::String("rules".into()), list([rule.to_owned()]));
        named.insert(Value::String("condition".into()), Value::String(condition));
        let mut doc = Mapping::new();
        doc.insert(
            Value::String("title".into()),
            Value::String("SIGNIN_WATCH_RULE2_ALLOW_* allowlist".into()),
        );
        doc.insert(
            Value::String("name".into()),
            Value::String("rule2-allowlist".into()),
        );
        let mut logsource = Mapping::new();
        logsource.insert(Value::String("product".into()), Value::String("aws".into()));
        logsource.insert(
            Value::String("service".into()),
            Value::String("cloudtrail".into()),
        );
        doc.insert(Value::String("logsource".into()), Value::Mapping(logsource));
        doc.insert(Value::String("filter".into()), Value::Mapping(named));
        let text = yaml_serde::to_string(&Value::Mapping(doc)).map_err(|e| {
            AllowlistError::Cidr(format!("(the allowlist could not be written: {e})"))
        })?;
        let loaded = load::parse(
            Origin::Settings("SIGNIN_WATCH_RULE2_ALLOW_*"),
            &text,
            &NoEvents,
        )
        .map_err(|e| AllowlistError::Cidr(format!("(the allowlist does not load: {e})")))?;
        Ok(loaded.filters.into_iter().next())
    }
}

struct NoEvents;

impl EventFiles for NoEvents {
    fn read(&self, name: &str) -> Result<Vec<u8>, String> {
        Err(format!("no event file {name}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::record::CloudTrailRecord;

    fn record(json: &str) -> CloudTrailRecord<'_> {
        serde_json::from_str(json).unwrap()
    }

    const BROKER: &str = r#"{"userAgent":"Jersey/${project.version} (x?)","sourceIPAddress":"198.51.100.9",
        "userIdentity":{"type":"FederatedUser","sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::1:user/broker","userName":"Broker"}}}}"#;

    fn keeps(list: Allowlist, json: &str) -> bool {
        list.filter("federated-single-factor")
            .unwrap()
            .unwrap()
            .keeps(&record(json))
    }

    #[test]
    fn issuers_and_networks_each_let_a_match_pass() {
        let arn = Allowlist {
            issuers: vec!["arn:aws:iam::1:user/broker".into()],
            ..Default::default()
        };
        assert!(!keeps(arn, BROKER));
        let wrong_case_arn = Allowlist {
            issuers: vec!["arn:aws:iam::1:user/BROKER".into()],
            ..Default::default()
        };
        assert!(keeps(wrong_case_arn, BROKER), "ARNs compare exactly");
        let name = Allowlist {
            issuers: vec!["broker".into()],
            ..Default::default()
        };
        assert!(!keeps(name, BROKER), "names compare in any case");
        let other = Allowlist {
            issuers: vec!["someone-else".into()],
            ..Default::default()
        };
        assert!(keeps(other, BROKER));
        let net = Allowlist {
            source_cidrs: vec!["198.51.100.0/24".into()],
            ..Default::default()
        };
        assert!(!keeps(net.clone(), BROKER));
        assert!(
            !keeps(
                net.clone(),
                r#"{"sourceIPAddress":"::ffff:198.51.100.200"}"#
            ),
            "IPv4-mapped"
        );
        assert!(keeps(net, r#"{"sourceIPAddress":"198.51.101.1"}"#));
        let single = Allowlist {
            source_cidrs: vec!["198.51.100.9".into()],
            ..Default::default()
        };
        assert!(!keeps(single.clone(), BROKER));
        assert!(keeps(single, r#"{"sourceIPAddress":"198.51.100.8"}"#));
        let v6 = Allowlist {
            source_cidrs: vec!["2001:db8::/32".into()],
            ..Default::default()
        };
        assert!(!keeps(v6.clone(), r#"{"sourceIPAddress":"2001:db8:1::1"}"#));
        assert!(keeps(v6, r#"{"sourceIPAddress":"2001:db9::1"}"#));
    }

    #[test]
    fn a_user_agent_counts_only_with_an_issuer_or_a_network() {
        let alone = Allowlist {
            user_agents: vec!["Jersey/*".into()],
            ..Default::default()
        };
        assert_eq!(
            alone.filter("r").unwrap_err(),
            AllowlistError::UserAgentAlone
        );
        let both = Allowlist {
            user_agents: vec!["Jersey/*".into()],
            source_cidrs: vec!["198.51.100.0/24".into()],
            ..Default::default()
        };
        assert!(!keeps(both.clone(), BROKER), "agent and network hold");
        assert!(
            keeps(
                both.clone(),
                r#"{"userAgent":"Jersey/1","sourceIPAddress":"203.0.113.1"}"#
            ),
            "agent without network"
        );
        assert!(
            keeps(
                both,
                r#"{"userAgent":"curl/8","sourceIPAddress":"198.51.100.1"}"#
            ),
            "network without agent"
        );
        let exact = Allowlist {
            user_agents: vec!["Jersey/${project.version} (x?)".into()],
            issuers: vec!["broker".into()],
            ..Default::default()
        };
        assert!(
            !keeps(exact.clone(), BROKER),
            "wildcard characters in an exact entry are literal"
        );
        assert!(keeps(exact, &BROKER.replace("(x?)", "(xy)")));
    }

    #[test]
    fn bad_networks_are_named() {
        for bad in ["10.0.0.0/33", "nonsense", "10.0.0/8", "::/129", ""] {
            let list = Allowlist {
                source_cidrs: vec![bad.into()],
                ..Default::default()
            };
            let err = list.filter("r").unwrap_err();
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }
}
