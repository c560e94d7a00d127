//! Sigma correlation rules (specification v2.0.2) to [`CorrelationSpec`]s:
//! what is supported is read, anything else refused with the construct named.
//! Linking to the rules a correlation names happens once every file is
//! loaded (`crate::config::catalog`).

use std::collections::BTreeMap;

use rsigma_parser::{
    ConditionOperator, CorrelationCondition, CorrelationRule, CorrelationType, Timespan, WindowMode,
};
use serde::Deserialize;

use super::{Common, Context, TestSpec};
use crate::domain::rules::RuleMeta;
use crate::domain::rules::correlation::{CorrelationKind, MAX_WINDOW_EVENTS, Threshold, Travel};
use crate::domain::rules::inline::{Case, SequenceTest};
use crate::domain::rules::load::RuleError;
use crate::domain::time::Timestamp;

/// A correlation rule as its file says, before linking.
#[derive(Debug, Clone)]
pub struct CorrelationSpec {
    pub meta: RuleMeta,
    pub kind: CorrelationKind,
    /// The rules and correlations it names, by name or id.
    pub rules: Vec<String>,
    pub group_by: Vec<String>,
    /// `aliases`: per alias, the field each named rule reads.
    pub aliases: Vec<(String, Vec<(String, String)>)>,
    /// `value_count`: the field whose distinct values are counted.
    pub value_field: Option<String>,
    pub timespan_ms: i64,
    pub threshold: Threshold,
    pub generate: bool,
    pub building_block: bool,
    pub story: Option<String>,
    pub tests: Vec<SequenceTest>,
    /// A `baseline` rule's value fields and periods.
    pub baseline: Option<BaselineSpec>,
    pub travel: Option<Travel>,
    /// Made from a detection rule's own `baseline:` or `travel:` block: it
    /// shares the rule's name and id, and counts the rule's matches.
    pub own_rule: bool,
}

/// A baseline as its rule says, before linking.
#[derive(Debug, Clone)]
pub struct BaselineSpec {
    pub values: Vec<String>,
    pub learning_ms: i64,
    pub forget_ms: i64,
}

/// One step of a correlation's inline test: `count` copies of a record,
/// `every` apart, starting `at` after the test's start (or after the step
/// before), with fields `set` and one field `vary`ing per copy.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::domain::rules) struct StepSpec {
    event: Option<String>,
    record: Option<serde_json::Value>,
    #[serde(default = "one")]
    count: usize,
    every: Option<String>,
    at: Option<String>,
    #[serde(default)]
    set: BTreeMap<String, serde_json::Value>,
    vary: Option<String>,
}

fn one() -> usize {
    1
}

/// Where inline tests start, in event time.
const TEST_START: &str = "2026-11-20T09:00:00Z";

/// The most records one step of an inline test makes: far above any
/// threshold a correlation may have (200), and small enough that every
/// cold start runs the tests in milliseconds.
pub const MAX_STEP_RECORDS: usize = 10_000;
/// The most records one inline test makes, all steps together.
pub const MAX_TEST_RECORDS: usize = 10_000;
/// The longest `at` and `every`, and the longest an inline test may span.
pub const MAX_TEST_SPAN_DAYS: i64 = 366;
const MAX_TEST_SPAN_MS: i64 = MAX_TEST_SPAN_DAYS * 86_400_000;

/// `span` as milliseconds, at most [`MAX_TEST_SPAN_DAYS`].
fn test_span(key: &str, span: &str) -> Result<i64, String> {
    let ms = millis(span)?;
    if ms > MAX_TEST_SPAN_MS {
        return Err(format!(
            "{key}: {span} is longer than the {MAX_TEST_SPAN_DAYS} days an inline test may span"
        ));
    }
    Ok(ms)
}

pub(super) fn millis(span: &str) -> Result<i64, String> {
    let t = Timespan::parse(span).map_err(|e| format!("{span:?} is not a timespan: {e}"))?;
    i64::try_from(t.seconds)
        .ok()
        .and_then(|s| s.checked_mul(1000))
        .ok_or_else(|| format!("{span:?} is too long"))
}

/// Sets `value` at the dotted `path` of a JSON object, making objects on the way.
fn set_path(record: &mut serde_json::Value, path: &str, value: serde_json::Value) {
    let mut at = record;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        if !at.is_object() {
            *at = serde_json::Value::Object(Default::default());
        }
        let Some(map) = at.as_object_mut() else {
            return;
        };
        if i + 1 == parts.len() {
            map.insert((*part).to_owned(), value);
            return;
        }
        at = map
            .entry((*part).to_owned())
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
    }
}

