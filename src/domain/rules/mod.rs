//! Detection rules: Sigma YAML (`rules/`) plus a pure check, evaluated by a
//! maintained Sigma engine over the lenient record.
//!
//! A rule holds no state; counting and notification live in the counter
//! store. Values are compared ignoring case, as Sigma does.
//!
//! - [`sigma`]: the record as the engine sees it, compiled conditions, and
//!   what a rule's detection requires;
//! - [`load`]: YAML text to [`Rule`]s and [`Filter`]s, with the project's own
//!   fields (`signin_watch:`) and defaults for plain Sigma rules;
//! - [`pack`]: the rules compiled into both binaries;
//! - [`allowlist`]: the rule-2 allowlist variables, as filters;
//! - [`inline`]: the inline tests each rule carries.

pub mod allowlist;
mod attack;
pub use attack::tactic_id;
pub mod correlation;
pub mod event_names;
mod filter_trust;
pub mod inline;
pub mod load;
pub mod pack;
pub mod sigma;

use std::sync::Arc;

use serde::Serialize;

use super::geo::{Locator, NetworkList};
use super::record::CloudTrailRecord;
pub use super::severity::Severity;
use correlation::{Correlation, Slot};
use inline::InlineTest;
use sigma::Matcher;

/// A MITRE ATT&CK technique or tactic a rule is tagged with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Technique {
    pub id: String,
    pub name: String,
    /// The tactics the technique serves; empty for a tactic tag itself.
    pub tactics: Vec<String>,
}

/// Where a rule comes from upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleSource {
    pub vendor: String,
    pub url: String,
    /// The upstream revision this rule follows.
    pub version: String,
    pub status: String,
}

/// What a risk or threat score attaches to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectField {
    User,
    Src,
    Account,
}

/// The field a risk or threat object is taken from, and its type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScoredField {
    pub field: ObjectField,
    #[serde(rename = "type")]
    pub kind: String,
}

/// Whether a rule's matches make findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleKind {
    /// Each match is a detection: counted, and a finding.
    Detection,
    /// A match makes no finding of its own; correlation rules count it.
    BuildingBlock,
}

impl RuleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Detection => "detection",
            RuleKind::BuildingBlock => "building-block",
        }
    }
}

/// Where a rule was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Compiled into the binary from `rules/NAME`.
    Pack(&'static str),
    /// A file the operator gave (`--rules`, `SIGNIN_WATCH_RULES_DIR`).
    File(String),
    /// Built from settings (the allowlist variables).
    Settings(&'static str),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Pack(name) => write!(f, "pack:rules/{name}"),
            Origin::File(path) => f.write_str(path),
            Origin::Settings(what) => write!(f, "settings:{what}"),
        }
    }
}

/// What a finding needs to know of the rule (detection or correlation)
/// that made it: Sigma's metadata and the project's own fields.
#[derive(Debug, Clone)]
pub struct RuleMeta {
    /// The Sigma `id`; for a rule without one, its name.
    pub id: String,
    /// The rule's key everywhere (configuration, findings): the Sigma
    /// `name`, or its id when it has none.
    pub name: String,
    /// The Sigma `title`.
    pub title: String,
    pub origin: Origin,
    pub source: RuleSource,
    pub description: String,
    pub severity: Severity,
    pub risk_score: u8,
    pub risk_object: ScoredField,
    pub threat_object: ScoredField,
    pub mitre: Vec<Technique>,
    /// With `$user$`, `$src$` and `$account$` placeholders, as Splunk writes them.
    pub title_template: String,
    pub references: Vec<String>,
    pub known_false_positives: Vec<String>,
    pub investigation_steps: Vec<String>,
    pub tuning: String,
    /// `severity_from: src_network`: a match from a watched list of
    /// networks takes the list's severity and risk score.
    pub severity_from_list: bool,
}

impl RuleMeta {
    pub fn mitre_ids(&self) -> Vec<String> {
        self.mitre.iter().map(|t| t.id.clone()).collect()
    }

    /// The rule's title with the placeholders filled in.
    pub fn title_for(&self, user: &str, src: &str, account: &str) -> String {
        self.title_template
            .replace("$user$", user)
            .replace("$src$", src)
            .replace("$account$", account)
    }

