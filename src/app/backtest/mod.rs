//! The backtest report's numbers: what a replay detected, per rule, over
//! time, by group, with the first findings kept whole and tuning hints
//! computed from the rest ([`hints`]). `replay --report` feeds one
//! [`Backtest`] with every detection and digest; the page is
//! [`crate::render::report`]'s.
//!
//! Memory stays bounded by what is distinct, not by how much was read:
//! counts per rule, hour and group, and at most [`LISTED_PER_RULE`]
//! findings per rule.

mod hints;

use std::collections::{BTreeMap, HashMap};

pub use hints::{CurrentAllowlist, MAX_VALUES, MIN_DETECTIONS, hints};

use hints::{Dimension, RuleFacts};

use crate::domain::finding::Finding;
use crate::domain::notify::Notice;
use crate::domain::time::Timestamp;
use crate::render;
use crate::render::report::{Axis, GroupRow, HOUR_MS, ListedFinding, Report, RuleSection, Series};

/// Findings kept whole per rule; the rest are counted.
pub const LISTED_PER_RULE: usize = 20;
/// Groups shown per rule.
pub const TOP_GROUPS: usize = 10;
/// Groups counted per rule; detections of further groups are counted
/// together, so that memory stays bounded whatever names an archive holds.
pub const MAX_GROUPS: usize = 100_000;
/// The chart's axis covers at most this long before the last detection:
/// a record dated decades off must not squeeze every bar into a pixel.
const LONGEST_AXIS_MS: i64 = 2 * 366 * 24 * HOUR_MS;
/// Characters of a finding's indented JSON the page shows.
const EVIDENCE_CHARS: usize = 16 << 10;

/// What happened to a detection's notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Sent as a message of its own.
    Sent,
    /// Past the rule's hourly budget: a line of the hour's digest.
    Folded,
    /// Counted without a message: suppressed within its group's window,
    /// or before the quiet time.
    Counted,
    /// Its notification failed.
    Failed,
}

impl Delivery {
    fn describe(self) -> &'static str {
        match self {
            Delivery::Sent => "sent",
            Delivery::Folded => "folded into the hour's digest: past the rule's hourly budget",
            Delivery::Counted => {
                "counted, no message: its group notified within the suppression window, or it is before the quiet time"
            }
            Delivery::Failed => "its notification failed",
        }
    }
}

/// One rule's counts.
#[derive(Debug, Default)]
struct RuleTally {
    /// The order the rule first detected in, which breaks ties.
    first: usize,
    id: String,
    title: String,
    kind: String,
    severity: String,
    detections: u64,
    notifications: u64,
    folded: u64,
    digests: u64,
    /// Detections and notifications per hour since the epoch.
    hours: BTreeMap<i64, (u64, u64)>,
    groups: HashMap<String, GroupRow>,
    /// Detections of groups past [`MAX_GROUPS`].
    more_groups: u64,
    /// Detections per session issuer and source address: what the hints
    /// look at.
    issuers: Dimension,
    sources: Dimension,
    listed: Vec<ListedFinding>,
}

/// A replay's detections, aggregated for the report.
#[derive(Debug, Default)]
pub struct Backtest {
    rules: HashMap<String, RuleTally>,
    /// The event times the rules read.
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    /// The detections' event times: the chart's axis.
    first_detection: Option<Timestamp>,
    last_detection: Option<Timestamp>,
}

impl Backtest {
    pub fn new() -> Self {
        Self::default()
    }

    /// A record the rules read, at its event time.
    pub fn saw(&mut self, at: Timestamp) {
        self.first = Some(self.first.map_or(at, |f| f.min(at)));
        self.last = Some(self.last.map_or(at, |l| l.max(at)));
    }

    /// One detection, and what happened to its notification.
    pub fn detection(&mut self, notice: &Notice<'_>, delivery: Delivery) {
        let f = notice.finding;
        let order = self.rules.len();
        let t = self
            .rules
            .entry(f.rule.clone())
            .or_insert_with(|| RuleTally {
                first: order,
                id: f.rule_id.clone(),
                title: render::clean_line(&f.rule_name, 256),
                kind: f.kind.to_owned(),
                severity: f.severity.as_str().to_owned(),
                ..RuleTally::default()
            });
        let sent = delivery == Delivery::Sent;
        t.detections += 1;
        t.notifications += u64::from(sent);
        t.folded += u64::from(delivery == Delivery::Folded);
        let hour = t
            .hours
            .entry(f.event_time.as_millis().div_euclid(HOUR_MS))
            .or_default();
        hour.0 += 1;
        hour.1 += u64::from(sent);
        let where_from = place(f);
        let groups = t.groups.len();
        match t.groups.get_mut(&f.group) {
            Some(g) => {
                g.detections += 1;
                g.notifications += u64::from(sent);
            }
            None if groups >= MAX_GROUPS => t.more_groups += 1,
            None => {
                t.groups
                    .insert(f.group.clone(), group_row(f, &where_from, sent));
            }
        }
        if let Some(issuer) = &f.session_issuer {
            t.issuers.add(issuer, f.event_time, &f.user, "", false);
        }
        t.sources
            .add(&f.src, f.event_time, &f.user, &where_from, workplace(f));
        if t.listed.len() < LISTED_PER_RULE {
            t.listed.push(listed(notice, delivery));
        }
        self.saw(f.event_time);
        let at = f.event_time;
        self.first_detection = Some(self.first_detection.map_or(at, |x| x.min(at)));
        self.last_detection = Some(self.last_detection.map_or(at, |x| x.max(at)));
    }

