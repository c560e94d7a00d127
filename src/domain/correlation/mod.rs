//! Correlation rules: Sigma `event_count`, `value_count`, `temporal` and
//! `temporal_ordered` over the detection rules, evaluated exactly in event
//! time on the counter store.
//!
//! The set of alerts is a pure function of the set of events fed: the same
//! under any order, duplication or split across concurrent invocations.
//!
//! - `event_count` and `value_count` count in hopping windows of length
//!   `timespan`, one every `timespan / 2`, fixed in event time: a burst that
//!   fits in half the timespan always falls in one window. An alert is
//!   (rule, group, window).
//! - `temporal_ordered` alerts for each event of its last rule that has the
//!   earlier rules' events, in order, in the `timespan` before it;
//!   `temporal` for each event that has every rule's events in the
//!   `timespan` up to it. An alert is (rule, group, that event's id). A
//!   chained `event_count` is counted in its own `timespan` ending there.
//!
//! The rules themselves ([`Correlation`]) are loaded and linked with the
//! detection rules ([`crate::domain::rules::correlation`]); this module is
//! the engine only. [`state`] holds the pure transition; the stores apply it
//! atomically.

pub mod simulate;
pub mod state;
#[cfg(test)]
mod tests;

use serde::Serialize;

use super::observed::Observed;
use super::rules::Rule;
use super::rules::correlation::Correlation;
use super::time::Timestamp;

pub use super::rules::correlation::LATENESS_HORIZON_MS;
/// The most events a sequence keeps per group; past it the oldest are
/// forgotten, and a sequence whose early steps were forgotten no longer
/// completes.
pub const MAX_SEQUENCE_EVENTS: usize = 256;
/// The most contributing events a finding lists.
pub const MAX_EVIDENCE: usize = 20;
/// The most a group's state may weigh, as JSON: DynamoDB's item limit is
/// 400 KB. Past it the oldest windows and events are forgotten first, so a
/// group under a sustained stream (a slow brute force kept just under its
/// threshold for a day) keeps a shorter lateness horizon instead of failing.
pub const MAX_STATE_BYTES: usize = 256 * 1024;

/// What the correlations read of one record, read once for all of them.
pub struct FeedSource<'r, 'a> {
    observed: &'r Observed<'a>,
    principal: super::identity::Principal,
    account: String,
    src: String,
    /// Where `src` is, in one line (sign-in records).
    place: Option<String>,
    /// Where `src` is on the map, for impossible travel.
    point: Option<Point>,
    event_id: String,
    time: Timestamp,
}

impl<'r, 'a> FeedSource<'r, 'a> {
    /// `time` is the record's event time as the caller counts it (the
    /// detector: [`Observed::event_time`] of its receipt).
    pub fn new(observed: &'r Observed<'a>, time: Timestamp) -> Self {
        FeedSource {
            principal: super::identity::principal(&observed.record),
            account: observed.account(),
            src: observed
                .record
                .source_ip_address
                .as_deref()
                .unwrap_or("unknown")
                .to_owned(),
            place: observed.record.src_geo.as_ref().map(|g| g.describe()),
            point: observed.record.src_geo.as_deref().and_then(Point::of),
            event_id: observed.event_id(),
            time,
            observed,
        }
    }

    /// The record's value for a group field path.
    pub fn value_of(&self, path: &str) -> Option<String> {
        match path {
            "user" => Some(self.principal.user.clone()),
            "account" => Some(self.account.clone()),
            "issuer" => self.principal.session_issuer.clone(),
            "user_agent_family" => self
                .observed
                .record
                .user_agent
                .as_deref()
                .map(|ua| super::agent::family(ua).to_owned()),
            "principal" => Some(super::identity::baseline_principal(
                &self.observed.record,
                &self.principal,
            )),
            _ => self.observed.record.field(path).map(str::to_owned),
        }
    }
}

