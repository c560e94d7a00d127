//! Correlation rules as loaded and linked: what a Sigma correlation says
//! (its kind, the rules it counts, its groups, window and threshold),
//! loaded and linked by [`super::load`]. The engine that evaluates them is
//! [`crate::domain::correlation`].

use std::sync::Arc;

use serde::Serialize;

use super::inline::SequenceTest;
use super::{Rule, RuleMeta};

/// The largest threshold a count rule may have: a count window keeps at
/// most this many events, and stops keeping them once it alerts.
pub const MAX_WINDOW_EVENTS: usize = 200;
/// The kinds of correlation supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CorrelationKind {
    EventCount,
    ValueCount,
    Temporal,
    TemporalOrdered,
    /// A value not seen for the group before ([`Baseline`]).
    Baseline,
    /// Two sign-ins of the group farther apart than travel allows
    /// ([`Travel`]).
    ImpossibleTravel,
}

impl CorrelationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CorrelationKind::EventCount => "event_count",
            CorrelationKind::ValueCount => "value_count",
            CorrelationKind::Temporal => "temporal",
            CorrelationKind::TemporalOrdered => "temporal_ordered",
            CorrelationKind::Baseline => "baseline",
            CorrelationKind::ImpossibleTravel => "impossible_travel",
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

/// Fields a correlation may group by (or a baseline remember) besides the
/// record's own: the names findings give the user, the account and the
/// session issuer; the principal a baseline remembers
/// (`identity::baseline_principal`); the user agent's family
/// (`agent::family`: Chrome, Firefox, AWS CLI, ...).
pub const DERIVED_FIELDS: &[&str] = &[
    "user",
    "account",
    "issuer",
    "principal",
    "user_agent_family",
];

/// How long after the latest event of a group a late event still counts:
/// EventBridge retries a delivery for up to 24 hours.
pub const LATENESS_HORIZON_MS: i64 = 24 * 3_600_000;

/// How long a group's own history must be before a baseline alerts, by
/// default: a week.
pub const DEFAULT_LEARNING_MS: i64 = 7 * 86_400_000;
/// How long a value may go unseen before it is new again, by default.
pub const DEFAULT_FORGET_MS: i64 = 90 * 86_400_000;
/// The most values a baseline keeps per group; past it the least recently
/// seen are forgotten first (and are new again when they return).
pub const MAX_BASELINE_VALUES: usize = 1000;

/// "A value not seen for this group before": what makes the value, how long
/// the group's history must be before it alerts, and how long a value may
/// go unseen before it is new again (docs/baselines.md).
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    /// The fields whose values, together, are the value.
    pub values: Vec<GroupField>,
    pub learning_ms: i64,
    pub forget_ms: i64,
}

/// Impossible travel: two sign-ins of a group farther apart than
/// `min_km`, at a speed above `max_kmh`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Travel {
    pub min_km: f64,
    pub max_kmh: f64,
}

impl Travel {
    /// The longest time between two sign-ins that can still be too fast:
    /// half the Earth's circumference at `max_kmh`.
    pub fn window_ms(&self) -> i64 {
        (20_038.0 / self.max_kmh.max(1.0) * 3_600_000.0) as i64
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
    pub tests: Vec<SequenceTest>,
    /// `baseline` rules: what makes a value new.
    pub baseline: Option<Baseline>,
    /// `impossible_travel` rules: what is too far, too fast.
    pub travel: Option<Travel>,
}

impl std::ops::Deref for Correlation {
    type Target = RuleMeta;
    fn deref(&self) -> &RuleMeta {
        &self.meta
    }
}

impl Correlation {
    /// Whether it remembers beyond its horizon: a baseline or impossible
    /// travel.
    pub fn has_memory(&self) -> bool {
        self.baseline.is_some() || self.travel.is_some()
    }

    /// The slots a record feeds, given the rules that matched it.
    pub fn slots_fed(&self, matched: &[&Rule]) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|&i| matched.iter().any(|r| self.slots[i].fed_by(r)))
            .collect()
    }
}
