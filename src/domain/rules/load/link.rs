//! Linking correlation rules to the rules they name, once every file is
//! loaded, and the checks that need the named rules: each exists, group and
//! value fields resolve through `aliases` to fields the record has, and
//! chaining goes one level deep (a `temporal` or `temporal_ordered` over an
//! `event_count` of rules).

use std::sync::Arc;

use super::{CorrelationSpec, RuleError};
use crate::domain::record::is_known_field;
use crate::domain::rules::Rule;
use crate::domain::rules::correlation::{
    Baseline, Correlation, CorrelationKind, DERIVED_FIELDS, GroupField, Slot,
};

fn error(spec: &CorrelationSpec, reason: String) -> RuleError {
    RuleError {
        origin: spec.meta.origin.clone(),
        line: None,
        reason: format!("{:?}: {reason}", spec.meta.title),
    }
}

/// The field `name` reads for the rule `rule`: its alias mapping, else the name.
fn path_for(spec: &CorrelationSpec, name: &str, rule_keys: &[&str]) -> String {
    spec.aliases
        .iter()
        .find(|(alias, _)| alias == name)
        .and_then(|(_, mapping)| {
            mapping
                .iter()
                .find(|(key, _)| rule_keys.iter().any(|k| k.eq_ignore_ascii_case(key)))
        })
        .map_or_else(|| name.to_owned(), |(_, field)| field.clone())
}

fn check_path(spec: &CorrelationSpec, name: &str, path: &str) -> Result<(), RuleError> {
    if is_known_field(path) || DERIVED_FIELDS.contains(&path) {
        return Ok(());
    }
    Err(error(
        spec,
        format!(
            "the field {name:?} reads {path:?}, which signin-watch does not read \
             (a record field of docs/rules.md, or {})",
            DERIVED_FIELDS.join(", ")
        ),
    ))
}

fn field(spec: &CorrelationSpec, name: &str, slots: &[Slot]) -> Result<GroupField, RuleError> {
    let mut paths = Vec::new();
    for slot in slots {
        let path = match slot {
            Slot::Rule(r) => path_for(spec, name, &[&r.name, &r.id]),
            // A chained count reads the field as it reads it itself.
            Slot::Count(inner) => inner
                .group_by
                .iter()
                .chain(&inner.value)
                .find(|g| g.name == name)
                .and_then(|g| g.paths.first().cloned())
                .unwrap_or_else(|| name.to_owned()),
        };
        check_path(spec, name, &path)?;
        paths.push(path);
    }
    Ok(GroupField {
        name: name.to_owned(),
        paths,
    })
}

/// Links `specs` to `rules`; correlations that other correlations count
/// come first.
pub fn link(
    specs: Vec<CorrelationSpec>,
    rules: &[Arc<Rule>],
) -> Result<Vec<Arc<Correlation>>, RuleError> {
    let names = |spec: &CorrelationSpec| -> Vec<String> {
        vec![spec.meta.name.clone(), spec.meta.id.clone()]
    };
    let named_by =
        |spec: &CorrelationSpec, key: &str| names(spec).iter().any(|n| n.eq_ignore_ascii_case(key));
    // Those that name only rules, then those that name correlations.
    let (mut inner_specs, mut outer_specs): (Vec<CorrelationSpec>, Vec<CorrelationSpec>) = specs
        .into_iter()
        .partition(|s| s.rules.iter().all(|k| rules.iter().any(|r| r.is_named(k))));
    let mut linked: Vec<Arc<Correlation>> = Vec::new();
    for spec in inner_specs.drain(..) {
        linked.push(Arc::new(build(spec, rules, &[])?));
    }
    for spec in outer_specs.drain(..) {
        for key in &spec.rules {
            let known =
                rules.iter().any(|r| r.is_named(key)) || linked.iter().any(|c| c.is_named(key));
            if !known {
                let hint = if named_by(&spec, key) {
                    " (itself)"
                } else {
                    ""
                };
                return Err(error(
                    &spec,
                    format!("names the rule {key:?}{hint}, which is not loaded"),
                ));
            }
        }
        linked.push(Arc::new(build(spec, rules, &linked)?));
    }
    Ok(linked)
}

fn build(
    spec: CorrelationSpec,
    rules: &[Arc<Rule>],
    counts: &[Arc<Correlation>],
) -> Result<Correlation, RuleError> {
    let mut slots = Vec::new();
    for key in &spec.rules {
        if let Some(rule) = rules.iter().find(|r| r.is_named(key)) {
            if !rule.placeholders.is_empty() {
                // Its settings decide whether it runs at all.
                return Err(error(
                    &spec,
                    format!(
                        "counts {key:?}, a rule with placeholders: correlations count rules without"
                    ),
                ));
            }
            slots.push(Slot::Rule(rule.clone()));
            continue;
        }
        let Some(inner) = counts.iter().find(|c| c.is_named(key)) else {
            return Err(error(
                &spec,
                format!("names the rule {key:?}, which is not loaded"),
            ));
        };
        if spec.kind.counts() {
            return Err(error(
                &spec,
                format!("a count cannot count the correlation {key:?}"),
            ));
        }
        if inner.kind != CorrelationKind::EventCount
            || inner.slots.iter().any(|s| matches!(s, Slot::Count(_)))
        {
            return Err(error(
                &spec,
                format!(
                    "{key:?}: a temporal correlation may name an event_count of rules, one level deep"
                ),
            ));
        }
        let inner_group: Vec<&str> = inner.group_by.iter().map(|g| g.name.as_str()).collect();
        if inner_group != spec.group_by.iter().map(String::as_str).collect::<Vec<_>>() {
            return Err(error(
                &spec,
                format!(
                    "{key:?} groups by {inner_group:?}; a chained count must group by the same fields"
                ),
            ));
        }
        slots.push(Slot::Count(inner.clone()));
    }
    if spec.kind == CorrelationKind::TemporalOrdered && matches!(slots.last(), Some(Slot::Count(_)))
    {
        return Err(error(
            &spec,
            "the last step of a temporal_ordered correlation must be a rule".into(),
        ));
    }
    let group_by = spec
        .group_by
        .iter()
        .map(|name| field(&spec, name, &slots))
        .collect::<Result<Vec<_>, _>>()?;
    let value = spec
        .value_field
        .as_deref()
        .map(|name| field(&spec, name, &slots))
        .transpose()?;
    Ok(Correlation {
        baseline: spec
            .baseline
            .as_ref()
            .map(|b| {
                Ok::<_, RuleError>(Baseline {
                    values: b
                        .values
                        .iter()
                        .map(|name| field(&spec, name, &slots))
                        .collect::<Result<Vec<_>, _>>()?,
                    learning_ms: b.learning_ms,
                    forget_ms: b.forget_ms,
                })
            })
            .transpose()?,
        travel: spec.travel,
        story: spec.story,
        tests: spec.tests,
        meta: Arc::new(spec.meta),
        kind: spec.kind,
        slots,
        group_by,
        value,
        timespan_ms: spec.timespan_ms,
        threshold: spec.threshold,
        generate: spec.generate,
        building_block: spec.building_block,
    })
}