    /// Whether `key` names this rule (its name or its id, any case).
    pub fn is_named(&self, key: &str) -> bool {
        self.name.eq_ignore_ascii_case(key) || self.id.eq_ignore_ascii_case(key)
    }
}

/// A detection rule: its metadata, its kind, its inline tests and its check.
#[derive(Debug)]
pub struct Rule {
    pub meta: Arc<RuleMeta>,
    pub kind: RuleKind,
    pub tests: Vec<InlineTest>,
    matcher: Matcher,
    /// The placeholders its detection names (`|expand: '%name%'`), sorted.
    pub placeholders: Vec<String>,
    /// The detection section, kept to fill the placeholders.
    detection: Arc<rsigma_parser::Detections>,
    /// The values its placeholders are filled with, when filled from the
    /// settings (the catalog's copy holds its tests' values).
    pub filled: Option<std::collections::BTreeMap<String, Vec<String>>>,
    /// The lists of networks its inline tests run with (`signin_watch:
    /// networks:`), before the operator's.
    pub test_lists: Vec<NetworkList>,
}

/// A rule reads as its metadata: `rule.name`, `rule.severity`.
impl std::ops::Deref for Rule {
    type Target = RuleMeta;
    fn deref(&self) -> &RuleMeta {
        &self.meta
    }
}

impl Rule {
    /// The placeholders `values` gives no values for.
    pub fn missing_placeholders(
        &self,
        values: &std::collections::BTreeMap<String, Vec<String>>,
    ) -> Vec<String> {
        self.placeholders
            .iter()
            .filter(|p| !values.contains_key(*p))
            .cloned()
            .collect()
    }

    /// The rule with its placeholders filled from `values`; an error names
    /// the placeholders `values` lacks (the rule stays inactive).
    pub fn with_placeholders(
        &self,
        values: &std::collections::BTreeMap<String, Vec<String>>,
    ) -> Result<Rule, String> {
        let missing = self.missing_placeholders(values);
        if !missing.is_empty() {
            return Err(format!("no values for %{}%", missing.join("%, %")));
        }
        let matcher = Matcher::compile(&sigma::expand(&self.detection, values))?;
        let used = values
            .iter()
            .filter(|(name, _)| self.placeholders.contains(name))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        Ok(Rule {
            meta: self.meta.clone(),
            kind: self.kind,
            tests: self.tests.clone(),
            matcher,
            placeholders: self.placeholders.clone(),
            detection: self.detection.clone(),
            filled: Some(used),
            test_lists: self.test_lists.clone(),
        })
    }

    /// The rule's own check, without filters.
    pub fn matches(&self, record: &CloudTrailRecord<'_>) -> bool {
        self.matcher.matches(record)
    }

    /// What the template's EventBridge pattern lets this rule see.
    pub fn reach(&self) -> event_names::Reach {
        let positives = self
            .tests
            .iter()
            .filter(|t| t.case == inline::Case::Positive)
            .map(|t| t.record.as_str());
        event_names::reach(self.matcher.event_names(), positives)
    }

    /// The event names every match has, when the rule pins them.
    pub fn event_names(&self) -> Option<&std::collections::BTreeSet<String>> {
        self.matcher.event_names()
    }

    /// Whether the rule reads where the source address is (`src_*`).
    pub fn uses_geo(&self) -> bool {
        self.matcher.uses_geo()
    }
}

/// Which rules a filter applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterTargets {
    All,
    /// By name or id.
    Rules(Vec<String>),
}

/// A Sigma filter (meta rule): a match of a rule it targets is let pass
/// unless the filter's condition holds for the record.
#[derive(Debug)]
pub struct Filter {
    /// The filter's name, else its id, else its title.
    pub name: String,
    pub title: String,
    pub origin: Origin,
    pub targets: FilterTargets,
    pub tests: Vec<InlineTest>,
    matcher: Matcher,
}

impl Filter {
    pub fn applies_to(&self, rule: &Rule) -> bool {
        match &self.targets {
            FilterTargets::All => true,
            FilterTargets::Rules(keys) => keys.iter().any(|k| rule.is_named(k)),
        }
    }

