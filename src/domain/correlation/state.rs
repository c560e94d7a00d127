//! A correlation group's state and the pure transition an event makes:
//! `feed(correlation, state, event) -> (state, alerts)`. The stores keep
//! the state per (correlation, group) and apply the transition atomically,
//! together with the alerts' counters.
//!
//! Every decision depends on event times and eventIDs only, so the alerts are
//! the same under any order of delivery: a count window alerts the first time
//! its count meets the threshold, whichever event that is; a sequence alerts
//! once for each completing event, whenever the events it needs arrive (late
//! ones within [`LATENESS_HORIZON_MS`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    Alert, Evidence, FedEvent, LATENESS_HORIZON_MS, MAX_EVIDENCE, MAX_SEQUENCE_EVENTS,
    MAX_STATE_BYTES,
};
use crate::domain::rules::correlation::{Correlation, CorrelationKind, MAX_WINDOW_EVENTS, Slot};
use crate::domain::time::Timestamp;

pub mod history;

/// One count window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// The eventIDs counted (event_count), until the window alerts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
    /// The distinct values counted (value_count), until the window alerts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Evidence>,
    /// The window has alerted: it counts no more.
    #[serde(default)]
    pub alerted: bool,
}

/// One event of a sequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceEvent {
    pub slot: usize,
    #[serde(flatten)]
    pub evidence: Evidence,
}

/// An alert decided, and the event whose arrival decided it: a redelivery of
/// that event hands the alert back, so a notification owed is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decided {
    pub identity: String,
    pub caused_by: String,
    pub time: Timestamp,
}

/// What a store keeps per (correlation, group).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupState {
    /// The latest event time fed: the lateness horizon counts back from it.
    pub latest: Option<Timestamp>,
    /// Count windows by index: window `k` covers `[k * half, k * half + 2 * half)`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub windows: BTreeMap<i64, Window>,
    /// Sequence events in (time, eventID) order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<SequenceEvent>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub decided: Vec<Decided>,
    /// Baselines: the group's first event, where its learning counts from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<Timestamp>,
    /// Baselines: per value, the times that answer whether it is new
    /// (milliseconds, thinned: `history`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub seen: BTreeMap<String, Vec<i64>>,
    /// Impossible travel: the group's recent located sign-ins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stops: Vec<history::Stop>,
    /// Baselines: values forgotten at a bound so far. A forgotten value
    /// that returns alerts as new again, under an identity of its own.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub forgotten: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What one event made of a group's state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Transition {
    pub state: GroupState,
    /// The state differs from before: it must be written.
    pub changed: bool,
    /// Alerts due now.
    pub alerts: Vec<Alert>,
    /// The event was fed before: the identities of the alerts it decided then.
    pub redelivered: Vec<String>,
    /// Older than the lateness horizon: not counted.
    pub too_late: bool,
}

/// How far behind the group's newest event an event is still honoured:
/// the lateness horizon, plus the window a count or sequence looks back
/// over (a baseline decides on what is older than the horizon alone;
/// impossible travel pairs sign-ins up to its window apart).
pub fn horizon(c: &Correlation) -> i64 {
    match (&c.baseline, &c.travel) {
        (Some(_), _) => LATENESS_HORIZON_MS,
        (_, Some(t)) => LATENESS_HORIZON_MS + t.window_ms(),
        _ => LATENESS_HORIZON_MS + c.timespan_ms,
    }
}

/// How long a group's state matters after its newest event: its horizon,
/// and for a baseline its forget-after period (a value unseen that long is
/// new again, and the group learned). Replay forgets idle groups after it;
/// DynamoDB keeps a state item at least that long.
pub fn keep_ms(c: &Correlation) -> i64 {
    match &c.baseline {
        Some(b) => b.forget_ms.saturating_add(LATENESS_HORIZON_MS),
        None => horizon(c),
    }
}

/// Half a window: windows start every `half` and last `2 * half`.
fn half(c: &Correlation) -> i64 {
    (c.timespan_ms / 2).max(1)
}

/// The transition `event` makes on `state`.
pub fn feed(c: &Correlation, state: &GroupState, event: &FedEvent) -> Transition {
    let mut next = state.clone();
    let mut tr = apply(c, &mut next, event);
    tr.changed = next != *state;
    tr.state = next;
    tr
}

