//! The correlations with a memory: baselines ("a value not seen for this
//! group before") and impossible travel, as transitions on a group's state
//! like the counts and sequences of [`super::state`].
//!
//! Both decide exactly, in event time, whatever the order of delivery
//! within the lateness horizon `H` ([`LATENESS_HORIZON_MS`]): an event that
//! arrives after another is at most `H` older than the group's newest, so
//! every decision reads only what is older than `H` before its event, all
//! of which has arrived (docs/decisions/0011-exact-baselines.md).
//!
//! **Baselines.** An event of value `v` at `t` is *new* when the group saw
//! no `v` in `[t - forget, t - H)`, and the group is *learned* when its
//! first event is older than `t - learning`. A new event of a learned group
//! alerts as `(v, p)`, `p` the latest `v` before `t - forget` (or none):
//! the events of one burst share `p`, so a burst alerts once, whichever of
//! its events arrives first. Per value only the times that can change an
//! answer are kept: a time whose neighbours are at most `forget - H` apart
//! is dropped, which leaves every answer as it was and at most a handful
//! of times per value.
//!
//! **Impossible travel.** A located sign-in that ends a pair farther apart
//! than `min_km` at more than `max_kmh` (the later of the two in event
//! time) alerts once, as its eventID, when the second of the pair arrives;
//! the evidence is the pair found first.

use serde::{Deserialize, Serialize};

use super::super::{Alert, Evidence, FedEvent, LATENESS_HORIZON_MS, Point};
use super::{GroupState, Transition, redelivered};
use crate::domain::rules::correlation::{Baseline, MAX_BASELINE_VALUES, Travel};
use crate::domain::time::Timestamp;

/// The most sign-ins impossible travel keeps per group; past it the oldest
/// are forgotten (and pair with nothing more).
pub const MAX_TRAVEL_STOPS: usize = 64;

/// One located sign-in kept for impossible travel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stop {
    #[serde(flatten)]
    pub evidence: Evidence,
    pub point: Point,
}

/// Whether some kept time lies in `[from, to)`.
fn any_in(times: &[i64], from: i64, to: i64) -> bool {
    let at = times.partition_point(|&s| s < from);
    times.get(at).is_some_and(|&s| s < to)
}

/// Drops every time whose neighbours are at most `span` apart: a window of
/// length `span` that holds it holds one of them, so whether a window holds
/// a time, and the latest time before a gap longer than `span`, stay as
/// they were. Two times apart by more than `span` survive between any
/// three kept ones.
fn thin(times: &mut Vec<i64>, span: i64) {
    let mut i = 1;
    while i + 1 < times.len() {
        if times[i + 1] - times[i - 1] <= span {
            times.remove(i);
        } else {
            i += 1;
        }
    }
}

pub(super) fn feed_baseline(
    b: &Baseline,
    state: &mut GroupState,
    event: &FedEvent,
    evidence: Evidence,
) -> Transition {
    let mut tr = Transition::default();
    let t = event.time.as_millis();
    let h = LATENESS_HORIZON_MS;
    state.first = Some(state.first.map_or(event.time, |f| f.min(event.time)));
    let Some(value) = &event.value else {
        // The group's history grows; there is no value to judge.
        return tr;
    };
    let known_before: Vec<String> = state
        .seen
        .keys()
        .filter(|k| *k != value)
        .take(10)
        .cloned()
        .collect();
    let distinct = state.seen.len() as u64;
    let times = state.seen.entry(value.clone()).or_default();
    let new = !any_in(times, t - b.forget_ms, t - h);
    let before = times.partition_point(|&s| s < t - b.forget_ms);
    let previous = before.checked_sub(1).map(|i| times[i]);
    match times.binary_search(&t) {
        Ok(_) => {}
        Err(at) => times.insert(at, t),
    }
    thin(times, b.forget_ms - h);
    if state.seen.len() > MAX_BASELINE_VALUES {
        forget_least_recent(state, Some(value));
    }
    // The group's own history must reach back past the learning period.
    let learned = b.learning_ms == 0
        || state
            .first
            .is_some_and(|f| f.as_millis() < t - b.learning_ms);
    let mut identity = format!(
        "new:{value}@{}",
        previous.map_or_else(
            || "never".to_owned(),
            |p| Timestamp::from_millis(p).to_string()
        )
    );
    // Past a bound, a value forgotten and back has no earlier sighting
    // either: the count of values forgotten tells its return apart.
    if state.forgotten > 0 {
        identity.push_str(&format!("#{}", state.forgotten));
    }
    if state.decided.iter().any(|d| d.caused_by == event.event_id) {
        // Fed before: the alerts it decided then.
        tr.redelivered = redelivered(state, &event.event_id);
    } else if new && learned && !state.decided.iter().any(|d| d.identity == identity) {
        let detail = match (previous, known_before.is_empty()) {
            (Some(p), _) => format!("last seen {}", Timestamp::from_millis(p)),
            (None, true) => "the first value of its kind".to_owned(),
            (None, false) => format!("known: {}", known_before.join(", ")),
        };
        tr.alerts.push(Alert {
            identity,
            time: event.time,
            window_start: Timestamp::from_millis(t - b.forget_ms),
            window_end: event.time,
            count: 1,
            distinct: Some(distinct),
            evidence: vec![evidence.clone()],
            completing: Some(evidence),
            detail: Some(detail),
        });
    }
    tr
}

