//! Geo lookups behind `domain::geo::GeoLookup`: the embedded default data.

pub mod embedded;