/// [`feed`] in place, for a store that holds the state itself (replay's):
/// the transition without its `state` and `changed`, and no copy of the
/// state made.
pub fn apply(c: &Correlation, state: &mut GroupState, event: &FedEvent) -> Transition {
    let t = event.time.as_millis();
    if let Some(latest) = state.latest
        && t < latest.as_millis() - horizon(c)
    {
        // A baseline still remembers it, unjudged: a backfill that runs
        // while live sign-ins arrive warms the history all the same.
        if let Some(b) = &c.baseline {
            history::remember(b, state, event);
            evict(c, state);
        }
        return Transition {
            too_late: true,
            ..Transition::default()
        };
    }
    state.latest = Some(state.latest.map_or(event.time, |l| l.max(event.time)));
    let tr = match (&c.baseline, &c.travel) {
        (Some(b), _) => history::feed_baseline(b, state, event, evidence(event)),
        (_, Some(travel)) => history::feed_travel(travel, state, event, evidence(event)),
        _ if c.kind.counts() => feed_windows(c, state, event),
        _ => feed_sequence(c, state, event),
    };
    for alert in &tr.alerts {
        state.decided.push(Decided {
            identity: alert.identity.clone(),
            caused_by: event.event_id.clone(),
            time: alert.time,
        });
    }
    evict(c, state);
    tr
}

fn evidence(event: &FedEvent) -> Evidence {
    Evidence {
        event_id: event.event_id.clone(),
        time: event.time,
        rule: event.rule.clone(),
        src: event.src.clone(),
        place: event.place.clone(),
        user: event.user.clone(),
        value: event.value.clone(),
    }
}

pub(super) fn redelivered(state: &GroupState, event_id: &str) -> Vec<String> {
    state
        .decided
        .iter()
        .filter(|d| d.caused_by == event_id)
        .map(|d| d.identity.clone())
        .collect()
}

fn feed_windows(c: &Correlation, state: &mut GroupState, event: &FedEvent) -> Transition {
    let half = half(c);
    let t = event.time.as_millis();
    let k = t.div_euclid(half);
    let mut tr = Transition::default();
    let mut seen_before = false;
    for k in [k - 1, k] {
        let window = state.windows.entry(k).or_default();
        if window.alerted {
            continue;
        }
        // Kept sorted, so that the state is the same whatever the order.
        let new = match c.kind {
            CorrelationKind::ValueCount => match &event.value {
                Some(v) => insert_sorted(&mut window.values, v.clone()),
                None => false,
            },
            _ => insert_sorted(&mut window.ids, event.event_id.clone()),
        };
        if !new {
            seen_before |= window.evidence.iter().any(|e| e.event_id == event.event_id);
            // A value seen before: its evidence is its earliest event.
            if c.kind == CorrelationKind::ValueCount && event.value.is_some() {
                let item = evidence(event);
                match window.evidence.iter().position(|e| e.value == event.value) {
                    Some(i)
                        if (item.time, &item.event_id)
                            < (window.evidence[i].time, &window.evidence[i].event_id) =>
                    {
                        window.evidence.remove(i);
                        insert_evidence(&mut window.evidence, item);
                    }
                    Some(_) => {}
                    None => insert_evidence(&mut window.evidence, item),
                }
            }
            continue;
        }
        insert_evidence(&mut window.evidence, evidence(event));
        let counted = match c.kind {
            CorrelationKind::ValueCount => window.values.len(),
            _ => window.ids.len(),
        };
        if c.threshold.met(counted) {
            window.alerted = true;
            let start = Timestamp::from_millis(k * half);
            let end = Timestamp::from_millis(k * half + 2 * half);
            tr.alerts.push(Alert {
                identity: format!("window:{start}"),
                time: end,
                window_start: start,
                window_end: end,
                count: window.evidence.len().max(counted) as u64,
                distinct: (c.kind == CorrelationKind::ValueCount).then_some(counted as u64),
                evidence: std::mem::take(&mut window.evidence),
                completing: None,
                detail: None,
            });
            window.ids.clear();
            window.values.clear();
        } else if counted > MAX_WINDOW_EVENTS {
            // Unreachable for a loaded rule (thresholds are capped); kept so
            // that state stays bounded whatever the definition.
            window.ids.remove(0);
        }
    }
    if seen_before || tr.alerts.is_empty() {
        tr.redelivered = redelivered(state, &event.event_id);
    }
    tr
}

/// Keeps the earliest contributing events, whatever the order they came in.
fn insert_evidence(list: &mut Vec<Evidence>, item: Evidence) {
    let at = list.partition_point(|e| (e.time, &e.event_id) < (item.time, &item.event_id));
    list.insert(at, item);
    list.truncate(MAX_EVIDENCE);
}