/// Adds a late event to the group's history without judging it: its time
/// to its value's, and to the group's first.
pub(super) fn remember(b: &Baseline, state: &mut GroupState, event: &FedEvent) {
    state.first = Some(state.first.map_or(event.time, |f| f.min(event.time)));
    let Some(value) = &event.value else { return };
    let t = event.time.as_millis();
    let times = state.seen.entry(value.clone()).or_default();
    if let Err(at) = times.binary_search(&t) {
        times.insert(at, t);
    }
    thin(times, b.forget_ms - LATENESS_HORIZON_MS);
    if state.seen.len() > MAX_BASELINE_VALUES {
        forget_least_recent(state, Some(value));
    }
}

/// Forgets the value seen least recently (never `keep`, just seen).
pub(super) fn forget_least_recent(state: &mut GroupState, keep: Option<&str>) {
    let oldest = state
        .seen
        .iter()
        .filter(|(k, _)| Some(k.as_str()) != keep)
        .min_by_key(|(k, times)| (times.last().copied().unwrap_or(i64::MIN), (*k).clone()))
        .map(|(k, _)| k.clone());
    if let Some(k) = oldest {
        state.seen.remove(&k);
        state.forgotten += 1;
    }
}

/// Forgets the times no event within the horizon can ask about: before
/// `latest - H - forget`, only the latest is kept (it names the episode a
/// returning value starts).
pub(super) fn evict_baseline(b: &Baseline, state: &mut GroupState, latest: Timestamp) {
    let floor = latest.as_millis() - LATENESS_HORIZON_MS - b.forget_ms;
    for times in state.seen.values_mut() {
        let below = times.partition_point(|&s| s < floor);
        if below > 1 {
            times.drain(..below - 1);
        }
    }
    // One burst's events lie within H of each other: their decision is
    // kept while another of them may still arrive.
    let keep_from = latest.as_millis() - 2 * LATENESS_HORIZON_MS;
    state.decided.retain(|d| d.time.as_millis() >= keep_from);
}

/// The great-circle distance in km (haversine, mean Earth radius).
pub fn distance_km(a: Point, b: Point) -> f64 {
    let (la1, lo1) = (a.latitude().to_radians(), a.longitude().to_radians());
    let (la2, lo2) = (b.latitude().to_radians(), b.longitude().to_radians());
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().min(1.0).asin()
}

