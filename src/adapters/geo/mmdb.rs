//! The operator's own geo databases: every MaxMind-format file (`*.mmdb`)
//! of a directory (`--geoip DIR`, `SIGNIN_WATCH_GEOIP_DIR`, a Lambda layer
//! under `/opt`): GeoLite2 or GeoIP2 Country, City and ASN, DB-IP's, and
//! IPinfo's. Each file answers what it holds, the first (by file name) to
//! know a part wins; a city database adds the city and its coordinates.
//!
//! The files are memory-mapped: only the pages a lookup touches are read.

use std::borrow::Cow;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use maxminddb::{Mmap, Reader};
use serde::Deserialize;

use crate::domain::geo::{GeoLookup, Place};
use crate::domain::time::Timestamp;

/// Why a directory of databases cannot be used: the path and the reason.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct GeoDbError {
    pub path: String,
    pub reason: String,
}

/// Names by language; English is what findings show.
#[derive(Deserialize, Default)]
struct Names<'a> {
    #[serde(borrow, default)]
    en: Option<Cow<'a, str>>,
}

/// GeoLite2's country (a map), or IPinfo's (a name).
#[derive(Deserialize)]
#[serde(untagged)]
enum CountryField<'a> {
    Map {
        #[serde(borrow, default)]
        iso_code: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        names: Names<'a>,
    },
    Name(#[serde(borrow)] Cow<'a, str>),
}

/// GeoLite2's `autonomous_system_number` is a number; IPinfo's `asn` is
/// `"AS15169"`.
#[derive(Deserialize)]
#[serde(untagged)]
enum AsnField<'a> {
    Number(u32),
    Text(#[serde(borrow)] Cow<'a, str>),
}

impl AsnField<'_> {
    fn number(&self) -> Option<u32> {
        match self {
            AsnField::Number(n) => Some(*n),
            AsnField::Text(t) => t.trim_start_matches(['A', 'S', 'a', 's']).parse().ok(),
        }
    }
}

#[derive(Deserialize)]
struct CityField<'a> {
    #[serde(borrow, default)]
    names: Names<'a>,
}

#[derive(Deserialize)]
struct Location {
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
}

/// What any of the supported schemas holds of an address.
#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow, default)]
    country: Option<CountryField<'a>>,
    #[serde(borrow, default)]
    registered_country: Option<CountryField<'a>>,
    #[serde(borrow, default)]
    country_code: Option<Cow<'a, str>>,
    /// IPinfo's older free databases: `country` is the code, this the name.
    #[serde(borrow, default)]
    country_name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    city: Option<CityField<'a>>,
    #[serde(default)]
    location: Option<Location>,
    #[serde(borrow, default)]
    autonomous_system_number: Option<AsnField<'a>>,
    #[serde(borrow, default)]
    asn: Option<AsnField<'a>>,
    #[serde(borrow, default)]
    autonomous_system_organization: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    as_name: Option<Cow<'a, str>>,
}

impl Record<'_> {
    /// Fills what `place` lacks.
    fn fill(self, place: &mut Place) {
        let owned = |c: Cow<'_, str>| c.into_owned();
        let (code, name) = match self.country.or(self.registered_country) {
            Some(CountryField::Map { iso_code, names }) => {
                (iso_code.map(owned), names.en.map(owned))
            }
            // IPinfo writes the code here in its older databases, the name
            // in its newer ones.
            Some(CountryField::Name(text))
                if text.len() == 2 && text.bytes().all(|b| b.is_ascii_alphabetic()) =>
            {
                (Some(text.into_owned()), None)
            }
            Some(CountryField::Name(name)) => (None, Some(name.into_owned())),
            None => (None, None),
        };
        let name = name.or(self.country_name.map(owned));
        let code = code.or(self.country_code.map(owned));
        if place.country.is_none() {
            place.country = code.map(|c| c.to_ascii_uppercase());
        }
        if place.country_name.is_none() {
            place.country_name = name;
        }
        let asn = self.autonomous_system_number.or(self.asn);
        if place.asn.is_none() {
            place.asn = asn.as_ref().and_then(AsnField::number);
        }
        if place.as_org.is_none() {
            place.as_org = self
                .autonomous_system_organization
                .or(self.as_name)
                .map(owned);
        }
        if place.city.is_none() {
            place.city = self.city.and_then(|c| c.names.en).map(owned);
        }
        if let (None, Some(l)) = (place.latitude, self.location) {
            place.latitude = l.latitude;
            place.longitude = l.longitude;
        }
    }
}

