//! A representative point per country: the centroid of its largest polygon
//! (360info's country-centroids, from geoBoundaries' ADM0 boundaries, CC BY
//! 4.0; data/geo/ATTRIBUTION), where impossible travel places an address
//! that no city database locates.

use std::sync::OnceLock;

const CSV: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/data/geo/country-points.csv"
));

/// (alpha-2, latitude, longitude), sorted by code.
fn table() -> &'static [([u8; 2], f64, f64)] {
    static TABLE: OnceLock<Vec<([u8; 2], f64, f64)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut rows: Vec<([u8; 2], f64, f64)> = CSV
            .lines()
            .skip(1)
            .filter_map(|line| {
                // iso3,name,lat,lon: the name may hold commas, in quotes.
                let (iso3, rest) = line.split_once(',')?;
                let mut tail = rest.rsplitn(3, ',');
                let lon: f64 = tail.next()?.trim().parse().ok()?;
                let lat: f64 = tail.next()?.trim().parse().ok()?;
                let code = isocountry::CountryCode::for_alpha3(iso3.trim()).ok()?;
                let alpha2: [u8; 2] = code.alpha2().as_bytes().try_into().ok()?;
                Some((alpha2, lat, lon))
            })
            .collect();
        rows.sort_by_key(|r| r.0);
        rows
    })
}

/// The representative point of the country with ISO 3166-1 alpha-2 code
/// `code`, when the data has one.
pub fn country_point(code: &str) -> Option<(f64, f64)> {
    let key: [u8; 2] = code.to_ascii_uppercase().as_bytes().try_into().ok()?;
    let rows = table();
    let at = rows.binary_search_by_key(&key, |r| r.0).ok()?;
    Some((rows[at].1, rows[at].2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_have_points_inside_them() {
        // Rough bounding boxes: the points fall inside the countries.
        for (code, (lat0, lat1), (lon0, lon1)) in [
            ("DE", (47.0, 55.0), (5.8, 15.1)),
            ("US", (24.0, 50.0), (-125.0, -66.0)),
            ("FR", (42.0, 51.2), (-5.0, 8.3)),
            ("JP", (30.0, 46.0), (129.0, 146.0)),
            ("BR", (-34.0, 5.3), (-74.0, -34.0)),
        ] {
            let (lat, lon) = country_point(code).unwrap_or_else(|| panic!("{code}"));
            assert!(
                (lat0..lat1).contains(&lat) && (lon0..lon1).contains(&lon),
                "{code}: {lat},{lon}"
            );
        }
        assert_eq!(country_point("de"), country_point("DE"));
        assert_eq!(country_point("XX"), None);
        assert!(table().len() > 190, "{}", table().len());
    }
}