/// "1,234 km" with thousands separators.
fn km(d: f64) -> String {
    let n = d.round() as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// "40 min", "3 h 05 min", "the same second".
fn duration(ms: i64) -> String {
    let minutes = ms / 60_000;
    match (ms, minutes) {
        (0, _) => "the same second".to_owned(),
        (_, 0) => format!("{} s", ms / 1000),
        (_, m) if m < 60 => format!("{m} min"),
        (_, m) => format!("{} h {:02} min", m / 60, m % 60),
    }
}

pub(super) fn feed_travel(
    travel: &Travel,
    state: &mut GroupState,
    event: &FedEvent,
    evidence: Evidence,
) -> Transition {
    let mut tr = Transition::default();
    let Some(point) = event.point else {
        return tr;
    };
    if state
        .stops
        .iter()
        .any(|s| s.evidence.event_id == event.event_id)
    {
        tr.redelivered = redelivered(state, &event.event_id);
        return tr;
    }
    let t = event.time.as_millis();
    for stop in &state.stops {
        let d = distance_km(stop.point, point);
        let dt = (t - stop.evidence.time.as_millis()).abs();
        let too_fast = dt == 0 || d / (dt as f64 / 3_600_000.0) > travel.max_kmh;
        if d <= travel.min_km || !too_fast {
            continue;
        }
        let (first, second) = if (stop.evidence.time, &stop.evidence.event_id)
            < (evidence.time, &evidence.event_id)
        {
            (&stop.evidence, &evidence)
        } else {
            (&evidence, &stop.evidence)
        };
        // One alert per sign-in that ends a too-fast pair, as a sequence
        // alerts once per completing event: the same identities in every
        // order, and a principal whose sign-ins hop between two places
        // alerts once per sign-in, not once per pair of them.
        let identity = format!("travel:{}", second.event_id);
        if state.decided.iter().any(|d| d.identity == identity)
            || tr.alerts.iter().any(|a| a.identity == identity)
        {
            continue;
        }
        let precision = if stop.point.city && point.city {
            "city"
        } else {
            "country"
        };
        let speed = if dt == 0 {
            String::new()
        } else {
            format!(": {} km/h", km(d / (dt as f64 / 3_600_000.0)))
        };
        tr.alerts.push(Alert {
            identity,
            time: second.time,
            window_start: first.time,
            window_end: second.time,
            count: 2,
            distinct: None,
            evidence: vec![first.clone(), second.clone()],
            completing: Some(second.clone()),
            detail: Some(format!(
                "{} km in {}{speed} ({precision} precision)",
                km(d),
                duration(dt)
            )),
        });
    }
    let at = state.stops.partition_point(|s| {
        (s.evidence.time, &s.evidence.event_id) < (event.time, &event.event_id)
    });
    state.stops.insert(at, Stop { evidence, point });
    if state.stops.len() > MAX_TRAVEL_STOPS {
        state.stops.remove(0);
    }
    tr
}

/// Forgets the sign-ins no later one can pair with.
pub(super) fn evict_travel(travel: &Travel, state: &mut GroupState, latest: Timestamp) {
    // A sign-in a horizon and a window late pairs with one a window before it.
    let keep_from = latest.as_millis() - LATENESS_HORIZON_MS - 2 * travel.window_ms();
    state
        .stops
        .retain(|s| s.evidence.time.as_millis() >= keep_from);
    state.decided.retain(|d| d.time.as_millis() >= keep_from);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_keeps_every_answer() {
        // Every window of length 10 over 0..60 holds a kept time exactly
        // when it holds a time, and the latest time before each point is
        // kept when a gap longer than 10 follows it.
        let all: Vec<i64> = vec![0, 1, 2, 3, 9, 15, 16, 30, 31, 32, 45, 58];
        let mut kept = all.clone();
        thin(&mut kept, 10);
        assert!(kept.len() < all.len(), "{kept:?}");
        for from in -5..70 {
            assert_eq!(
                any_in(&kept, from, from + 10),
                any_in(&all, from, from + 10),
                "window at {from}: {kept:?}"
            );
        }
        for w in all.windows(2) {
            if w[1] - w[0] > 10 {
                assert!(kept.contains(&w[0]), "{} before a gap: {kept:?}", w[0]);
            }
        }
    }

    #[test]
    fn distances_are_great_circles() {
        let p = |lat: f64, lon: f64| Point::new(lat, lon, true);
        // Paris to New York: about 5,837 km.
        let d = distance_km(p(48.8566, 2.3522), p(40.7128, -74.0060));
        assert!((d - 5837.0).abs() < 10.0, "{d}");
        assert_eq!(distance_km(p(10.0, 10.0), p(10.0, 10.0)), 0.0);
        assert_eq!(km(5836.6), "5,837");
        assert_eq!(duration(40 * 60_000), "40 min");
        assert_eq!(duration(185 * 60_000), "3 h 05 min");
    }

    use crate::domain::correlation::state::feed;
    use crate::domain::rules::correlation::{Correlation, CorrelationKind, GroupField, Threshold};
    use std::sync::Arc;

    const DAY: i64 = 86_400_000;
    const BASE: i64 = 1_763_600_000_000;

    fn memory(baseline: Option<Baseline>, travel: Option<Travel>) -> Correlation {
        let rule = crate::domain::rules::pack::rule("console-login-success").unwrap();
        Correlation {
            meta: Arc::new((*rule.meta).clone()),
            kind: if travel.is_some() {
                CorrelationKind::ImpossibleTravel
            } else {
                CorrelationKind::Baseline
            },
            slots: vec![crate::domain::rules::correlation::Slot::Rule(rule)],
            group_by: vec![GroupField {
                name: "user".into(),
                paths: vec!["user".into()],
            }],
            value: None,
            timespan_ms: DAY,
            threshold: Threshold {
                strict: false,
                value: 1,
            },
            generate: false,
            building_block: false,
            story: None,
            tests: Vec::new(),
            baseline,
            travel,
        }
    }

    fn baseline(learning_ms: i64) -> Correlation {
        memory(
            Some(Baseline {
                values: Vec::new(),
                learning_ms,
                forget_ms: 90 * DAY,
            }),
            None,
        )
    }

    fn at(id: &str, ms: i64, value: &str, point: Option<Point>) -> FedEvent {
        FedEvent {
            event_id: id.into(),
            time: Timestamp::from_millis(BASE + ms),
            slot: 0,
            value: Some(value.into()),
            src: "192.0.2.1".into(),
            place: None,
            user: "ana".into(),
            rule: "console-login-success".into(),
            point,
        }
    }

    fn alerts(c: &Correlation, events: &[FedEvent]) -> (Vec<String>, GroupState) {
        let mut state = GroupState::default();
        let mut out = Vec::new();
        for e in events {
            let tr = feed(c, &state, e);
            out.extend(tr.alerts.into_iter().map(|a| a.identity));
            state = tr.state;
        }
        (out, state)
    }

    #[test]
    fn a_late_event_is_remembered_unjudged() {
        // A live sign-in first, then the backfill's history, days late: it
        // is too late to alert, but it is the principal's history.
        let c = baseline(7 * DAY);
        let live = at("live", 10 * DAY, "DE", None);
        let history = at("old", 0, "DE", None);
        let mut state = GroupState::default();
        let tr = feed(&c, &state, &live);
        state = tr.state;
        let tr = feed(&c, &state, &history);
        assert!(tr.too_late && tr.alerts.is_empty());
        state = tr.state;
        assert_eq!(state.first, Some(Timestamp::from_millis(BASE)));
        // The learned principal's new country alerts.
        let tr = feed(&c, &state, &at("new", 10 * DAY + 3_600_000, "US", None));
        assert_eq!(tr.alerts.len(), 1, "{tr:?}");
    }

    #[test]
    fn a_value_forgotten_at_the_bound_alerts_again_when_it_returns() {
        let c = baseline(0);
        let events: Vec<FedEvent> = (0..=MAX_BASELINE_VALUES as i64)
            .map(|i| at(&format!("e{i}"), i * 60_000, &format!("v{i}"), None))
            .collect();
        let (first, state) = alerts(&c, &events);
        assert_eq!(first.len(), MAX_BASELINE_VALUES + 1);
        assert_eq!(state.seen.len(), MAX_BASELINE_VALUES);
        assert!(
            !state.seen.contains_key("v0"),
            "the least recent goes first"
        );
        let back = at("back", 2 * DAY, "v0", None);
        let tr = feed(&c, &state, &back);
        assert_eq!(tr.alerts.len(), 1);
        assert_ne!(tr.alerts[0].identity, first[0], "an identity of its own");
    }

    #[test]
    fn travel_pairs_a_late_sign_in_with_one_a_window_before_it() {
        let travel = Travel {
            min_km: 500.0,
            max_kmh: 1000.0,
        };
        let c = memory(None, Some(travel));
        // Nearly antipodal: too fast even most of a window apart.
        let (here, there) = (Point::new(0.0, 0.0, true), Point::new(0.0, 179.9, true));
        let w = travel.window_ms();
        let h = LATENESS_HORIZON_MS;
        let hour = 3_600_000;
        // A sign-in; then the group's newest, a horizon and two windows
        // later, less an hour; then, late but within the horizon, a
        // sign-in half an hour short of a window after the first.
        let first = at("first", 0, "x", Some(here));
        let newest = at("newest", h + 2 * w - hour, "x", Some(here));
        let late = at("late", w - hour / 2, "x", Some(there));
        let (found, _) = alerts(&c, &[first, newest, late]);
        assert_eq!(found, ["travel:late"]);
    }

    #[test]
    fn coordinates_without_a_city_are_the_country_s_point() {
        let mut geo = crate::domain::geo::SrcGeo::default();
        geo.network = "isp".into();
        geo.latitude = Some(37.751);
        geo.longitude = Some(-97.822);
        geo.country_point = Some((39.5, -99.1));
        let p = Point::of(&geo).unwrap();
        assert!(!p.city && (p.latitude() - 39.5).abs() < 1e-6, "{p:?}");
        geo.city = Some("New York".into());
        assert!(Point::of(&geo).unwrap().city);
        geo.network = "vpn".into();
        assert_eq!(Point::of(&geo), None, "a listed network is not placed");
    }
}
