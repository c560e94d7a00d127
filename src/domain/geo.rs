//! Where a sign-in came from: the country, the network's owner and the
//! class of network of its source address (`src_geo` in a finding, the
//! `src_*` fields of rules).
//!
//! Lookups go through the [`GeoLookup`] port: the embedded default data,
//! or the operator's own MaxMind-format databases (`crate::adapters::geo`).
//! The class of network is decided here, from the address and its owner:
//! the same whatever database answered.

use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;

use super::severity::Severity;
use super::time::Timestamp;

/// What a geo database says of one address; every part optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Place {
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    pub country_name: Option<String>,
    pub asn: Option<u32>,
    pub as_org: Option<String>,
    pub city: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

/// The port to a geo database.
pub trait GeoLookup: Send + Sync {
    /// What the data says of `ip`.
    fn place(&self, ip: IpAddr) -> Place;
    /// Which data answers, with its date: `src_geo.source`.
    fn source(&self) -> &str;
    /// When the data was built, when known.
    fn built(&self) -> Option<Timestamp> {
        None
    }
    /// A representative point (latitude, longitude) of the country with
    /// ISO code `country`: where impossible travel places an address
    /// without a city.
    fn country_point(&self, _country: &str) -> Option<(f64, f64)> {
        None
    }
}

/// Days after which data is old enough to say so: networks change hands,
/// and a country's allocations move.
pub const STALE_AFTER_DAYS: i64 = 90;

/// No data: every address has no country and no owner (tests, and a build
/// that wants none).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoGeo;

impl GeoLookup for NoGeo {
    fn place(&self, _: IpAddr) -> Place {
        Place::default()
    }
    fn source(&self) -> &str {
        "none"
    }
}

/// The class of a source address's network (`src_geo.network`,
/// `src_network`).
pub mod network {
    /// AWS itself: `AWS Internal`, or a service's name as `sourceIPAddress`.
    pub const AWS: &str = "aws";
    /// RFC 1918, carrier-grade NAT, loopback, link-local, unique local,
    /// and the documentation ranges: addresses that route nowhere public.
    pub const PRIVATE: &str = "private";
    /// A hosting or cloud provider's network ([`super::CLOUD_ASNS`]): the
    /// networks attackers rent.
    pub const CLOUD: &str = "cloud";
    /// Any other network: an access provider, a company's own.
    pub const ISP: &str = "isp";
    /// `sourceIPAddress` is neither an address nor an AWS name.
    pub const UNKNOWN: &str = "unknown";
}

/// Hosting and cloud networks by autonomous system number, with their
/// owners: where a VPS or a cloud instance signs in from. A documented,
/// deliberately short list (docs/geo.md): the large providers whose address
/// space is mostly rented machines.
pub const CLOUD_ASNS: &[(u32, &str)] = &[
    (14061, "DigitalOcean"),
    (14618, "Amazon (AWS)"),
    (16276, "OVH"),
    (16509, "Amazon (AWS)"),
    (20473, "Vultr (Choopa)"),
    (24940, "Hetzner Online"),
    (31898, "Oracle Cloud"),
    (36352, "ColoCrossing"),
    (37963, "Alibaba Cloud"),
    (45090, "Tencent Cloud"),
    (45102, "Alibaba Cloud"),
    (51167, "Contabo"),
    (53667, "FranTech (BuyVM)"),
    (60781, "LeaseWeb Netherlands"),
    (62240, "Clouvider"),
    (63949, "Akamai Connected Cloud (Linode)"),
    (132203, "Tencent Cloud"),
    (136907, "Huawei Cloud"),
    (197540, "netcup"),
    (212238, "Datacamp"),
    (213230, "Hetzner Online (US, Singapore)"),
    (396982, "Google Cloud"),
    (8075, "Microsoft (Azure)"),
    (8560, "IONOS"),
    (9009, "M247"),
    (12876, "Scaleway"),
    (16265, "LeaseWeb"),
    (46606, "Unified Layer"),
    (47583, "Hostinger"),
];

/// Whether `asn` is a hosting or cloud network ([`CLOUD_ASNS`]).
pub fn is_cloud_asn(asn: u32) -> bool {
    CLOUD_ASNS.iter().any(|(n, _)| *n == asn)
}

