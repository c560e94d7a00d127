//! Operator allowlists: known federation brokers, tools and networks whose
//! sign-ins a rule should let pass.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use super::record::{CloudTrailRecord, field_is};

/// Which allowlist entry let a matching record pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowlistHit {
    Issuer(String),
    UserAgent(String),
    SourceCidr(String),
}

impl fmt::Display for AllowlistHit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllowlistHit::Issuer(e) => write!(f, "session issuer {e}"),
            AllowlistHit::UserAgent(e) => write!(f, "user agent {e}"),
            AllowlistHit::SourceCidr(e) => write!(f, "source {e}"),
        }
    }
}

/// A rule's allowlist. Empty by default: nothing is let pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    /// Session issuer ARNs (exact) or names (any case).
    pub issuers: Vec<String>,
    /// User agents: exact, or a prefix when the entry ends with `*`.
    pub user_agents: Vec<String>,
    pub source_cidrs: Vec<Cidr>,
}

impl Allowlist {
    pub fn is_empty(&self) -> bool {
        self.issuers.is_empty() && self.user_agents.is_empty() && self.source_cidrs.is_empty()
    }

    /// The first entry that covers `record`, if any.
    pub fn check(&self, record: &CloudTrailRecord<'_>) -> Option<AllowlistHit> {
        if self.is_empty() {
            return None;
        }
        if let Some(issuer) = record.session_issuer().filter(|_| !self.issuers.is_empty()) {
            let arn = issuer.arn.as_deref().filter(|a| !a.is_empty());
            let name = issuer.user_name.as_deref().filter(|n| !n.is_empty());
            for entry in &self.issuers {
                let by_arn = arn == Some(entry.as_str());
                let by_name = field_is(name, entry);
                if by_arn || by_name {
                    return Some(AllowlistHit::Issuer(entry.clone()));
                }
            }
        }
        if let Some(agent) = record.user_agent.as_deref() {
            for entry in &self.user_agents {
                let hit = match entry.strip_suffix('*') {
                    Some(prefix) => agent.starts_with(prefix),
                    None => agent == entry,
                };
                if hit {
                    return Some(AllowlistHit::UserAgent(entry.clone()));
                }
            }
        }
        if let Some(ip) = record
            .source_ip_address
            .as_deref()
            .and_then(|s| IpAddr::from_str(s.trim()).ok())
            && let Some(c) = self.source_cidrs.iter().find(|c| c.contains(ip))
        {
            return Some(AllowlistHit::SourceCidr(c.to_string()));
        }
        None
    }
}

/// An IPv4 or IPv6 network, `10.0.0.0/8` or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0:?} is not a CIDR block (expected e.g. 203.0.113.0/24 or 2001:db8::/32)")]
pub struct CidrError(pub String);

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || CidrError(s.to_owned());
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let network = IpAddr::from_str(addr).map_err(|_| bad())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
            None => max,
        };
        Ok(Cidr { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(
                u128::from(u32::from(n)) << 96,
                u128::from(u32::from(a)) << 96,
                self.prefix,
            ),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(u128::from(n), u128::from(a), self.prefix),
            (IpAddr::V6(n), IpAddr::V4(a)) => n.to_ipv4_mapped().is_some_and(|n| {
                self.prefix >= 96
                    && prefix_eq(
                        u128::from(u32::from(n)) << 96,
                        u128::from(u32::from(a)) << 96,
                        self.prefix - 96,
                    )
            }),
            (IpAddr::V4(_), IpAddr::V6(a)) => a
                .to_ipv4_mapped()
                .is_some_and(|a| self.contains(IpAddr::V4(a))),
        }
    }
}

fn prefix_eq(a: u128, b: u128, prefix: u8) -> bool {
    if prefix == 0 {
        return true;
    }
    let mask = u128::MAX << (128 - u32::from(prefix));
    a & mask == b & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_contains() {
        let c: Cidr = "203.0.113.0/24".parse().unwrap();
        assert!(c.contains(ip("203.0.113.200")));
        assert!(!c.contains(ip("203.0.114.1")));
        assert!(c.contains(ip("::ffff:203.0.113.5")));
        let c: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(c.contains(ip("2001:db8:1::1")));
        assert!(!c.contains(ip("2001:db9::1")));
        let c: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(c.contains(ip("8.8.8.8")));
        let single: Cidr = "198.51.100.7".parse().unwrap();
        assert!(single.contains(ip("198.51.100.7")) && !single.contains(ip("198.51.100.8")));
    }

    #[test]
    fn cidr_errors_name_the_value() {
        for bad in ["10.0.0.0/33", "nonsense", "10.0.0/8", "::/129", ""] {
            let err = bad.parse::<Cidr>().unwrap_err();
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    fn record(json: &str) -> CloudTrailRecord<'_> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn allowlist_entries_each_let_a_record_pass() {
        let r = record(
            r#"{"userAgent":"Jersey/${project.version}","sourceIPAddress":"198.51.100.9",
                "userIdentity":{"type":"FederatedUser","sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::1:user/broker","userName":"Broker"}}}}"#,
        );
        let none = Allowlist::default();
        assert_eq!(none.check(&r), None);

        let by_arn = Allowlist {
            issuers: vec!["arn:aws:iam::1:user/broker".into()],
            ..Default::default()
        };
        assert!(matches!(by_arn.check(&r), Some(AllowlistHit::Issuer(_))));
        let by_name = Allowlist {
            issuers: vec!["broker".into()],
            ..Default::default()
        };
        assert!(matches!(by_name.check(&r), Some(AllowlistHit::Issuer(_))));
        let other = Allowlist {
            issuers: vec!["someone-else".into()],
            ..Default::default()
        };
        assert_eq!(other.check(&r), None);

        let ua = Allowlist {
            user_agents: vec!["Jersey/${project.version}".into()],
            ..Default::default()
        };
        assert!(matches!(ua.check(&r), Some(AllowlistHit::UserAgent(_))));
        let ua_prefix = Allowlist {
            user_agents: vec!["Jersey/*".into()],
            ..Default::default()
        };
        assert!(ua_prefix.check(&r).is_some());
        let ua_partial = Allowlist {
            user_agents: vec!["Jersey".into()],
            ..Default::default()
        };
        assert_eq!(ua_partial.check(&r), None);

        let cidr = Allowlist {
            source_cidrs: vec!["198.51.100.0/24".parse().unwrap()],
            ..Default::default()
        };
        assert_eq!(
            cidr.check(&r),
            Some(AllowlistHit::SourceCidr("198.51.100.0/24".into()))
        );
        let far = Allowlist {
            source_cidrs: vec!["10.0.0.0/8".parse().unwrap()],
            ..Default::default()
        };
        assert_eq!(far.check(&r), None);
    }
}
