//! The embedded default geo data (`data/geo/`, built by `make geo-data`
//! from ip-location-db; licences and refresh in
//! docs/decisions/0010-geo-data.md): country and autonomous system for
//! IPv4 and IPv6, compiled into the binary.
//!
//! The tables are sorted arrays of fixed-size little-endian records read in
//! place: nothing is parsed or allocated at start-up, and a lookup is one
//! binary search per table (the pages it touches are all it costs in
//! memory).

use std::net::IpAddr;

use crate::domain::geo::{GeoLookup, Place};
use crate::domain::time::Timestamp;

const COUNTRY4: &[u8] = include_bytes!("../../../data/geo/country4.bin");
const COUNTRY6: &[u8] = include_bytes!("../../../data/geo/country6.bin");
const ASN4: &[u8] = include_bytes!("../../../data/geo/asn4.bin");
const ASN6: &[u8] = include_bytes!("../../../data/geo/asn6.bin");
const AS_NAMES: &[u8] = include_bytes!("../../../data/geo/asnames.bin");
/// `ip-location-db DATE`, then the packages it was built from.
const SOURCE: &str = include_str!("../../../data/geo/SOURCE");

/// A table of records: a key (the range's first address) of `K` bytes,
/// then a value of `V` bytes; sorted by key.
struct Table<const K: usize, const V: usize>(&'static [u8]);

impl<const K: usize, const V: usize> Table<K, V> {
    const RECORD: usize = K + V;

    fn len(&self) -> usize {
        self.0.len() / Self::RECORD
    }

    fn key(&self, i: usize) -> u128 {
        let at = i * Self::RECORD;
        let mut bytes = [0u8; 16];
        bytes[..K].copy_from_slice(&self.0[at..at + K]);
        u128::from_le_bytes(bytes)
    }

    fn value(&self, i: usize) -> &'static [u8] {
        let at = i * Self::RECORD + K;
        &self.0[at..at + V]
    }

    /// The value of the last record whose key is at most `key`.
    fn find(&self, key: u128) -> Option<&'static [u8]> {
        let past = partition_point(self.len(), |i| self.key(i) <= key);
        past.checked_sub(1).map(|i| self.value(i))
    }
}

/// The first index in `0..len` for which `before` is false, `before`
/// holding for a prefix (`slice::partition_point` over records read in
/// place).
fn partition_point(len: usize, before: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, len);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if before(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// The owner's name of `asn`, from the names table.
fn as_name(asn: u32) -> Option<&'static str> {
    let count = u32_at(AS_NAMES, 0)? as usize;
    let entry = |i: usize| -> Option<(u32, usize)> {
        let at = 4 + i * 8;
        Some((u32_at(AS_NAMES, at)?, u32_at(AS_NAMES, at + 4)? as usize))
    };
    let blob = 4 + count * 8;
    let lo = partition_point(count, |i| entry(i).is_some_and(|(n, _)| n < asn));
    if lo == count {
        return None;
    }
    let (n, start) = entry(lo)?;
    if n != asn {
        return None;
    }
    let end = if lo + 1 < count {
        entry(lo + 1)?.1
    } else {
        AS_NAMES.len() - blob
    };
    std::str::from_utf8(AS_NAMES.get(blob + start..blob + end)?).ok()
}

/// The embedded data.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmbeddedGeo;

impl GeoLookup for EmbeddedGeo {
    fn place(&self, ip: IpAddr) -> Place {
        let (country, asn) = match ip {
            IpAddr::V4(v4) => {
                let key = u128::from(u32::from(v4));
                (
                    Table::<4, 2>(COUNTRY4).find(key),
                    Table::<4, 4>(ASN4).find(key),
                )
            }
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => return self.place(IpAddr::V4(v4)),
                None => {
                    let key = u128::from(v6);
                    (
                        Table::<16, 2>(COUNTRY6).find(key),
                        Table::<16, 4>(ASN6).find(key),
                    )
                }
            },
        };
        let country = country
            .filter(|c| c.iter().all(u8::is_ascii_uppercase))
            .and_then(|c| std::str::from_utf8(c).ok())
            .map(str::to_owned);
        let asn = asn.and_then(|v| u32_at(v, 0)).filter(|n| *n != 0);
        Place {
            country_name: country.as_deref().and_then(super::country_name),
            country,
            as_org: asn.and_then(as_name).map(str::to_owned),
            asn,
            ..Place::default()
        }
    }

    fn source(&self) -> &str {
        SOURCE.lines().next().unwrap_or_default().trim()
    }

    fn country_point(&self, country: &str) -> Option<(f64, f64)> {
        super::points::country_point(country)
    }

    /// The day the data was built (from the packages' versions).
    fn built(&self) -> Option<Timestamp> {
        let day = self.source().split_whitespace().nth(1)?;
        Timestamp::parse(&format!("{day}T00:00:00Z"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(ip: &str) -> Place {
        EmbeddedGeo.place(ip.parse().unwrap())
    }

    /// Addresses whose country and network are public facts: the big
    /// public resolvers, a regional registry's own network, AWS's ranges.
    #[test]
    fn public_facts() {
        let google = place("8.8.8.8");
        assert_eq!(
            (google.country.as_deref(), google.asn),
            (Some("US"), Some(15169))
        );
        assert!(
            google
                .as_org
                .as_deref()
                .unwrap_or_default()
                .contains("Google"),
            "{google:?}"
        );
        assert_eq!(
            google.country_name.as_deref(),
            Some("United States of America")
        );
        assert_eq!(place("9.9.9.9").asn, Some(19281), "Quad9");
        assert_eq!(place("1.1.1.1").asn, Some(13335), "Cloudflare");
        let ripe = place("193.0.6.139");
        assert_eq!(
            (ripe.country.as_deref(), ripe.asn),
            (Some("NL"), Some(3333)),
            "RIPE NCC"
        );
        assert_eq!(
            place("2001:67c:2e8:22::c100:68b").asn,
            Some(3333),
            "RIPE NCC, IPv6"
        );
        assert_eq!(
            place("2001:4860:4860::8888").asn,
            Some(15169),
            "Google, IPv6"
        );
        assert_eq!(place("52.94.76.1").asn, Some(16509), "AWS");
        assert_eq!(place("::ffff:8.8.8.8").asn, Some(15169), "IPv4-mapped");
        // Reserved space: nothing.
        assert_eq!(place("240.0.0.1"), Place::default());
        assert_eq!(place("0.0.0.1").country, None);
    }

    #[test]
    fn the_source_names_the_data_and_its_date() {
        assert!(EmbeddedGeo.source().contains("ip-location-db"));
        let date = EmbeddedGeo.built().expect("a date");
        assert!(date > Timestamp::parse("2025-01-01T00:00:00Z").unwrap());
    }

    #[test]
    fn the_tables_are_whole_and_sorted() {
        fn check<const K: usize, const V: usize>(t: Table<K, V>) {
            assert_eq!(t.0.len() % Table::<K, V>::RECORD, 0);
            assert!(t.len() > 1000);
            assert!((1..t.len()).all(|i| t.key(i - 1) < t.key(i)));
        }
        check(Table::<4, 2>(COUNTRY4));
        check(Table::<16, 2>(COUNTRY6));
        check(Table::<4, 4>(ASN4));
        check(Table::<16, 4>(ASN6));
        assert!(as_name(15169).is_some() && as_name(u32::MAX).is_none());
    }
}