/// The databases of one directory.
pub struct MmdbGeo {
    readers: Vec<(PathBuf, Reader<Mmap>)>,
    source: String,
    built: Option<Timestamp>,
}

impl std::fmt::Debug for MmdbGeo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MmdbGeo")
            .field("source", &self.source)
            .finish()
    }
}

impl MmdbGeo {
    /// Opens every `*.mmdb` of `dir`. A directory without one, or a file
    /// that is not a MaxMind database, is an error naming the path.
    pub fn open_dir(dir: &Path) -> Result<Self, GeoDbError> {
        let fail = |path: &Path, reason: String| GeoDbError {
            path: path.display().to_string(),
            reason,
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| fail(dir, e.to_string()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "mmdb"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(fail(
                dir,
                "no *.mmdb file: a MaxMind-format Country, City or ASN database is expected".into(),
            ));
        }
        let mut readers = Vec::new();
        let mut types = Vec::new();
        let mut built: Option<Timestamp> = None;
        for path in files {
            let reader = Reader::open_mmap(&path)
                .map_err(|e| fail(&path, format!("not a readable MaxMind database: {e}")))?;
            let epoch = i64::try_from(reader.metadata.build_epoch).unwrap_or(i64::MAX);
            let at = Timestamp::from_millis(epoch.saturating_mul(1000));
            // The oldest file dates the whole.
            built = Some(built.map_or(at, |b| b.min(at)));
            types.push(reader.metadata.database_type.clone());
            readers.push((path, reader));
        }
        let day = built.map(|t| t.to_string()).unwrap_or_default();
        let source = format!("{} {}", types.join("+"), day.get(..10).unwrap_or_default());
        Ok(MmdbGeo {
            readers,
            source,
            built,
        })
    }
}

impl GeoLookup for MmdbGeo {
    fn place(&self, ip: IpAddr) -> Place {
        let mut place = Place::default();
        for (path, reader) in &self.readers {
            match reader.lookup::<Record>(ip) {
                Ok(Some(record)) => record.fill(&mut place),
                Ok(None) => {}
                // An IPv6 address in an IPv4-only file, or a damaged record:
                // this file knows nothing of it.
                Err(e) => tracing::debug!(path = %path.display(), error = %e, "geo lookup failed"),
            }
        }
        if place.country_name.is_none() {
            place.country_name = place.country.as_deref().and_then(super::country_name);
        }
        place
    }

    fn source(&self) -> &str {
        &self.source
    }

    fn country_point(&self, country: &str) -> Option<(f64, f64)> {
        super::points::country_point(country)
    }

    fn built(&self) -> Option<Timestamp> {
        self.built
    }
}

#[cfg(test)]
pub(crate) mod write;

#[cfg(test)]
mod tests {
    use super::write::{Value, database};
    use super::*;

