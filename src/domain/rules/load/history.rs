//! Rules with a memory: a detection rule whose `signin_watch:` gives a
//! `baseline:` (a value not seen for the group before) or a `travel:`
//! (impossible travel) block. The rule's detection selects the events;
//! loading makes it a building block and adds a correlation of the same
//! name and id that counts its matches (`docs/baselines.md`).

use serde::Deserialize;

use super::correlation_spec::{BaselineSpec, CorrelationSpec, millis};
use super::{Context, Extension, RuleError};
use crate::domain::rules::RuleMeta;
use crate::domain::rules::correlation::{
    CorrelationKind, DEFAULT_FORGET_MS, DEFAULT_LEARNING_MS, LATENESS_HORIZON_MS, Threshold, Travel,
};

/// `signin_watch: baseline:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BaselineYaml {
    /// The group (the principal): account and principal by default.
    by: Option<Vec<String>>,
    /// The fields whose values, together, are the value.
    values: Vec<String>,
    learning: Option<Span>,
    forget_after: Option<Span>,
}

/// A timespan as written: `7d`, `12h`, or the number 0.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Span {
    Number(u64),
    Text(String),
}

/// `signin_watch: travel:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TravelYaml {
    by: Option<Vec<String>>,
    min_km: Option<f64>,
    max_kmh: Option<f64>,
}

/// Datadog's impossible travel: farther than 500 km, faster than 1,000 km/h.
const DEFAULT_MIN_KM: f64 = 500.0;
const DEFAULT_MAX_KMH: f64 = 1_000.0;

fn default_group() -> Vec<String> {
    vec!["account".into(), "principal".into()]
}

impl Context<'_> {
    /// The correlation a rule's `baseline:` or `travel:` block makes, with
    /// the rule's inline tests as its own (steps and alerts); `None` for a
    /// rule without either.
    pub(super) fn history(
        &self,
        title: &str,
        meta: &RuleMeta,
        ext: &mut Extension,
    ) -> Result<Option<CorrelationSpec>, RuleError> {
        let (baseline, travel) = (ext.baseline.take(), ext.travel.take());
        let fail =
            |key: &str, reason: String| self.error(Some(key), format!("{title:?}: {reason}"));
        let (kind, group_by, baseline, travel) = match (baseline, travel) {
            (None, None) => return Ok(None),
            (Some(_), Some(_)) => {
                return Err(fail(
                    "travel:",
                    "a rule is a baseline or impossible travel, not both".into(),
                ));
            }
            (Some(b), None) => {
                if b.values.is_empty() {
                    return Err(fail(
                        "values:",
                        "a baseline names the fields of its value (values: [src_country])".into(),
                    ));
                }
                let span = |key: &str, text: Option<Span>, default: i64| match text {
                    None => Ok(default),
                    Some(Span::Number(0)) => Ok(0),
                    Some(Span::Text(t)) if t.trim() == "0" => Ok(0),
                    Some(Span::Number(n)) => Err(fail(
                        key,
                        format!("{key} {n} needs a unit (s, m, h, d): {n}d"),
                    )),
                    Some(Span::Text(t)) => millis(&t).map_err(|e| fail(key, format!("{key} {e}"))),
                };
                let learning_ms = span("learning:", b.learning, DEFAULT_LEARNING_MS)?;
                let forget_ms = span("forget_after:", b.forget_after, DEFAULT_FORGET_MS)?;
                // Decisions are exact when every event they depend on has
                // arrived: those older than the lateness horizon.
                if learning_ms != 0 && learning_ms < LATENESS_HORIZON_MS {
                    return Err(fail(
                        "learning:",
                        "learning is 0 (alert from the first event) or at least 1d (the lateness horizon)".into(),
                    ));
                }
                if forget_ms < 2 * LATENESS_HORIZON_MS {
                    return Err(fail("forget_after:", "forget_after is at least 2d".into()));
                }
                (
                    CorrelationKind::Baseline,
                    b.by.unwrap_or_else(default_group),
                    Some(BaselineSpec {
                        values: b.values,
                        learning_ms,
                        forget_ms,
                    }),
                    None,
                )
            }
            (None, Some(t)) => {
                let travel = Travel {
                    min_km: t.min_km.unwrap_or(DEFAULT_MIN_KM),
                    max_kmh: t.max_kmh.unwrap_or(DEFAULT_MAX_KMH),
                };
                if !(travel.min_km >= 0.0 && travel.max_kmh >= 1.0) {
                    return Err(fail(
                        "travel:",
                        "min_km is 0 or more and max_kmh at least 1".into(),
                    ));
                }
                (
                    CorrelationKind::ImpossibleTravel,
                    t.by.unwrap_or_else(default_group),
                    None,
                    Some(travel),
                )
            }
        };
        if group_by.is_empty() {
            return Err(fail("by:", "by: names at least one field".into()));
        }
        let tests = self.sequence_tests(title, std::mem::take(&mut ext.tests))?;
        Ok(Some(CorrelationSpec {
            meta: meta.clone(),
            kind,
            rules: vec![meta.id.clone()],
            group_by,
            aliases: Vec::new(),
            value_field: None,
            timespan_ms: travel.map_or(LATENESS_HORIZON_MS, |t| t.window_ms()),
            threshold: Threshold {
                strict: false,
                value: 1,
            },
            generate: false,
            building_block: false,
            story: ext.story.take(),
            tests,
            baseline,
            travel,
            own_rule: true,
        }))
    }
}