/// What a correlation makes of one record: for each slot it feeds, the
/// group's values and the event fed.
pub fn feeds(
    c: &Correlation,
    source: &FeedSource<'_, '_>,
    matched: &[&Rule],
) -> Vec<(Vec<(String, String)>, FedEvent)> {
    let mut slots = c.slots_fed(matched);
    if c.kind.counts() {
        // A count counts an event once, whichever of its rules matched.
        slots.truncate(1);
    }
    slots
        .into_iter()
        .map(|slot| {
            let group = c
                .group_by
                .iter()
                .map(|g| {
                    (
                        g.name.clone(),
                        source.value_of(&g.paths[slot]).unwrap_or_default(),
                    )
                })
                .collect();
            let event = FedEvent {
                event_id: source.event_id.clone(),
                time: source.time,
                slot,
                value: match &c.baseline {
                    // Several fields make one value; a record without
                    // one of them has none.
                    Some(b) => b
                        .values
                        .iter()
                        .map(|v| source.value_of(&v.paths[slot]))
                        .collect::<Option<Vec<_>>>()
                        .map(|parts| parts.join(" / ")),
                    None => c
                        .value
                        .as_ref()
                        .and_then(|v| source.value_of(&v.paths[slot])),
                },
                point: source.point,
                src: source.src.clone(),
                place: source.place.clone(),
                user: source.principal.user.clone(),
                rule: matched
                    .iter()
                    .find(|r| c.slots[slot].fed_by(r))
                    .map_or_else(String::new, |r| r.name.clone()),
            };
            (group, event)
        })
        .collect()
}

/// One event fed to a correlation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FedEvent {
    pub event_id: String,
    pub time: Timestamp,
    pub slot: usize,
    /// `value_count`: the counted field's value, when the record has it.
    pub value: Option<String>,
    pub src: String,
    /// Where `src` is, in one line ("Germany, AS24940 Hetzner Online GmbH,
    /// cloud"), when located.
    pub place: Option<String>,
    pub user: String,
    /// The detection rule that matched it (for a chained count, the rule
    /// the inner count counts).
    pub rule: String,
    /// Where `src` is on the map (impossible travel), when it is a public
    /// address of a located network.
    pub point: Option<Point>,
}

/// A place on the map, to a hundred-thousandth of a degree (about a
/// metre), and whether it is a city's or a country's representative point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Point {
    lat_e5: i32,
    lon_e5: i32,
    /// From a city database; else the country's representative point.
    pub city: bool,
}

impl Point {
    pub fn new(latitude: f64, longitude: f64, city: bool) -> Self {
        Point {
            lat_e5: (latitude * 1e5).round() as i32,
            lon_e5: (longitude * 1e5).round() as i32,
            city,
        }
    }

    pub fn latitude(self) -> f64 {
        f64::from(self.lat_e5) / 1e5
    }

    pub fn longitude(self) -> f64 {
        f64::from(self.lon_e5) / 1e5
    }

    /// Where a located address is, for travel: its city's coordinates,
    /// else its country's point; none for AWS, private, unknown and listed
    /// networks (offices, VPN egress and relays say nothing of where a
    /// person is).
    pub fn of(geo: &crate::domain::geo::SrcGeo) -> Option<Point> {
        use crate::domain::geo::network;
        if geo.network != network::ISP && geo.network != network::CLOUD {
            return None;
        }
        // Coordinates without a city are a country's or a region's (a city
        // database's answer for an address it places no closer): the
        // country's point, at country precision.
        match (geo.latitude, geo.longitude, &geo.city) {
            (Some(lat), Some(lon), Some(_)) => Some(Point::new(lat, lon, true)),
            _ => geo
                .country_point
                .map(|(lat, lon)| Point::new(lat, lon, false)),
        }
    }
}

/// An event that contributed to an alert, as a finding lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Evidence {
    pub event_id: String,
    pub time: Timestamp,
    pub rule: String,
    pub src: String,
    /// Where `src` is, in one line, when located.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub place: Option<String>,
    pub user: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub value: Option<String>,
}

/// A correlation alert: its identity (a window or a completing event), and
/// what it found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Alert {
    /// Unique per correlation and group: `window:START` or the completing
    /// event's id.
    pub identity: String,
    /// Event time the alert stands at: the window's end, or the completing
    /// event's time.
    pub time: Timestamp,
    pub window_start: Timestamp,
    pub window_end: Timestamp,
    /// Events counted (counts), or the events that led to the completing
    /// one (sequences).
    pub count: u64,
    /// `value_count`: the distinct values counted.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub distinct: Option<u64>,
    /// Up to [`MAX_EVIDENCE`] contributing events, in time order.
    pub evidence: Vec<Evidence>,
    /// Sequences: the event that completed it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub completing: Option<Evidence>,
    /// Baselines and travel: what made it ("last seen ...", "1,234 km in
    /// 40 min: 1,851 km/h (country precision)"), the story's `$detail$`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<String>,
}