/// Inserts `v` into the sorted `list`; false when it is there already.
fn insert_sorted(list: &mut Vec<String>, v: String) -> bool {
    match list.binary_search(&v) {
        Ok(_) => false,
        Err(at) => {
            list.insert(at, v);
            true
        }
    }
}

fn feed_sequence(c: &Correlation, state: &mut GroupState, event: &FedEvent) -> Transition {
    let mut tr = Transition::default();
    let key = (event.time, event.event_id.as_str());
    let at = state.events.binary_search_by(|e| {
        (e.evidence.time, e.evidence.event_id.as_str(), e.slot).cmp(&(key.0, key.1, event.slot))
    });
    match at {
        Ok(_) => {
            tr.redelivered = redelivered(state, &event.event_id);
            return tr;
        }
        Err(i) => state.events.insert(
            i,
            SequenceEvent {
                slot: event.slot,
                evidence: evidence(event),
            },
        ),
    }
    if state.events.len() > MAX_SEQUENCE_EVENTS {
        state.events.remove(0);
    }
    let span = c.timespan_ms;
    let t = event.time.as_millis();
    let last = c.slots.len() - 1;
    // The events this one may complete: itself, and those of the completing
    // slot (any slot, unordered) up to a timespan later.
    let candidates: Vec<usize> = (0..state.events.len())
        .filter(|&i| {
            let e = &state.events[i];
            let dt = e.evidence.time.as_millis() - t;
            (0..=span).contains(&dt) && (c.kind == CorrelationKind::Temporal || e.slot == last)
        })
        .collect();
    for i in candidates {
        let completing = &state.events[i];
        let identity = completing.evidence.event_id.clone();
        if state.decided.iter().any(|d| d.identity == identity)
            || tr.alerts.iter().any(|a| a.identity == identity)
        {
            continue;
        }
        if let Some(alert) = completes(c, &state.events, i) {
            tr.alerts.push(alert);
        }
    }
    tr
}

/// Whether `events[i]` completes the sequence, and the alert if it does.
///
/// Order within one second: CloudTrail's times have whole seconds, so
/// events of the same second have no order any delivery agrees on (the
/// eventID is random, the arrival order is the network's). An ordered
/// sequence therefore takes the events of one second in whatever order
/// completes it: a burst of failures in the same second as the success
/// counts before it. The decision depends on the set of events only, so
/// it is the same in every delivery order (`docs/correlations.md`).
fn completes(c: &Correlation, events: &[SequenceEvent], i: usize) -> Option<Alert> {
    let f = &events[i];
    let tf = f.evidence.time.as_millis();
    let from = tf - c.timespan_ms;
    let in_window = |e: &SequenceEvent, lo: i64| {
        let te = e.evidence.time.as_millis();
        te >= lo && te <= tf
    };
    let ordered = c.kind == CorrelationKind::TemporalOrdered;
    // For order: the earliest time the next slot's events may have.
    let mut cursor = from;
    let mut used: Vec<&SequenceEvent> = Vec::new();
    for (slot, kind) in c.slots.iter().enumerate() {
        let lo = if ordered { cursor } else { from };
        match kind {
            Slot::Count(inner) => {
                let lo = lo.max(tf - inner.timespan_ms);
                // The same second as the completing event counts as before
                // it (see `completes`); the completing event itself never does.
                let counted: Vec<&SequenceEvent> = events
                    .iter()
                    .filter(|e| {
                        e.slot == slot
                            && in_window(e, lo)
                            && (!ordered || e.evidence.event_id != f.evidence.event_id)
                    })
                    .collect();
                if !inner.threshold.met(counted.len()) {
                    return None;
                }
                let needed = inner.threshold.needs() as usize;
                if ordered && let Some(e) = counted.get(needed.saturating_sub(1)) {
                    cursor = e.evidence.time.as_millis();
                }
                used.extend(counted);
            }
            // The completing event stands for its own slot (for order: the last).
            Slot::Rule(_) if slot == f.slot => used.push(f),
            Slot::Rule(_) => {
                let found = events.iter().enumerate().find(|(j, e)| {
                    e.slot == slot
                        && *j != i
                        && in_window(e, lo)
                        && (!ordered || e.evidence.event_id != f.evidence.event_id)
                });
                let (_, e) = found?;
                if ordered {
                    cursor = e.evidence.time.as_millis();
                }
                used.push(e);
            }
        }
    }
    used.sort_by(|a, b| {
        (a.evidence.time, &a.evidence.event_id).cmp(&(b.evidence.time, &b.evidence.event_id))
    });
    used.dedup_by(|a, b| a.evidence.event_id == b.evidence.event_id && a.slot == b.slot);
    // What led to the completing event: the story's "N failures, then".
    let before: Vec<&&SequenceEvent> = used
        .iter()
        .filter(|e| e.evidence.event_id != f.evidence.event_id)
        .collect();
    let count = before.len() as u64;
    let evidence: Vec<Evidence> = before
        .iter()
        .take(MAX_EVIDENCE)
        .map(|e| e.evidence.clone())
        .collect();
    Some(Alert {
        identity: f.evidence.event_id.clone(),
        time: f.evidence.time,
        window_start: Timestamp::from_millis(from),
        window_end: f.evidence.time,
        count,
        distinct: None,
        evidence,
        completing: Some(f.evidence.clone()),
        detail: None,
    })
}