    /// A digest sent for `rule`.
    pub fn digest(&mut self, rule: &str) {
        if let Some(t) = self.rules.get_mut(rule) {
            t.digests += 1;
        }
    }

    /// The report's rules, axis and event times, into `report`; hints add
    /// to the allowlist in effect, `current`.
    pub fn fill(self, report: &mut Report, current: &CurrentAllowlist) {
        if let (Some(f), Some(l)) = (self.first, self.last) {
            report.read.first_event = Some(f.to_string());
            report.read.last_event = Some(l.to_string());
        }
        let axis = match (self.first_detection, self.last_detection) {
            (Some(f), Some(l)) => {
                let from = f.max(Timestamp::from_millis(
                    l.as_millis().saturating_sub(LONGEST_AXIS_MS),
                ));
                Axis::covering(from, l)
            }
            _ => Axis::default(),
        };
        let mut rules: Vec<(String, RuleTally)> = self.rules.into_iter().collect();
        rules.sort_by(|a, b| {
            b.1.detections
                .cmp(&a.1.detections)
                .then(a.1.first.cmp(&b.1.first))
        });
        report.axis = axis;
        report.rules = rules
            .into_iter()
            .map(|(name, t)| section(&axis, name, t, current))
            .collect();
    }
}

fn section(axis: &Axis, name: String, t: RuleTally, current: &CurrentAllowlist) -> RuleSection {
    let mut series = Series::default();
    for (hour, (d, n)) in &t.hours {
        let bar = axis.bar(Timestamp::from_millis(hour * HOUR_MS));
        let e = series.bars.entry(bar).or_default();
        e.0 += d;
        e.1 += n;
    }
    let hints = hints(
        &RuleFacts {
            rule: &name,
            kind: &t.kind,
            severity: &t.severity,
            detections: t.detections,
            issuers: &t.issuers,
            sources: &t.sources,
        },
        current,
    );
    let groups = t.groups.len() as u64;
    let mut top: Vec<GroupRow> = t.groups.into_values().collect();
    top.sort_by(|a, b| {
        b.detections
            .cmp(&a.detections)
            .then_with(|| (&a.account, &a.user, &a.src).cmp(&(&b.account, &b.user, &b.src)))
    });
    top.truncate(TOP_GROUPS);
    RuleSection {
        unlisted: t.detections - t.listed.len() as u64,
        name,
        id: t.id,
        title: t.title,
        kind: t.kind,
        severity: t.severity,
        detections: t.detections,
        notifications: t.notifications,
        folded: t.folded,
        digests: t.digests,
        series,
        top_groups: top,
        groups,
        more_groups: t.more_groups,
        hints,
        listed: t.listed,
    }
}

/// Where the source is, as the e-mail says it ([`SrcGeo::describe`]).
///
/// [`SrcGeo::describe`]: crate::domain::geo::SrcGeo::describe
fn place(f: &Finding) -> String {
    f.src_geo
        .as_ref()
        .map_or_else(String::new, |g| render::clean_line(&g.describe(), 256))
}

/// A group's row: a detection's account, user and source; a
/// correlation's group-by values (its finding's user and source are its
/// last event's, not the group's), `—` for what it does not group by.
fn group_row(f: &Finding, place: &str, sent: bool) -> GroupRow {
    let (account, user, src, place) = match &f.correlation {
        None => (f.account.as_str(), f.user.as_str(), f.src.as_str(), place),
        Some(c) => {
            let by = |names: &[&str]| {
                names
                    .iter()
                    .find_map(|n| c.group_fields.get(*n))
                    .map_or("—", String::as_str)
            };
            let src = by(&["sourceIPAddress", "src"]);
            (
                by(&["account", "recipientAccountId"]),
                by(&["user", "principal", "userIdentity.arn"]),
                src,
                if src == "—" { "" } else { place },
            )
        }
    };
    GroupRow {
        account: render::clean_line(account, 64),
        user: render::clean_line(user, 128),
        src: render::clean_line(src, 128),
        place: place.to_owned(),
        detections: 1,
        notifications: u64::from(sent),
    }
}

/// Whether the source is on a network people work from: an ISP's, a
/// private one, or a list of your own that is not watched.
fn workplace(f: &Finding) -> bool {
    f.src_geo.as_ref().is_some_and(|g| {
        g.watch.is_none() && !matches!(g.network.as_str(), "aws" | "cloud" | "unknown")
    })
}

fn listed(notice: &Notice<'_>, delivery: Delivery) -> ListedFinding {
    let f = notice.finding;
    let story = match &f.correlation {
        Some(c) => c.story.clone(),
        None => format!("{} {}", f.title, notice.rule.description.trim()),
    };
    let mut evidence = render::escape_hidden_in_json(
        serde_json::to_string_pretty(f).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}")),
    );
    if evidence.len() > EVIDENCE_CHARS {
        let mut cut = EVIDENCE_CHARS;
        while !evidence.is_char_boundary(cut) {
            cut -= 1;
        }
        evidence.truncate(cut);
        evidence.push_str("\n… (cut: the JSON finding has it whole)");
    }
    ListedFinding {
        time: f.event_time.to_string(),
        title: render::clean_line(&f.title, 512),
        severity: f.severity.as_str().to_owned(),
        status: delivery.describe().to_owned(),
        story: render::clean_line(&story, 2048),
        evidence,
        email: render::email(notice),
    }
}

#[cfg(test)]
mod tests;
