//! The backtest report: one self-contained HTML page of what a replay read
//! and found, per rule drawn over time, with the groups that make the noise
//! and the settings that would quiet them (`replay --report`).
//!
//! The page loads nothing: no script, no font, no picture from elsewhere (a
//! Content-Security-Policy says so to the browser), and every value a
//! signer chose is escaped. Findings expand with `<details>`, which needs no
//! script; colour is never the only carrier of meaning.

mod chart;
mod page;

pub use chart::{Axis, DAY_MS, HOUR_MS, Series, Unit};
pub use page::report_html;

use crate::render::sanitize::is_hidden;

/// What was read, as the replay's summary counts it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadFacts {
    pub files: u64,
    pub bytes: u64,
    pub records: u64,
    pub signin_records: u64,
    pub bad_records: u64,
    pub duplicates: u64,
    pub allowlisted: u64,
    pub too_late: u64,
    pub detections: u64,
    pub notifications: u64,
    pub folded: u64,
    pub digests: u64,
    pub failed_detections: u64,
    pub future_dated: u64,
    /// The earliest and latest event times the rules read.
    pub first_event: Option<String>,
    pub last_event: Option<String>,
}

/// One rule of the pack as `rules list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackRow {
    pub name: String,
    pub id: String,
    pub level: String,
    pub kind: String,
    pub source: String,
    pub enabled: String,
}

/// Everything the page shows.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The program's version, for the heading.
    pub version: String,
    /// The inputs, listed up to a bound, and how many more there were.
    pub inputs: Vec<String>,
    pub more_inputs: usize,
    pub read: ReadFacts,
    /// The settings in effect: name, value.
    pub settings: Vec<(String, String)>,
    pub pack: Vec<PackRow>,
    /// The filters loaded: name, the rules they apply to.
    pub filters: Vec<(String, String)>,
    /// Per rule that detected anything, most detections first.
    pub rules: Vec<RuleSection>,
    /// The time axis every rule's chart shares.
    pub axis: Axis,
}

/// One rule's part of the page.
#[derive(Debug, Clone, Default)]
pub struct RuleSection {
    pub name: String,
    pub id: String,
    pub title: String,
    /// `detection` or `correlation`.
    pub kind: String,
    pub severity: String,
    pub detections: u64,
    pub notifications: u64,
    pub folded: u64,
    pub digests: u64,
    pub series: Series,
    /// The groups with most detections, and how many groups there were.
    pub top_groups: Vec<GroupRow>,
    pub groups: u64,
    /// Detections of groups past the bound on groups counted.
    pub more_groups: u64,
    pub hints: Vec<Hint>,
    /// The first findings, and how many more were not listed.
    pub listed: Vec<ListedFinding>,
    pub unlisted: u64,
}

/// A group (account, user, source) and its share of a rule's detections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupRow {
    pub account: String,
    pub user: String,
    pub src: String,
    /// Country, network owner and class of network, when known.
    pub place: String,
    pub detections: u64,
    pub notifications: u64,
}

/// A tuning hint computed from the findings, with the setting to copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    /// "3 session issuers make 92% of federated-single-factor's 40
    /// detections: allowlist them?"
    pub text: String,
    /// Where the setting goes.
    pub how: String,
    /// The exact text to copy.
    pub setting: String,
}

/// A finding as the page lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListedFinding {
    pub time: String,
    pub title: String,
    pub severity: String,
    /// sent, folded into a digest, or counted without a message, and why.
    pub status: String,
    pub story: String,
    /// The finding's JSON, indented.
    pub evidence: String,
    pub email: String,
}

/// Escapes text for HTML content and attribute values, and replaces
/// control and hidden characters (bidirectional overrides among them),
/// which could make a name read as another.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if is_hidden(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}
