//! What locates a sign-in: the embedded geo data
//! (`adapters::geo::embedded`) or the operator's own MaxMind-format
//! databases (`SIGNIN_WATCH_GEOIP_DIR`, `adapters::geo::mmdb`), and the
//! named lists of networks in the rules directory (`networks/NAME.txt`,
//! one CIDR block a line), whose names become classes of network.

use std::path::Path;
use std::sync::Arc;

use super::{ConfigError, RULES_DIR};
use crate::adapters::geo::embedded::EmbeddedGeo;
use crate::adapters::geo::mmdb::MmdbGeo;
use crate::domain::geo::{GeoLookup, Locator, NetworkList, network};

/// A directory of MaxMind-format databases (`*.mmdb`) that replace the
/// embedded data.
pub const GEOIP_DIR: &str = "SIGNIN_WATCH_GEOIP_DIR";

/// The classes of network the lookup decides; a list may not take a name.
const RESERVED: &[&str] = &[
    network::AWS,
    network::PRIVATE,
    network::CLOUD,
    network::ISP,
    network::UNKNOWN,
];

/// The lists of `dir/networks/*.txt`, by file name; none without the
/// directory.
pub fn network_lists(dir: &Path) -> Result<Vec<NetworkList>, ConfigError> {
    let networks = dir.join("networks");
    if !networks.is_dir() {
        return Ok(Vec::new());
    }
    let fail = |path: &Path, reason: String| {
        ConfigError::new(
            RULES_DIR,
            &dir.display().to_string(),
            format!("{}: {reason}", path.display()),
        )
    };
    let mut files: Vec<_> = std::fs::read_dir(&networks)
        .map_err(|e| fail(&networks, e.to_string()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    let mut lists = Vec::new();
    for path in files {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !valid {
            return Err(fail(
                &path,
                "a list's name (its file name) is its class of network: lowercase letters, digits, - and _".into(),
            ));
        }
        if RESERVED.contains(&name.as_str()) {
            return Err(fail(
                &path,
                format!("{name:?} is a class the lookup decides; name the list otherwise"),
            ));
        }
        let text = std::fs::read_to_string(&path).map_err(|e| fail(&path, e.to_string()))?;
        lists.push(NetworkList::parse(&name, &text).map_err(|e| fail(&path, e))?);
    }
    Ok(lists)
}

/// The locator: the databases of `geoip_dir`, else the embedded data; and
/// the rules directory's lists. A missing or damaged database is an error
/// naming the variable, the file and the reason.
pub fn locator(rules_dir: Option<&Path>, geoip_dir: Option<&Path>) -> Result<Locator, ConfigError> {
    let lists = match rules_dir {
        Some(dir) => network_lists(dir)?,
        None => Vec::new(),
    };
    let lookup: Arc<dyn GeoLookup> =
        match geoip_dir {
            Some(dir) => Arc::new(MmdbGeo::open_dir(dir).map_err(|e| {
                ConfigError::new(GEOIP_DIR, &dir.display().to_string(), e.to_string())
            })?),
            None => Arc::new(EmbeddedGeo),
        };
    Ok(Locator::new(lookup, lists))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_geoip_directory_replaces_the_embedded_data_and_a_bad_one_is_named() {
        let empty = tempfile::tempdir().unwrap();
        let e = locator(None, Some(empty.path())).unwrap_err();
        assert_eq!(e.var, GEOIP_DIR);
        assert!(e.to_string().contains("no *.mmdb file"), "{e}");
        assert!(
            locator(None, None)
                .unwrap()
                .source()
                .starts_with("ip-location-db ")
        );
    }

    #[test]
    fn lists_load_by_name_and_bad_ones_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        assert!(network_lists(dir.path()).unwrap().is_empty());
        std::fs::create_dir(dir.path().join("networks")).unwrap();
        std::fs::write(dir.path().join("networks/office.txt"), "198.51.100.0/24\n").unwrap();
        std::fs::write(dir.path().join("networks/tor.txt"), "# exits\n192.0.2.7\n").unwrap();
        let lists = network_lists(dir.path()).unwrap();
        let names: Vec<_> = lists.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["office", "tor"]);
        let located = locator(Some(dir.path()), None).unwrap().locate("192.0.2.7");
        assert_eq!(located.network, "tor");
        for (file, text, says) in [
            ("cloud.txt", "10.0.0.0/8", "a class the lookup decides"),
            ("Bad Name.txt", "10.0.0.0/8", "lowercase letters"),
            ("vpn.txt", "10.0.0.0/8\nnot-a-block", "line 2"),
        ] {
            let d = tempfile::tempdir().unwrap();
            std::fs::create_dir(d.path().join("networks")).unwrap();
            std::fs::write(d.path().join("networks").join(file), text).unwrap();
            let e = network_lists(d.path()).unwrap_err();
            assert_eq!(e.var, RULES_DIR);
            assert!(
                e.to_string().contains(file) && e.to_string().contains(says),
                "{e}"
            );
        }
    }
}