/// A named list of networks (`rules/networks/NAME.txt`: offices, VPN
/// egress, Tor exits, a threat feed): its name becomes a network class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkList {
    pub name: String,
    /// A watched list's severity (its `severity:` line): a sign-in from
    /// it is a detection of that severity (`src_network_severity`, the
    /// pack's `sign-in-from-listed-network`). A list without one only
    /// names a class of network (offices, VPN egress).
    pub watch: Option<Watch>,
    /// (first, last) addresses, inclusive, each family as u128.
    ranges: Vec<(u128, u128)>,
}

/// What a watched list makes a sign-in from it: a severity, and a risk
/// score (the severity's own unless the list gives one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Watch {
    pub severity: Severity,
    pub risk_score: u8,
}

impl NetworkList {
    /// A list from its file's text: CIDR blocks or addresses, one a line
    /// (`#` starts a comment), and the settings `severity: LEVEL` and
    /// `risk_score: N` (a `key: value` line; no address has ": "). The
    /// error names the line.
    pub fn parse(name: &str, text: &str) -> Result<Self, String> {
        let mut ranges = Vec::new();
        let (mut severity, mut risk_score) = (None, None);
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let at = |e: String| format!("line {}: {e}", n + 1);
            if let Some((key, value)) = line.split_once(": ") {
                let value = value.trim();
                match key.trim() {
                    "severity" => severity = Some(value.parse::<Severity>().map_err(at)?),
                    "risk_score" => {
                        risk_score =
                            Some(value.parse::<u8>().ok().filter(|n| *n <= 100).ok_or_else(
                                || {
                                    at(format!(
                                        "risk_score {value:?} is not a number from 0 to 100"
                                    ))
                                },
                            )?);
                    }
                    other => {
                        return Err(at(format!(
                            "{other:?} is not a setting of a list (severity, risk_score)"
                        )));
                    }
                }
                continue;
            }
            let range = cidr(line)
                .ok_or_else(|| at(format!("{line:?} is not an address or CIDR block")))?;
            ranges.push(range);
        }
        let watch = match (severity, risk_score) {
            (Some(severity), score) => Some(Watch {
                severity,
                risk_score: score.unwrap_or_else(|| severity.default_risk_score()),
            }),
            (None, Some(_)) => {
                return Err(
                    "risk_score without severity: a list is watched when it names a severity"
                        .into(),
                );
            }
            (None, None) => None,
        };
        ranges.sort_unstable();
        Ok(NetworkList {
            name: name.to_owned(),
            watch,
            ranges,
        })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let key = key(ip);
        // The last range starting at or below the address, and any before
        // it that is wider (lists may nest).
        let end = self.ranges.partition_point(|(first, _)| *first <= key);
        self.ranges[..end]
            .iter()
            .rev()
            .any(|(_, last)| *last >= key)
    }

    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

/// An address as one number: IPv4 mapped into IPv6's `::ffff:0:0/96`, so
/// that one ordering holds both families.
fn key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// `a.b.c.d`, `a.b.c.d/n`, an IPv6 address or block: (first, last).
fn cidr(text: &str) -> Option<(u128, u128)> {
    let net: ipnet::IpNet = match text.parse() {
        Ok(net) => net,
        Err(_) => ipnet::IpNet::from(text.parse::<IpAddr>().ok()?),
    };
    Some((key(net.network()), key(net.broadcast())))
}

/// Whether `ip` is private, shared or local address space: RFC 1918,
/// carrier-grade NAT (RFC 6598), loopback, link-local, unique local, and
/// the documentation ranges (RFC 5737, RFC 3849), which the registries'
/// data places in a country all the same.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || (a == 100 && (64..128).contains(&b))
                || matches!((a, b, c), (192, 0, 2) | (198, 51, 100) | (203, 0, 113))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let [first, second, ..] = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first, second) == (0x2001, 0x0db8)
        }
    }
}

/// Whether `sourceIPAddress` names AWS rather than an address: `AWS
/// Internal`, or a service principal such as `signin.amazonaws.com`.
pub fn is_aws_name(src: &str) -> bool {
    src.eq_ignore_ascii_case("AWS Internal") || src.to_ascii_lowercase().ends_with(".amazonaws.com")
}