    fn dir_with(files: &[(&str, Vec<u8>)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in files {
            std::fs::write(dir.path().join(name), bytes).unwrap();
        }
        dir
    }

    fn map(pairs: Vec<(&str, Value)>) -> Value {
        Value::Map(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    fn text(s: &str) -> Value {
        Value::Text(s.to_owned())
    }

    /// A City database and an ASN database the test writes itself, for
    /// 203.0.113.0/24, in GeoLite2's schema.
    #[test]
    fn geolite2_city_and_asn_files_fill_one_place() {
        let city = map(vec![
            (
                "city",
                map(vec![("names", map(vec![("en", text("Frankfurt"))]))]),
            ),
            (
                "country",
                map(vec![
                    ("iso_code", text("DE")),
                    ("names", map(vec![("en", text("Germany"))])),
                ]),
            ),
            (
                "location",
                map(vec![
                    ("latitude", Value::Double(50.11)),
                    ("longitude", Value::Double(8.68)),
                ]),
            ),
        ]);
        let asn = map(vec![
            ("autonomous_system_number", Value::U32(24940)),
            (
                "autonomous_system_organization",
                text("Hetzner Online GmbH"),
            ),
        ]);
        let dir = dir_with(&[
            (
                "GeoLite2-ASN.mmdb",
                database("GeoLite2-ASN", [203, 0, 113, 0], 24, &asn),
            ),
            (
                "GeoLite2-City.mmdb",
                database("GeoLite2-City", [203, 0, 113, 0], 24, &city),
            ),
        ]);
        let geo = MmdbGeo::open_dir(dir.path()).unwrap();
        let p = geo.place("203.0.113.9".parse().unwrap());
        assert_eq!(p.country.as_deref(), Some("DE"));
        assert_eq!(p.country_name.as_deref(), Some("Germany"));
        assert_eq!(p.city.as_deref(), Some("Frankfurt"));
        assert_eq!(
            (p.asn, p.as_org.as_deref()),
            (Some(24940), Some("Hetzner Online GmbH"))
        );
        assert_eq!(p.latitude, Some(50.11));
        assert_eq!(
            geo.place("198.51.100.1".parse().unwrap()),
            Place::default(),
            "not in the files"
        );
        assert!(
            geo.source().starts_with("GeoLite2-ASN+GeoLite2-City 20"),
            "{}",
            geo.source()
        );
        assert!(geo.built().is_some());
    }

    /// IPinfo's free database: country code and name as strings, the ASN
    /// as "AS…".
    #[test]
    fn ipinfo_schema() {
        let record = map(vec![
            ("asn", text("AS14061")),
            ("as_name", text("DigitalOcean, LLC")),
            ("country_code", text("us")),
            ("country", text("United States")),
        ]);
        let dir = dir_with(&[(
            "ipinfo_lite.mmdb",
            database("ipinfo lite", [104, 131, 0, 0], 16, &record),
        )]);
        let p = MmdbGeo::open_dir(dir.path())
            .unwrap()
            .place("104.131.7.7".parse().unwrap());
        assert_eq!(p.country.as_deref(), Some("US"));
        assert_eq!(p.country_name.as_deref(), Some("United States"));
        assert_eq!(
            (p.asn, p.as_org.as_deref()),
            (Some(14061), Some("DigitalOcean, LLC"))
        );
    }

    /// IPinfo's older free databases: `country` is the code.
    #[test]
    fn ipinfo_older_schema() {
        let record = map(vec![
            ("country", text("DE")),
            ("country_name", text("Germany")),
            ("asn", text("AS3320")),
            ("as_name", text("Deutsche Telekom AG")),
        ]);
        let dir = dir_with(&[(
            "country_asn.mmdb",
            database("ipinfo country_asn", [80, 128, 0, 0], 11, &record),
        )]);
        let p = MmdbGeo::open_dir(dir.path())
            .unwrap()
            .place("80.128.0.1".parse().unwrap());
        assert_eq!(p.country.as_deref(), Some("DE"));
        assert_eq!(p.country_name.as_deref(), Some("Germany"));
        assert_eq!(p.asn, Some(3320));
    }

    #[test]
    fn a_missing_or_damaged_database_names_the_path() {
        let empty = tempfile::tempdir().unwrap();
        let e = MmdbGeo::open_dir(empty.path()).unwrap_err();
        assert!(e.to_string().contains("no *.mmdb file"), "{e}");
        let e = MmdbGeo::open_dir(&empty.path().join("nowhere")).unwrap_err();
        assert!(e.path.ends_with("nowhere"), "{e}");
        let dir = dir_with(&[("GeoLite2-Country.mmdb", b"not a database".to_vec())]);
        let e = MmdbGeo::open_dir(dir.path()).unwrap_err();
        assert!(
            e.path.ends_with("GeoLite2-Country.mmdb")
                && e.reason.contains("not a readable MaxMind database"),
            "{e}"
        );
    }
}
