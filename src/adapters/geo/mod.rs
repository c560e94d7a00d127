//! Geo lookups behind `domain::geo::GeoLookup`: the embedded default data,
//! and the operator's own MaxMind-format databases.

pub mod embedded;
pub mod mmdb;