/// `src_geo`: where a sign-in came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SrcGeo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asn: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_org: Option<String>,
    /// The class of network: [`network`]'s names, or a loaded list's.
    pub network: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
    /// The watched list's severity and risk score, when a watched list
    /// holds the address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watch: Option<Watch>,
    /// Which data answered, and its date.
    pub source: String,
    /// The country's representative point, for impossible travel without
    /// a city database.
    #[serde(skip)]
    pub country_point: Option<(f64, f64)>,
    /// `asn` as rules compare it.
    #[serde(skip)]
    asn_text: Option<String>,
}

impl SrcGeo {
    /// The value of a rule's `src_*` field (see [`FIELDS`]).
    pub fn field(&self, name: &str) -> Option<&str> {
        match name {
            "src_country" => self.country.as_deref(),
            "src_country_name" => self.country_name.as_deref(),
            "src_asn" => self.asn_text.as_deref(),
            "src_as_org" => self.as_org.as_deref(),
            "src_network" => Some(&self.network),
            "src_city" => self.city.as_deref(),
            "src_network_severity" => self.watch.map(|w| w.severity.as_str()),
            _ => None,
        }
    }

    /// One line for a person: "Frankfurt, Germany, AS24940 Hetzner Online
    /// GmbH, cloud".
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if let Some(city) = &self.city {
            parts.push(city.clone());
        }
        match (&self.country_name, &self.country) {
            (Some(name), _) => parts.push(name.clone()),
            (None, Some(code)) => parts.push(code.clone()),
            _ => {}
        }
        match (self.asn, &self.as_org) {
            (Some(n), Some(org)) => parts.push(format!("AS{n} {org}")),
            (Some(n), None) => parts.push(format!("AS{n}")),
            _ => {}
        }
        parts.push(self.network.clone());
        parts.join(", ")
    }
}

/// The city and country of a [`SrcGeo::describe`] line: what precedes
/// the network's owner ("Frankfurt, Germany" of "Frankfurt, Germany,
/// AS24940 Hetzner Online GmbH, cloud"); the whole line when it names no
/// owner.
pub fn area_of(place: &str) -> &str {
    place.split(", AS").next().unwrap_or(place)
}

/// The fields enrichment adds for rules, filters and correlations.
pub const FIELDS: &[&str] = &[
    "src_country",
    "src_country_name",
    "src_asn",
    "src_as_org",
    "src_network",
    "src_city",
    "src_network_severity",
];

/// Where `src` (a record's `sourceIPAddress`) came from, as `lookup` and
/// `lists` say: AWS names and private addresses are not looked up; a
/// listed network is named by its list (the first that holds it), a cloud
/// ASN is `cloud`, anything else `isp`.
pub fn locate(src: &str, lookup: &dyn GeoLookup, lists: &[NetworkList]) -> SrcGeo {
    let source = lookup.source().to_owned();
    let Ok(ip) = src.trim().parse::<IpAddr>() else {
        let network = if is_aws_name(src.trim()) {
            network::AWS
        } else {
            network::UNKNOWN
        };
        return SrcGeo {
            network: network.to_owned(),
            source,
            ..SrcGeo::default()
        };
    };
    if let Some(list) = lists.iter().find(|l| l.contains(ip)) {
        let place = lookup.place(ip);
        return SrcGeo {
            watch: list.watch,
            ..SrcGeo::of(place, list.name.clone(), source)
        };
    }
    if is_private(ip) {
        return SrcGeo {
            network: network::PRIVATE.to_owned(),
            source,
            ..SrcGeo::default()
        };
    }
    let place = lookup.place(ip);
    let network = if place.asn.is_some_and(is_cloud_asn) {
        network::CLOUD
    } else {
        network::ISP
    };
    let country_point = place
        .country
        .as_deref()
        .and_then(|c| lookup.country_point(c));
    SrcGeo {
        country_point,
        ..SrcGeo::of(place, network.to_owned(), source)
    }
}

impl SrcGeo {
    fn of(place: Place, network: String, source: String) -> Self {
        SrcGeo {
            asn_text: place.asn.map(|n| n.to_string()),
            country: place.country,
            country_name: place.country_name,
            asn: place.asn,
            as_org: place.as_org,
            network,
            city: place.city,
            latitude: place.latitude,
            longitude: place.longitude,
            watch: None,
            source,
            country_point: None,
        }
    }
}

