//! From Sigma YAML to [`Rule`]s and [`Filter`]s.
//!
//! A file holds one rule, filter or (with `---`) several. Sigma has no field
//! for what a finding needs besides detection (risk score, title template,
//! investigation steps, tuning, MITRE names, inline tests): those go under the
//! project's own key, `signin_watch:` (`docs/rules.md`). A plain Sigma rule
//! without it loads as published, with defaults.
//!
//! Nothing is skipped silently: a document that does not parse, names a field
//! the lenient record does not have, uses a modifier that cannot apply, or
//! could match records the replay's prefilter never shows it, is an error
//! naming the file, the line where it can tell, and the reason.

use std::collections::HashMap;
use std::sync::Arc;

use rsigma_parser::{
    FilterRule, FilterRuleTarget, Level, SigmaCollection, SigmaRule, Status, parse_sigma_yaml,
};
use serde::Deserialize;

mod correlation_spec;
mod history;
pub mod link;

pub use correlation_spec::CorrelationSpec;

use super::attack;
use super::inline::{Case, InlineTest};
use super::sigma::{self, Matcher};
use super::{
    Filter, FilterTargets, ObjectField, Origin, Rule, RuleKind, RuleMeta, RuleSource, ScoredField,
    Severity, Technique,
};
use crate::domain::geo::NetworkList;
use crate::domain::record::{STRING_MAPS, is_known_field};

/// A rule file that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}{}: {reason}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct RuleError {
    pub origin: Origin,
    pub line: Option<usize>,
    pub reason: String,
}

/// What a file holds.
#[derive(Debug, Default)]
pub struct Loaded {
    pub rules: Vec<Rule>,
    pub filters: Vec<Filter>,
    /// Correlation rules, not yet linked to the rules they name.
    pub correlations: Vec<CorrelationSpec>,
}

impl Loaded {
    /// The records its inline tests make, all kinds together.
    pub fn test_records(&self) -> usize {
        self.rules.iter().map(|r| r.tests.len()).sum::<usize>()
            + self.filters.iter().map(|f| f.tests.len()).sum::<usize>()
            + self
                .correlations
                .iter()
                .flat_map(|c| &c.tests)
                .map(|t| t.records.len())
                .sum::<usize>()
    }
}

/// The most records the inline tests of one file make, all tests together,
/// and of all files of a rules directory: every cold start runs them.
pub const MAX_FILE_TEST_RECORDS: usize = 10_000;
pub const MAX_CATALOGUE_TEST_RECORDS: usize = 20_000;
/// The most bytes one inline test record may have, as JSON.
pub const MAX_TEST_RECORD_BYTES: usize = 64 << 10;

/// Where the events an inline test names (`event: FILE`) are read from.
pub trait EventFiles {
    /// The bytes of the event file `name`, as the test names it.
    fn read(&self, name: &str) -> Result<Vec<u8>, String>;

    /// The CloudTrail record of the event file `name`: an EventBridge
    /// event's detail, or the file's JSON itself.
    fn record(&self, name: &str) -> Result<serde_json::Value, String> {
        let value: serde_json::Value =
            serde_json::from_slice(&self.read(name)?).map_err(|e| format!("{name}: {e}"))?;
        Ok(value.get("detail").cloned().unwrap_or(value))
    }
}

/// The Sigma fields every kind of rule has.
pub(super) struct Common<'a> {
    title: &'a str,
    id: &'a Option<String>,
    name: &'a Option<String>,
    level: Option<Level>,
    status: Option<Status>,
    author: &'a Option<String>,
    references: &'a [String],
    date: &'a Option<String>,
    modified: &'a Option<String>,
    description: &'a Option<String>,
    falsepositives: &'a [String],
    tags: &'a [String],
}

/// The project's own fields, under `signin_watch:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Extension {
    title: Option<String>,
    risk_score: Option<u8>,
    risk_object: Option<ObjectSpec>,
    threat_object: Option<ObjectSpec>,
    source: Option<SourceSpec>,
    mitre: Option<Vec<TechniqueSpec>>,
    #[serde(default)]
    investigation: Vec<String>,
    tuning: Option<String>,
    #[serde(default)]
    building_block: bool,
    /// Correlations: the first sentence of the finding's text.
    story: Option<String>,
    /// A rule with placeholders (`|expand: '%name%'`): the values its inline
    /// tests run with. The detector fills them from its settings.
    #[serde(default)]
    placeholders: std::collections::BTreeMap<String, Vec<String>>,
    /// A value not seen for the group before (`history`).
    baseline: Option<history::BaselineYaml>,
    /// Impossible travel (`history`).
    travel: Option<history::TravelYaml>,
    /// `src_network`: a match from a watched list takes the list's
    /// severity and risk score.
    severity_from: Option<String>,
    /// Lists of networks (name: the list file's text) the inline tests
    /// run with, before the operator's own.
    #[serde(default)]
    networks: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    tests: Vec<TestSpec>,
}