    /// Whether the filter keeps a match on `record` (its condition holds).
    pub fn keeps(&self, record: &CloudTrailRecord<'_>) -> bool {
        self.matcher.matches(record)
    }

    /// Whether the filter reads where the source address is (`src_*`).
    pub fn uses_geo(&self) -> bool {
        self.matcher.uses_geo()
    }
}

/// Which filter let a matching record pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowlistHit {
    pub filter: String,
}

impl std::fmt::Display for AllowlistHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "filter {}", self.filter)
    }
}

/// What a rule made of a record it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Match,
    /// The rule matched, and a filter the operator configured let it pass.
    Allowlisted(AllowlistHit),
}

/// One rule of a rule set: its filters, and what its matches are for.
#[derive(Debug, Clone)]
struct Entry {
    rule: Arc<Rule>,
    filters: Vec<Arc<Filter>>,
    /// Switched on: its matches have verdicts (findings, or allowlisted).
    enabled: bool,
    /// Its matches make findings: a detection rule, or a building block a
    /// correlation with `generate: true` counts.
    makes_findings: bool,
}

/// The rules switched on, with the filters that apply to them, the
/// correlations over them, and what locates a sign-in for the `src_*`
/// fields they read.
#[derive(Debug, Clone)]
pub struct RuleSet {
    entries: Vec<Entry>,
    filters: Vec<Arc<Filter>>,
    correlations: Vec<Arc<Correlation>>,
    locator: Locator,
}

impl Default for RuleSet {
    /// The pack, every rule and correlation on but the rules with
    /// placeholders (inactive without values), no filter, no geo data.
    fn default() -> Self {
        let pack = pack::contents()
            .and_then(|p| {
                let correlations = load::link::link(p.correlations, &p.rules)?;
                Ok((p.rules, correlations))
            })
            .unwrap_or_else(|e| panic!("the compiled pack loads: {e}"));
        // A rule with placeholders is inactive without their values.
        let rules = pack
            .0
            .into_iter()
            .filter(|r| r.placeholders.is_empty())
            .collect();
        Self::new(rules, Vec::new()).with_correlations(pack.1)
    }
}

/// What a rule set makes of one record.
#[derive(Debug, Default)]
pub struct Evaluation {
    /// Every enabled rule that matches, with its verdict, in rule order.
    pub verdicts: Vec<(Arc<Rule>, Verdict)>,
    /// Every rule that matches and no filter lets pass, enabled or counted
    /// by a correlation only: what feeds the correlations.
    pub matched: Vec<Arc<Rule>>,
}

impl RuleSet {
    /// `rules` in evaluation order, each with the `filters` that apply to it.
    pub fn new(rules: Vec<Arc<Rule>>, filters: Vec<Arc<Filter>>) -> Self {
        let entries = rules
            .into_iter()
            .map(|rule| Entry {
                filters: Self::applying(&filters, &rule),
                makes_findings: rule.kind == RuleKind::Detection,
                enabled: true,
                rule,
            })
            .collect();
        RuleSet {
            entries,
            filters,
            correlations: Vec::new(),
            locator: Locator::default(),
        }
    }

    fn applying(filters: &[Arc<Filter>], rule: &Rule) -> Vec<Arc<Filter>> {
        filters
            .iter()
            .filter(|f| f.applies_to(rule))
            .cloned()
            .collect()
    }

    /// With `correlations` evaluated too. A rule they count that is not in
    /// the set (a building block, or a disabled rule) is evaluated for them
    /// only, its filters still applying: a filtered sign-in feeds nothing.
    pub fn with_correlations(mut self, correlations: Vec<Arc<Correlation>>) -> Self {
        for c in &correlations {
            for rule in c.slots.iter().flat_map(Slot::rules) {
                match self
                    .entries
                    .iter_mut()
                    .find(|e| Arc::ptr_eq(&e.rule, &rule))
                {
                    Some(e) => e.makes_findings |= c.generate && !c.building_block,
                    None => self.entries.push(Entry {
                        filters: Self::applying(&self.filters, &rule),
                        rule,
                        enabled: false,
                        makes_findings: false,
                    }),
                }
            }
        }
        self.correlations = correlations
            .into_iter()
            .filter(|c| !c.building_block)
            .collect();
        self
    }