fn get_path<'v>(record: &'v serde_json::Value, path: &str) -> Option<&'v serde_json::Value> {
    path.split('.').try_fold(record, |v, p| v.get(p))
}

impl Context<'_> {
    pub(super) fn correlation(&self, c: &CorrelationRule) -> Result<CorrelationSpec, RuleError> {
        let title = c.title.as_str();
        let refuse = |construct: &str| {
            self.error(
                Some("correlation:"),
                format!("{title:?}: {construct} is not supported"),
            )
        };
        let kind = match c.correlation_type {
            CorrelationType::EventCount => CorrelationKind::EventCount,
            CorrelationType::ValueCount => CorrelationKind::ValueCount,
            CorrelationType::Temporal => CorrelationKind::Temporal,
            CorrelationType::TemporalOrdered => CorrelationKind::TemporalOrdered,
            other => return Err(refuse(&format!("type: {}", other.as_str()))),
        };
        if c.window != WindowMode::Sliding || c.gap.is_some() {
            return Err(refuse(&format!(
                "window: {} (windows are the project's own: hopping, half a timespan apart)",
                c.window.as_str()
            )));
        }
        if c.rules.is_empty() {
            return Err(self.error(
                Some("rules:"),
                format!("{title:?}: a correlation names the rules it counts"),
            ));
        }
        let timespan_ms = i64::try_from(c.timespan.seconds)
            .ok()
            .and_then(|s| s.checked_mul(1000))
            .filter(|&ms| ms >= 2_000)
            .ok_or_else(|| {
                self.error(
                    Some("timespan:"),
                    format!("{title:?}: the timespan must be at least 2 seconds"),
                )
            })?;
        let (threshold, value_field) = match &c.condition {
            CorrelationCondition::Extended(_) => {
                return Err(refuse("a boolean condition over the rules"));
            }
            CorrelationCondition::Threshold {
                predicates,
                field,
                percentile,
            } => {
                if percentile.is_some() {
                    return Err(refuse("percentile"));
                }
                let [(op, value)] = predicates.as_slice() else {
                    return Err(self.error(
                        Some("condition:"),
                        format!(
                            "{title:?}: a range needs a window to close, which a stream without a clock never sees; \
                             give one lower bound (gt or gte)"
                        ),
                    ));
                };
                let strict = match op {
                    ConditionOperator::Gt => true,
                    ConditionOperator::Gte => false,
                    other => {
                        return Err(self.error(
                            Some("condition:"),
                            format!(
                                "{title:?}: {other:?} is an upper bound or an equality, which needs a window to close, \
                                 and a stream without a clock never sees one; use gt or gte"
                            ),
                        ));
                    }
                };
                let threshold = Threshold {
                    strict,
                    value: *value,
                };
                if kind.counts()
                    && (threshold.needs() == 0 || threshold.needs() > MAX_WINDOW_EVENTS as u64)
                {
                    return Err(self.error(
                        Some("condition:"),
                        format!(
                            "{title:?}: a count must need between 1 and {MAX_WINDOW_EVENTS} events"
                        ),
                    ));
                }
                if !kind.counts()
                    && threshold
                        != (Threshold {
                            strict: false,
                            value: 1,
                        })
                {
                    return Err(refuse("a threshold on a temporal correlation"));
                }
                let value_field = match (kind, field.as_deref()) {
                    (CorrelationKind::ValueCount, Some([f])) => Some(f.clone()),
                    (CorrelationKind::ValueCount, _) => {
                        return Err(self.error(
                            Some("condition:"),
                            format!("{title:?}: value_count needs one condition field"),
                        ));
                    }
                    (_, None) => None,
                    (_, Some(_)) => return Err(refuse("a condition field outside value_count")),
                };
                (threshold, value_field)
            }
        };
        let mut ext = self.extension(title, &c.custom_attributes)?;
        if let Some(field) = ext.rule_only_field() {
            return Err(self.error(
                Some(field),
                format!("{title:?}: {field} is for detection rules, not correlations"),
            ));
        }
        let meta = self.meta(
            &Common {
                title,
                id: &c.id,
                name: &c.name,
                level: c.level,
                status: c.status,
                author: &c.author,
                references: &c.references,
                date: &c.date,
                modified: &c.modified,
                description: &c.description,
                falsepositives: &c.falsepositives,
                tags: &c.tags,
            },
            &mut ext,
        )?;
        let tests = self.sequence_tests(title, std::mem::take(&mut ext.tests))?;
        Ok(CorrelationSpec {
            meta,
            kind,
            rules: c.rules.clone(),
            group_by: c.group_by.clone(),
            aliases: c
                .aliases
                .iter()
                .map(|a| {
                    let mut mapping: Vec<(String, String)> = a
                        .mapping
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    mapping.sort();
                    (a.alias.clone(), mapping)
                })
                .collect(),
            value_field,
            timespan_ms,
            threshold,
            generate: c.generate,
            building_block: ext.building_block,
            story: ext.story,
            tests,
            baseline: None,
            travel: None,
            own_rule: false,
        })
    }

    pub(super) fn sequence_tests(
        &self,
        title: &str,
        specs: Vec<TestSpec>,
    ) -> Result<Vec<SequenceTest>, RuleError> {
        let mut out = Vec::new();
        let start = Timestamp::parse(TEST_START).map_or(0, Timestamp::as_millis);
        for (n, spec) in specs.into_iter().enumerate() {
            let number = n + 1;
            let fail = |reason: String| {
                self.error(
                    Some("tests:"),
                    format!("{title:?}: test {number}: {reason}"),
                )
            };
            if spec.event.is_some() || spec.record.is_some() {
                return Err(fail(
                    "a correlation's test gives steps:, each with an event: or a record:".into(),
                ));
            }
            let (Some(steps), Some(alerts)) = (spec.steps, spec.alerts) else {
                return Err(fail("a correlation's test needs steps: and alerts:".into()));
            };
            if !matches!(spec.case, Case::Positive | Case::NearMiss | Case::Unrelated) {
                return Err(fail("case: is positive, near-miss or unrelated".into()));
            }
            let label = spec.name.unwrap_or_else(|| format!("test {number}"));
            let slug: String = label
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_lowercase()
                    } else {
                        '-'
                    }
                })
                .collect();
            let mut records = Vec::new();
            let mut next = start;
            for (s, step) in steps.into_iter().enumerate() {
                let base = match (step.event, step.record) {
                    (Some(file), None) => self
                        .events
                        .record(&file)
                        .map_err(|e| fail(format!("step {}: {e}", s + 1)))?,
                    (None, Some(record)) => record,
                    _ => {
                        return Err(fail(format!(
                            "step {} needs exactly one of event: and record:",
                            s + 1
                        )));
                    }
                };
                if step.count > MAX_STEP_RECORDS {
                    return Err(fail(format!(
                        "step {}: count: {} is more than the {MAX_STEP_RECORDS} records an inline test step may make",
                        s + 1,
                        step.count
                    )));
                }
                if records.len() + step.count > MAX_TEST_RECORDS {
                    return Err(fail(format!(
                        "step {}: the test makes more than the {MAX_TEST_RECORDS} records an inline test may make",
                        s + 1
                    )));
                }
                let every =
                    test_span("every", step.every.as_deref().unwrap_or("1m")).map_err(&fail)?;
                let first = match step.at.as_deref() {
                    Some(at) => start + test_span("at", at).map_err(&fail)?,
                    None => next,
                };
                // Every time the step makes lies between `first` and this end:
                // checked, so that no sum below can overflow.
                let end = (step.count as i64)
                    .checked_mul(every)
                    .and_then(|d| d.checked_add(first));
                if end.is_none_or(|t| t - start > MAX_TEST_SPAN_MS) {
                    return Err(fail(format!(
                        "step {}: the test is longer than the {MAX_TEST_SPAN_DAYS} days an inline test may span",
                        s + 1
                    )));
                }
                let mut record = base;
                for (path, value) in step.set {
                    set_path(&mut record, &path, value);
                }
                for i in 0..step.count {
                    let mut r = record.clone();
                    let t = Timestamp::from_millis(first + i as i64 * every);
                    set_path(&mut r, "eventTime", t.to_string().into());
                    set_path(&mut r, "eventID", format!("{slug}-{}-{i}", s + 1).into());
                    if let Some(path) = &step.vary {
                        let was = get_path(&r, path)
                            .and_then(|v| v.as_str())
                            .unwrap_or("v")
                            .to_owned();
                        set_path(&mut r, path, format!("{was}-{i}").into());
                    }
                    let r = r.to_string();
                    self.count_test_record(title, r.len())?;
                    records.push(r);
                    next = t.as_millis() + every;
                }
            }
            out.push(SequenceTest {
                case: spec.case,
                label,
                records,
                alerts,
            });
        }
        Ok(out)
    }
}