impl Extension {
    /// The first field only a detection rule may give, when this one
    /// (a filter's or a correlation's) gives it.
    pub(super) fn rule_only_field(&self) -> Option<&'static str> {
        [
            ("placeholders:", !self.placeholders.is_empty()),
            ("severity_from:", self.severity_from.is_some()),
            ("networks:", !self.networks.is_empty()),
            ("baseline:", self.baseline.is_some()),
            ("travel:", self.travel.is_some()),
        ]
        .into_iter()
        .find_map(|(field, given)| given.then_some(field))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectSpec {
    field: ObjectField,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceSpec {
    vendor: String,
    url: String,
    version: String,
    status: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TechniqueSpec {
    id: String,
    name: String,
    #[serde(default)]
    tactics: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TestSpec {
    case: Case,
    name: Option<String>,
    /// A file of `events/` (or beside a custom rule): an EventBridge event or
    /// a bare record.
    event: Option<String>,
    /// The record itself.
    record: Option<serde_json::Value>,
    /// Correlations: the events fed, step by step.
    steps: Option<Vec<correlation_spec::StepSpec>>,
    /// Correlations: how many alerts the steps give.
    alerts: Option<usize>,
}

/// The 1-based line where `needle` first appears in `text`.
pub(crate) fn line_of(text: &str, needle: &str) -> Option<usize> {
    let at = text.find(needle)?;
    Some(text[..at].matches('\n').count() + 1)
}

/// The line a parser message points at (`... at line 7 column 3`).
fn line_in_message(message: &str) -> Option<usize> {
    let rest = &message[message.find("line ")? + 5..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Parses one file's text. `events` resolves the files inline tests name.
pub fn parse(origin: Origin, text: &str, events: &dyn EventFiles) -> Result<Loaded, RuleError> {
    let fail = |line: Option<usize>, reason: String| RuleError {
        origin: origin.clone(),
        line,
        reason,
    };
    let collection: SigmaCollection =
        parse_sigma_yaml(text).map_err(|e| fail(line_in_message(&e.to_string()), e.to_string()))?;
    if let Some(e) = collection.errors.first() {
        return Err(fail(line_in_message(e), e.clone()));
    }
    if collection.rules.is_empty()
        && collection.filters.is_empty()
        && collection.correlations.is_empty()
    {
        return Err(fail(
            None,
            "holds no Sigma rule, filter or correlation".into(),
        ));
    }
    let ctx = Context {
        origin: &origin,
        text,
        events,
        test_records: std::cell::Cell::new(0),
    };
    let mut loaded = Loaded::default();
    for rule in &collection.rules {
        let (rule, memory) = ctx.rule(rule)?;
        loaded.rules.push(rule);
        loaded.correlations.extend(memory);
    }
    for filter in &collection.filters {
        loaded.filters.push(ctx.filter(filter)?);
    }
    for c in &collection.correlations {
        loaded.correlations.push(ctx.correlation(c)?);
    }
    Ok(loaded)
}

pub(super) struct Context<'a> {
    origin: &'a Origin,
    text: &'a str,
    events: &'a dyn EventFiles,
    /// Records the file's inline tests made so far.
    test_records: std::cell::Cell<usize>,
}

impl Context<'_> {
    /// Counts one more inline test record of `bytes` bytes against the
    /// file's bounds.
    pub(super) fn count_test_record(&self, title: &str, bytes: usize) -> Result<(), RuleError> {
        if bytes > MAX_TEST_RECORD_BYTES {
            return Err(self.error(
                Some("tests:"),
                format!(
                    "{title:?}: an inline test record of {bytes} bytes is more than the {MAX_TEST_RECORD_BYTES} a record may have"
                ),
            ));
        }
        let n = self.test_records.get() + 1;
        if n > MAX_FILE_TEST_RECORDS {
            return Err(self.error(
                Some("tests:"),
                format!(
                    "{title:?}: the file's inline tests make more than the {MAX_FILE_TEST_RECORDS} records a file's tests may make"
                ),
            ));
        }
        self.test_records.set(n);
        Ok(())
    }

    pub(super) fn error(&self, near: Option<&str>, reason: impl Into<String>) -> RuleError {
        RuleError {
            origin: self.origin.clone(),
            line: near.and_then(|n| line_of(self.text, n)),
            reason: reason.into(),
        }
    }

    pub(super) fn extension(
        &self,
        title: &str,
        attributes: &HashMap<String, yaml_serde::Value>,
    ) -> Result<Extension, RuleError> {
        for key in attributes.keys() {
            if key != "signin_watch" {
                return Err(self.error(
                    Some(&format!("{key}:")),
                    format!(
                        "{title:?}: {key:?} is not a Sigma key (the project's own fields go under signin_watch:, see docs/rules.md)"
                    ),
                ));
            }
        }
        match attributes.get("signin_watch") {
            None => Ok(Extension::default()),
            Some(value) => yaml_serde::from_value(value.clone()).map_err(|e| {
                self.error(
                    Some("signin_watch:"),
                    format!("{title:?}: signin_watch: {e}"),
                )
            }),
        }
    }

    /// Checks the fields and modifiers a detection section uses.
    fn check_detection(
        &self,
        title: &str,
        detection: &rsigma_parser::Detections,
    ) -> Result<(), RuleError> {
        for (name, field) in sigma::fields(detection) {
            if !is_known_field(field) {
                return Err(self.error(
                    Some(field),
                    format!(
                        "{title:?}: detection {name:?} names the field {field:?}, which signin-watch does not read \
                         (it reads the fields listed in docs/rules.md, and OBJECT.KEY for {})",
                        STRING_MAPS.join(", ")
                    ),
                ));
            }
        }
        for (name, item) in sigma::items(detection) {
            if let Some(m) = sigma::unsupported_modifier(item) {
                let field = item.field.name.as_deref().unwrap_or("(keywords)");
                return Err(self.error(
                    Some(field),
                    format!(
                        "{title:?}: detection {name:?}: the modifier {m:?} on {field:?} cannot apply: every field signin-watch reads is a string"
                    ),
                ));
            }
        }
        Ok(())
    }

    fn tests(&self, title: &str, specs: Vec<TestSpec>) -> Result<Vec<InlineTest>, RuleError> {
        let mut out = Vec::new();
        for (i, spec) in specs.into_iter().enumerate() {
            let number = i + 1;
            if spec.steps.is_some() || spec.alerts.is_some() {
                return Err(self.error(
                    Some("steps:"),
                    format!(
                        "{title:?}: test {number}: steps: and alerts: are for correlation rules"
                    ),
                ));
            }
            let event = spec.event.clone();
            let (label, json) = match (spec.event, spec.record) {
                (Some(file), None) => {
                    let record = self.events.record(&file).map_err(|e| {
                        self.error(
                            Some(&file),
                            format!("{title:?}: test {number} names the event {file:?}: {e}"),
                        )
                    })?;
                    (spec.name.unwrap_or(file), record)
                }
                (None, Some(record)) => (
                    spec.name
                        .unwrap_or_else(|| format!("inline record {number}")),
                    record,
                ),
                _ => {
                    return Err(self.error(
                        Some("tests:"),
                        format!("{title:?}: test {number} needs exactly one of event: and record:"),
                    ));
                }
            };
            let record = json.to_string();
            self.count_test_record(title, record.len())?;
            out.push(InlineTest {
                case: spec.case,
                label,
                record,
                event,
            });
        }
        Ok(out)
    }

    /// A rule's metadata from Sigma's fields and the project's own.
    pub(super) fn meta(&self, c: &Common<'_>, ext: &mut Extension) -> Result<RuleMeta, RuleError> {
        let title = c.title;
        let (id, name) = match (c.id, c.name) {
            (Some(id), Some(name)) => (id.clone(), name.clone()),
            (Some(id), None) => (id.clone(), id.clone()),
            (None, Some(name)) => (name.clone(), name.clone()),
            (None, None) => {
                return Err(self.error(None, format!("{title:?}: a rule needs an id or a name")));
            }
        };
        let severity = match c.level {
            Some(Level::Informational) => Severity::Informational,
            Some(Level::Low) => Severity::Low,
            Some(Level::Medium) | None => Severity::Medium,
            Some(Level::High) => Severity::High,
            Some(Level::Critical) => Severity::Critical,
        };
        let risk_score = ext
            .risk_score
            .unwrap_or_else(|| severity.default_risk_score());
        if risk_score > 100 {
            return Err(self.error(
                Some("risk_score:"),
                format!("{title:?}: risk_score {risk_score} is above 100"),
            ));
        }
        let object = |spec: Option<ObjectSpec>, field, kind: &str| match spec {
            Some(s) => ScoredField {
                field: s.field,
                kind: s.kind,
            },
            None => ScoredField {
                field,
                kind: kind.to_owned(),
            },
        };
        let status = c.status.map(status_name).unwrap_or("unstated").to_owned();
        let source = match ext.source.take() {
            Some(s) => RuleSource {
                vendor: s.vendor,
                url: s.url,
                version: s.version,
                status: s.status,
            },
            None => RuleSource {
                vendor: c.author.clone().unwrap_or_else(|| "unstated".into()),
                url: c.references.first().cloned().unwrap_or_default(),
                version: c
                    .modified
                    .clone()
                    .or_else(|| c.date.clone())
                    .unwrap_or_else(|| "unstated".into()),
                status,
            },
        };
        let mitre = match ext.mitre.take() {
            Some(list) => list
                .into_iter()
                .map(|t| Technique {
                    id: t.id,
                    name: t.name,
                    tactics: t.tactics,
                })
                .collect(),
            None => attack::from_tags(c.tags),
        };
        let severity_from_list = match ext.severity_from.take().as_deref() {
            None => false,
            Some("src_network") => true,
            Some(other) => {
                return Err(self.error(
                    Some("severity_from:"),
                    format!("{title:?}: severity_from: {other:?}; the one source of a severity is src_network (a watched list's)"),
                ));
            }
        };
        Ok(RuleMeta {
            severity_from_list,
            title_template: ext
                .title
                .take()
                .unwrap_or_else(|| format!("{title}: $user$ from $src$")),
            id,
            name,
            title: title.to_owned(),
            origin: self.origin.clone(),
            source,
            description: c.description.clone().unwrap_or_default().trim().to_owned(),
            severity,
            risk_score,
            risk_object: object(ext.risk_object.take(), ObjectField::User, "user"),
            threat_object: object(ext.threat_object.take(), ObjectField::Src, "ip_address"),
            mitre,
            references: c.references.to_vec(),
            known_false_positives: c.falsepositives.to_vec(),
            investigation_steps: std::mem::take(&mut ext.investigation),
            tuning: ext.tuning.take().unwrap_or_else(|| {
                "Copy a filter from rules/filters/ and name this rule in it; filter on the session issuer or \
                 your networks, never on a user agent alone."
                    .to_owned()
            }),
        })
    }

    /// A detection rule, and the correlation its `baseline:` or `travel:`
    /// block makes of it.
    fn rule(&self, rule: &SigmaRule) -> Result<(Rule, Option<CorrelationSpec>), RuleError> {
        let title = rule.title.as_str();
        let logsource = &rule.logsource;
        let is_cloudtrail = logsource
            .product
            .as_deref()
            .is_some_and(|p| p.eq_ignore_ascii_case("aws"))
            && logsource
                .service
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("cloudtrail"));
        if !is_cloudtrail {
            return Err(self.error(
                Some("logsource:"),
                format!("{title:?}: the logsource must be product: aws, service: cloudtrail"),
            ));
        }
        self.check_detection(title, &rule.detection)?;
        if !sigma::requires_a_prefilter_needle(&rule.detection) {
            return Err(self.error(
                Some("condition:"),
                format!(
                    "{title:?}: the condition can hold for a record without eventSource signin.amazonaws.com \
                     and without additionalEventData.MFAUsed; signin-watch evaluates only sign-in records, \
                     so require eventSource: signin.amazonaws.com in every selection that can match"
                ),
            ));
        }
        let placeholders = sigma::placeholders(&rule.detection)
            .map_err(|e| self.error(Some("|expand"), format!("{title:?}: {e}")))?;
        let mut ext = self.extension(title, &rule.custom_attributes)?;
        if let Some(missing) = placeholders
            .iter()
            .find(|p| !ext.placeholders.contains_key(*p))
        {
            return Err(self.error(
                Some("placeholders:"),
                format!(
                    "{title:?}: the detection names the placeholder %{missing}%: give the values its inline tests run with (signin_watch: placeholders: {{{missing}: [...]}})"
                ),
            ));
        }
        // As loaded, the rule runs with its tests' values; the detector fills
        // the placeholders from its settings, or leaves the rule inactive.
        let detection = sigma::expand(&rule.detection, &ext.placeholders);
        let matcher = Matcher::compile(&detection)
            .map_err(|e| self.error(Some("detection:"), format!("{title:?}: {e}")))?;
        let meta = self.meta(
            &Common {
                title,
                id: &rule.id,
                name: &rule.name,
                level: rule.level,
                status: rule.status,
                author: &rule.author,
                references: &rule.references,
                date: &rule.date,
                modified: &rule.modified,
                description: &rule.description,
                falsepositives: &rule.falsepositives,
                tags: &rule.tags,
            },
            &mut ext,
        )?;
        let memory = self.history(title, &meta, &mut ext)?;
        if ext.story.is_some() {
            return Err(self.error(
                Some("story:"),
                format!("{title:?}: story: is for correlation rules"),
            ));
        }
        let tests = self.tests(title, std::mem::take(&mut ext.tests))?;
        let test_lists = std::mem::take(&mut ext.networks)
            .into_iter()
            .map(|(name, text)| {
                NetworkList::parse(&name, &text).map_err(|e| {
                    self.error(
                        Some("networks:"),
                        format!("{title:?}: the test list {name:?}: {e}"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let rule = Rule {
            test_lists,
            meta: Arc::new(meta),
            // A rule with a memory alerts through its correlation only.
            kind: if ext.building_block || memory.is_some() {
                RuleKind::BuildingBlock
            } else {
                RuleKind::Detection
            },
            tests,
            matcher,
            detection: Arc::new(rule.detection.clone()),
            placeholders,
            filled: None,
        };
        if memory.is_some() && !rule.placeholders.is_empty() {
            return Err(self.error(
                Some("baseline:"),
                format!("{title:?}: a rule with a baseline or travel block has no placeholders"),
            ));
        }
        Ok((rule, memory))
    }

    fn filter(&self, filter: &FilterRule) -> Result<Filter, RuleError> {
        let title = filter.title.as_str();
        self.check_detection(title, &filter.detection)?;
        let placeholders = sigma::placeholders(&filter.detection)
            .map_err(|e| self.error(Some("|expand"), format!("{title:?}: {e}")))?;
        if !placeholders.is_empty() {
            return Err(self.error(
                Some("|expand"),
                format!("{title:?}: placeholders are for detection rules, not filters"),
            ));
        }
        super::filter_trust::check_filter_trust(&filter.detection)
            .map_err(|reason| self.error(Some("filter:"), format!("{title:?}: {reason}")))?;
        let matcher = Matcher::compile(&filter.detection)
            .map_err(|e| self.error(Some("filter:"), format!("{title:?}: {e}")))?;
        let ext = self.extension(title, &filter.custom_attributes)?;
        if let Some(field) = ext.rule_only_field() {
            return Err(self.error(
                Some(field),
                format!("{title:?}: {field} is for detection rules, not filters"),
            ));
        }
        let tests = self.tests(title, ext.tests)?;
        for t in &tests {
            if !matches!(t.case, Case::Allowlisted | Case::Kept) {
                return Err(self.error(
                    Some("tests:"),
                    format!("{title:?}: a filter's tests are case: allowlisted or case: kept"),
                ));
            }
        }
        Ok(Filter {
            name: filter
                .name
                .clone()
                .or_else(|| filter.id.clone())
                .unwrap_or_else(|| title.to_owned()),
            title: title.to_owned(),
            origin: self.origin.clone(),
            targets: match &filter.rules {
                FilterRuleTarget::Any => FilterTargets::All,
                FilterRuleTarget::Specific(keys) => FilterTargets::Rules(keys.clone()),
            },
            tests,
            matcher,
        })
    }
}

fn status_name(s: Status) -> &'static str {
    match s {
        Status::Stable => "stable",
        Status::Test => "test",
        Status::Experimental => "experimental",
        Status::Deprecated => "deprecated",
        Status::Unsupported => "unsupported",
    }
}