/// Forgets what no event within the lateness horizon can still change.
fn evict(c: &Correlation, state: &mut GroupState) {
    let Some(latest) = state.latest else { return };
    match (&c.baseline, &c.travel) {
        (Some(b), _) => history::evict_baseline(b, state, latest),
        (_, Some(t)) => history::evict_travel(t, state, latest),
        _ => evict_windows_and_events(c, state, latest),
    }
    shrink_to_fit(state);
}

fn evict_windows_and_events(c: &Correlation, state: &mut GroupState, latest: Timestamp) {
    let keep_from = latest.as_millis() - LATENESS_HORIZON_MS - c.timespan_ms;
    let half = half(c);
    state.windows.retain(|k, _| (k + 2) * half > keep_from);
    state
        .events
        .retain(|e| e.evidence.time.as_millis() >= keep_from);
    state.decided.retain(|d| d.time.as_millis() >= keep_from);
}

/// A cheap upper estimate of the state's JSON size (escapes aside).
fn estimated_bytes(state: &GroupState) -> usize {
    let evidence = |e: &Evidence| {
        100 + e.event_id.len()
            + e.rule.len()
            + e.src.len()
            + e.place.as_ref().map_or(0, |p| p.len() + 10)
            + e.user.len()
            + e.value.as_ref().map_or(0, String::len)
    };
    let windows: usize = state
        .windows
        .values()
        .map(|w| {
            40 + w.ids.iter().map(|i| i.len() + 3).sum::<usize>()
                + w.values.iter().map(|v| v.len() + 3).sum::<usize>()
                + w.evidence.iter().map(evidence).sum::<usize>()
        })
        .sum();
    let events: usize = state
        .events
        .iter()
        .map(|e| 10 + evidence(&e.evidence))
        .sum();
    let decided: usize = state
        .decided
        .iter()
        .map(|d| 80 + d.identity.len() + d.caused_by.len())
        .sum();
    let seen: usize = state
        .seen
        .iter()
        .map(|(v, times)| 8 + v.len() + 15 * times.len())
        .sum();
    let stops: usize = state.stops.iter().map(|s| 60 + evidence(&s.evidence)).sum();
    64 + windows + events + decided + seen + stops
}

/// Forgets the oldest windows, sequence events, sign-ins, decisions and
/// values, an eighth at
/// a time, once the state nears [`MAX_STATE_BYTES`], down to half of it: the
/// estimate spares the serialisation for every state under three quarters
/// of the limit, and the halving spares it for the feeds that follow.
fn shrink_to_fit(state: &mut GroupState) {
    // The estimate counts a string's bytes once; JSON may escape each into
    // six (a control character as \u00XX): below a sixth of the limit the
    // state fits whatever its strings hold.
    if estimated_bytes(state) <= MAX_STATE_BYTES / 6 {
        return;
    }
    while serde_json::to_vec(state).map_or(0, |v| v.len()) > MAX_STATE_BYTES / 2 {
        let eighth = |n: usize| n.div_ceil(8);
        if !state.windows.is_empty() {
            for _ in 0..eighth(state.windows.len()) {
                state.windows.pop_first();
            }
        } else if !state.events.is_empty() {
            state.events.drain(..eighth(state.events.len()));
        } else if !state.stops.is_empty() {
            state.stops.drain(..eighth(state.stops.len()));
        } else if !state.decided.is_empty() {
            state.decided.drain(..eighth(state.decided.len()));
        } else if !state.seen.is_empty() {
            // The values seen least recently go first.
            for _ in 0..eighth(state.seen.len()) {
                history::forget_least_recent(state, None);
            }
        } else {
            break;
        }
    }
}