/// What locates a sign-in: a geo database and the named lists. Cheap to
/// clone; shared by the detector, the scan and the rules' inline tests.
#[derive(Clone)]
pub struct Locator {
    lookup: Arc<dyn GeoLookup>,
    lists: Arc<[NetworkList]>,
}

impl std::fmt::Debug for Locator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Locator")
            .field("source", &self.lookup.source())
            .field(
                "lists",
                &self.lists.iter().map(|l| &l.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Default for Locator {
    /// No data and no lists: only the classes an address itself tells
    /// (aws, private), everything else `isp`.
    fn default() -> Self {
        Locator::new(Arc::new(NoGeo), Vec::new())
    }
}

impl Locator {
    pub fn new(lookup: Arc<dyn GeoLookup>, lists: Vec<NetworkList>) -> Self {
        Locator {
            lookup,
            lists: lists.into(),
        }
    }

    /// The same data with other lists.
    pub fn with_lists(&self, lists: Vec<NetworkList>) -> Self {
        Locator {
            lookup: self.lookup.clone(),
            lists: lists.into(),
        }
    }

    /// Which data answers.
    pub fn source(&self) -> &str {
        self.lookup.source()
    }

    /// A warning when the data is older than [`STALE_AFTER_DAYS`] at `now`.
    pub fn staleness(&self, now: Timestamp) -> Option<String> {
        let built = self.lookup.built()?;
        let days = (now.as_millis() - built.as_millis()) / 86_400_000;
        (days > STALE_AFTER_DAYS).then(|| {
            format!(
                "the geo data ({}) is {days} days old: countries and network owners may have changed (`make geo-data` refreshes the embedded data; docs/geo.md)",
                self.source()
            )
        })
    }

    /// The named lists, in the order they are tried.
    pub fn lists(&self) -> &[NetworkList] {
        &self.lists
    }

    /// Where `src` came from.
    pub fn locate(&self, src: &str) -> SrcGeo {
        locate(src, self.lookup.as_ref(), &self.lists)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Place);
    impl GeoLookup for Fixed {
        fn place(&self, _: IpAddr) -> Place {
            self.0.clone()
        }
        fn source(&self) -> &str {
            "fixed"
        }
    }

    fn hetzner() -> Fixed {
        Fixed(Place {
            country: Some("DE".into()),
            country_name: Some("Germany".into()),
            asn: Some(24940),
            as_org: Some("Hetzner Online GmbH".into()),
            city: Some("Frankfurt".into()),
            ..Place::default()
        })
    }

    #[test]
    fn each_class_of_network() {
        let lists =
            [NetworkList::parse("office", "198.51.100.0/24\n2001:db8:aa::/48 # v6").unwrap()];
        let class = |src: &str| locate(src, &hetzner(), &lists).network;
        assert_eq!(class("AWS Internal"), "aws");
        assert_eq!(class("signin.amazonaws.com"), "aws");
        assert_eq!(class("ec2.amazonaws.com.evil.example"), "unknown");
        for private in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "127.0.0.1",
            "169.254.169.254",
            "fd00::1",
            "fe80::1",
            "::1",
            "::ffff:10.0.0.1",
        ] {
            assert_eq!(class(private), "private", "{private}");
        }
        assert_eq!(
            class("100.128.0.1"),
            "cloud",
            "past CGNAT: the lookup says Hetzner"
        );
        assert_eq!(class("198.51.100.7"), "office");
        assert_eq!(class("2001:db8:aa::5"), "office");
        assert_eq!(class("203.0.113.9"), "private", "documentation");
        assert_eq!(class("2001:db8:1::9"), "private", "documentation, IPv6");
        assert_eq!(class("81.2.69.160"), "cloud", "the lookup says Hetzner");
        assert_eq!(class("not an address"), "unknown");
        let isp = Fixed(Place {
            asn: Some(3320),
            ..Place::default()
        });
        assert_eq!(locate("80.128.0.1", &isp, &[]).network, "isp");
    }

    #[test]
    fn a_line_for_a_person_and_the_rules_fields() {
        let geo = locate("81.2.69.160", &hetzner(), &[]);
        assert_eq!(
            geo.describe(),
            "Frankfurt, Germany, AS24940 Hetzner Online GmbH, cloud"
        );
        assert_eq!(area_of(&geo.describe()), "Frankfurt, Germany");
        assert_eq!(area_of("private"), "private");
        assert_eq!(geo.field("src_asn"), Some("24940"));
        assert_eq!(geo.field("src_country"), Some("DE"));
        assert_eq!(geo.field("src_network"), Some("cloud"));
        assert_eq!(geo.field("src_nothing"), None);
        assert!(FIELDS.iter().all(|f| f.starts_with("src_")));
    }

    #[test]
    fn old_data_is_said_to_be_old() {
        struct Dated;
        impl GeoLookup for Dated {
            fn place(&self, _: IpAddr) -> Place {
                Place::default()
            }
            fn source(&self) -> &str {
                "dated 2026-01-01"
            }
            fn built(&self) -> Option<Timestamp> {
                Timestamp::parse("2026-01-01T00:00:00Z")
            }
        }
        let locator = Locator::new(Arc::new(Dated), Vec::new());
        let at = |t: &str| locator.staleness(Timestamp::parse(t).unwrap());
        assert_eq!(at("2026-03-01T00:00:00Z"), None);
        let warning = at("2026-12-07T00:00:00Z").unwrap();
        assert!(
            warning.contains("340 days old") && warning.contains("dated 2026-01-01"),
            "{warning}"
        );
        assert_eq!(
            Locator::default().staleness(Timestamp::now()),
            None,
            "no data, no date"
        );
    }

    #[test]
    fn a_list_names_its_bad_line_and_nests() {
        let e = NetworkList::parse("tor", "192.0.2.1\n\n# c\n10.0.0.0/33").unwrap_err();
        assert!(e.starts_with("line 4:"), "{e}");
        let l = NetworkList::parse("x", "10.0.0.0/8\n10.1.0.0/16\n10.200.0.0/16").unwrap();
        for ip in ["10.1.2.3", "10.100.0.1", "10.255.255.255"] {
            assert!(l.contains(ip.parse().unwrap()), "{ip}");
        }
        assert!(!l.contains("11.0.0.0".parse().unwrap()));
        assert!(!l.contains("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn a_watched_list_gives_its_severity_to_the_addresses_it_holds() {
        let tor = NetworkList::parse(
            "tor",
            "# exits\nseverity: high  # watched\nrisk_score: 80\n185.220.101.0/24\n2a0b:f4c2::/40\n",
        )
        .unwrap();
        let office = NetworkList::parse("office", "198.51.100.0/24").unwrap();
        assert_eq!(
            tor.watch,
            Some(Watch {
                severity: Severity::High,
                risk_score: 80
            })
        );
        assert_eq!(office.watch, None);
        let lists = [office, tor];
        for ip in ["185.220.101.33", "2a0b:f4c2:2::1"] {
            let geo = locate(ip, &NoGeo, &lists);
            assert_eq!(geo.network, "tor", "{ip}");
            assert_eq!(geo.field("src_network_severity"), Some("high"), "{ip}");
        }
        let geo = locate("198.51.100.7", &NoGeo, &lists);
        assert_eq!(
            (geo.network.as_str(), geo.field("src_network_severity")),
            ("office", None)
        );
        assert_eq!(locate("185.220.102.1", &NoGeo, &lists).watch, None);
        // A severity alone takes the severity's own score.
        let feed = NetworkList::parse("feed", "severity: low\n192.0.2.0/24").unwrap();
        assert_eq!(feed.watch.map(|w| w.risk_score), Some(21));
    }

    #[test]
    fn a_list_s_bad_setting_is_named_by_its_line() {
        for (text, line, says) in [
            ("192.0.2.1\nseverity: urgent", "line 2:", "not a severity"),
            ("severity: high\nrisk_score: 101", "line 2:", "0 to 100"),
            ("level: high", "line 1:", "not a setting"),
        ] {
            let e = NetworkList::parse("x", text).unwrap_err();
            assert!(e.starts_with(line) && e.contains(says), "{text:?}: {e}");
        }
        let e = NetworkList::parse("x", "risk_score: 50\n192.0.2.1").unwrap_err();
        assert!(e.contains("without severity"), "{e}");
        // An IPv6 block has colons but never ": ".
        assert!(
            NetworkList::parse("x", "2001:db8::/32")
                .unwrap()
                .watch
                .is_none()
        );
    }
}
