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
//! [`state`] holds the pure transition; the stores apply it atomically.

pub mod link;
pub mod simulate;
pub mod state;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde::Serialize;

use super::observed::Observed;
use super::rules::{Rule, RuleMeta};
use super::time::Timestamp;

/// How long after the latest event of a group a late event still counts:
/// EventBridge retries a delivery for up to 24 hours.
pub const LATENESS_HORIZON_MS: i64 = 24 * 3_600_000;
/// The most events a count window keeps (the largest threshold a count rule
/// may have): a window stops keeping them once it alerts.
pub const MAX_WINDOW_EVENTS: usize = 200;
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

/// The kinds of correlation supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CorrelationKind {
    EventCount,
    ValueCount,
    Temporal,
    TemporalOrdered,
}

impl CorrelationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CorrelationKind::EventCount => "event_count",
            CorrelationKind::ValueCount => "value_count",
            CorrelationKind::Temporal => "temporal",
            CorrelationKind::TemporalOrdered => "temporal_ordered",
        }
    }

    pub fn counts(self) -> bool {
        matches!(
            self,
            CorrelationKind::EventCount | CorrelationKind::ValueCount
        )
    }
}

/// A count's condition: `gt` or `gte`. (An upper bound needs a window to
/// close, which a stream without a clock never sees.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Threshold {
    /// Strictly greater (`gt`) rather than at least (`gte`).
    pub strict: bool,
    pub value: u64,
}

impl Threshold {
    pub fn met(self, n: usize) -> bool {
        let n = n as u64;
        if self.strict {
            n > self.value
        } else {
            n >= self.value
        }
    }

    /// The smallest count that meets it.
    pub fn needs(self) -> u64 {
        self.value + u64::from(self.strict)
    }
}

/// What feeds one place of a correlation.
#[derive(Debug, Clone)]
pub enum Slot {
    Rule(Arc<Rule>),
    /// A chained `event_count`: its rules' events, counted over its own
    /// timespan ending at the completing event.
    Count(Arc<Correlation>),
}

impl Slot {
    /// Whether a record the rule `rule` matched feeds this slot.
    pub fn fed_by(&self, rule: &Rule) -> bool {
        match self {
            Slot::Rule(r) => std::ptr::eq(r.as_ref(), rule),
            Slot::Count(inner) => inner.slots.iter().any(|s| s.fed_by(rule)),
        }
    }

    /// The detection rules that feed it.
    pub fn rules(&self) -> Vec<Arc<Rule>> {
        match self {
            Slot::Rule(r) => vec![r.clone()],
            Slot::Count(inner) => inner.slots.iter().flat_map(Slot::rules).collect(),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Slot::Rule(r) => &r.name,
            Slot::Count(c) => &c.name,
        }
    }
}

/// A field a correlation groups by (or counts the values of): its name, and
/// the record field it reads for each slot (the same unless `aliases` says).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupField {
    pub name: String,
    pub paths: Vec<String>,
}

/// Fields a correlation may group by besides the record's own: the names
/// findings give the principal, the account and the session issuer.
pub const DERIVED_FIELDS: &[&str] = &["user", "account", "issuer"];

/// What the correlations read of one record, read once for all of them.
pub struct FeedSource<'r, 'a> {
    observed: &'r Observed<'a>,
    principal: super::identity::Principal,
    account: String,
    src: String,
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
            _ => self.observed.record.field(path).map(str::to_owned),
        }
    }
}

/// A correlation rule, linked to the rules it counts.
#[derive(Debug)]
pub struct Correlation {
    pub meta: Arc<RuleMeta>,
    pub kind: CorrelationKind,
    pub slots: Vec<Slot>,
    pub group_by: Vec<GroupField>,
    /// `value_count`: the field whose distinct values are counted.
    pub value: Option<GroupField>,
    pub timespan_ms: i64,
    /// Counts: when an alert is due. Temporal kinds: every slot present.
    pub threshold: Threshold,
    /// Sigma's `generate`: the rules it counts make findings of their own,
    /// building blocks included.
    pub generate: bool,
    /// A correlation only other correlations use: no alert of its own.
    pub building_block: bool,
    /// The first sentence of the finding's text, with placeholders.
    pub story: Option<String>,
    pub tests: Vec<state::SequenceTest>,
}

impl std::ops::Deref for Correlation {
    type Target = RuleMeta;
    fn deref(&self) -> &RuleMeta {
        &self.meta
    }
}

impl Correlation {
    /// The slots a record feeds, given the rules that matched it.
    pub fn slots_fed(&self, matched: &[&Rule]) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|&i| matched.iter().any(|r| self.slots[i].fed_by(r)))
            .collect()
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
                value: c
                    .value
                    .as_ref()
                    .and_then(|v| source.value_of(&v.paths[slot])),
                src: source.src.clone(),
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
    pub user: String,
    /// The detection rule that matched it (for a chained count, the rule
    /// the inner count counts).
    pub rule: String,
}

/// An event that contributed to an alert, as a finding lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Evidence {
    pub event_id: String,
    pub time: Timestamp,
    pub rule: String,
    pub src: String,
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
}