    /// With sign-ins located by `locator` (the default knows no address).
    pub fn with_locator(mut self, locator: Locator) -> Self {
        self.locator = locator;
        self
    }

    /// What locates a sign-in.
    pub fn locator(&self) -> &Locator {
        &self.locator
    }

    /// The enabled rules.
    pub fn rules(&self) -> impl Iterator<Item = &Arc<Rule>> + '_ {
        self.entries.iter().filter(|e| e.enabled).map(|e| &e.rule)
    }

    /// The correlations that alert.
    pub fn correlations(&self) -> &[Arc<Correlation>] {
        &self.correlations
    }

    /// Whether a match of `rule` makes a finding.
    pub fn makes_findings(&self, rule: &Rule) -> bool {
        self.entries
            .iter()
            .any(|e| std::ptr::eq(e.rule.as_ref(), rule) && e.makes_findings)
    }

    /// The filters that apply to `rule`.
    pub fn filters_of(&self, rule: &Rule) -> &[Arc<Filter>] {
        self.entries
            .iter()
            .find(|e| std::ptr::eq(e.rule.as_ref(), rule))
            .map_or(&[], |e| e.filters.as_slice())
    }

    /// What every rule makes of `record`.
    pub fn evaluate(&self, record: &CloudTrailRecord<'_>) -> Evaluation {
        let mut out = Evaluation::default();
        for e in &self.entries {
            if !e.rule.matches(record) {
                continue;
            }
            let verdict = match e.filters.iter().find(|f| !f.keeps(record)) {
                Some(f) => Verdict::Allowlisted(AllowlistHit {
                    filter: f.name.clone(),
                }),
                None => {
                    out.matched.push(e.rule.clone());
                    Verdict::Match
                }
            };
            if e.enabled {
                out.verdicts.push((e.rule.clone(), verdict));
            }
        }
        out
    }

    /// A short id of the rules loaded (ids, names, origins, whether on):
    /// progress through a trail object is kept per rule set, since which
    /// records are candidates depends on it.
    pub fn fingerprint(&self) -> String {
        let mut parts: Vec<String> = self
            .entries
            .iter()
            .map(|e| {
                format!(
                    "{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{:?}",
                    e.rule.id,
                    e.rule.name,
                    e.rule.origin,
                    e.enabled,
                    e.rule.tests.len(),
                    e.rule.filled
                )
            })
            .chain(
                self.correlations
                    .iter()
                    .map(|c| format!("{}\u{0}{}", c.id, c.name)),
            )
            // Which records are candidates depends on where addresses are.
            .chain(std::iter::once(format!(
                "geo\u{0}{}\u{0}{:?}",
                self.locator.source(),
                self.locator
                    .lists()
                    .iter()
                    .map(|l| (&l.name, l.len(), l.watch))
                    .collect::<Vec<_>>()
            )))
            .collect();
        parts.sort();
        crate::domain::hash::sha256_hex(parts.iter().map(|p| p.as_bytes()), 8)
    }

    /// Whether any rule matches `record`, filters aside.
    pub fn any_match(&self, record: &CloudTrailRecord<'_>) -> bool {
        self.entries.iter().any(|e| e.rule.matches(record))
    }

    /// Whether any rule or filter reads where the source address is.
    pub fn uses_geo(&self) -> bool {
        self.entries
            .iter()
            .any(|e| e.rule.uses_geo() || e.filters.iter().any(|f| f.uses_geo()))
    }

    /// Whether the detector must see `record` (the scan's question): some
    /// rule matches it, with `src_geo` located when a rule reads it.
    pub fn wants(&self, record: &CloudTrailRecord<'_>) -> bool {
        if record.src_geo.is_none() && record.is_from_signin() && self.uses_geo() {
            let mut located = record.clone();
            located.enrich(&self.locator);
            return self.any_match(&located);
        }
        self.any_match(record)
    }
}

#[cfg(test)]
mod table_tests;
