//! Geo lookups behind `domain::geo::GeoLookup`: the embedded default data,
//! and the operator's own MaxMind-format databases.

pub mod embedded;
pub mod mmdb;
pub mod points;

/// The English short name of an ISO 3166-1 alpha-2 code, for data that
/// gives codes alone.
fn country_name(code: &str) -> Option<String> {
    isocountry::CountryCode::for_alpha2(code)
        .ok()
        .map(|c| c.name().to_owned())
}
