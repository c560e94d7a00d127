//! The Sigma side of a rule: the record as the engine sees it, a compiled
//! detection, and what a detection requires of a record.

use std::borrow::Cow;
use std::collections::HashMap;

use rsigma_eval::compiler::{CompiledDetection, compile_detection, eval_condition};
use rsigma_eval::event::{Event, EventValue};
use rsigma_parser::{
    ConditionExpr, Detection, DetectionItem, Detections, Modifier, Quantifier, SigmaString,
    SigmaValue,
};

use crate::domain::record::{CloudTrailRecord, SIGNIN_EVENT_SOURCE};

/// A record as a Sigma rule sees it: the lenient record's fields
/// ([`CloudTrailRecord::field`]), borrowed, every value a string.
pub struct RecordView<'r, 'a>(pub &'r CloudTrailRecord<'a>);

impl Event for RecordView<'_, '_> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        self.0
            .field(path)
            .map(|v| EventValue::Str(Cow::Borrowed(v)))
    }

    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        let mut hit = false;
        self.0.for_each_value(|v| hit |= !hit && pred(v));
        hit
    }

    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        let mut out = Vec::new();
        self.0
            .for_each_value(|v| out.push(Cow::Owned(v.to_owned())));
        out
    }

    fn to_json(&self) -> serde_json::Value {
        // Only the engine's own correlation store asks for this; this
        // project keeps correlation state itself.
        serde_json::Value::Null
    }
}

/// A compiled detection section: named detections and the conditions over
/// them (several conditions: any one may hold).
pub(crate) struct Matcher {
    detections: HashMap<String, CompiledDetection>,
    conditions: Vec<ConditionExpr>,
    /// The event names every match has, when the detection pins them.
    event_names: Option<std::collections::BTreeSet<String>>,
    /// A detection names a `src_*` field: the record needs `src_geo`.
    uses_geo: bool,
}

impl std::fmt::Debug for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Matcher")
            .field("detections", &self.detections.keys().collect::<Vec<_>>())
            .field("conditions", &self.conditions)
            .finish()
    }
}

impl Matcher {
    /// Compiles a detection section; the error names the detection.
    pub(crate) fn compile(detection: &Detections) -> Result<Matcher, String> {
        let mut detections = HashMap::new();
        for (name, d) in &detection.named {
            let compiled = compile_detection(d).map_err(|e| format!("detection {name:?}: {e}"))?;
            detections.insert(name.clone(), compiled);
        }
        if detection.conditions.is_empty() {
            return Err("the detection has no condition".into());
        }
        Ok(Matcher {
            detections,
            conditions: detection.conditions.clone(),
            event_names: super::event_names::event_names(detection),
            uses_geo: fields(detection)
                .iter()
                .any(|(_, f)| crate::domain::geo::FIELDS.contains(f)),
        })
    }

    pub(crate) fn event_names(&self) -> Option<&std::collections::BTreeSet<String>> {
        self.event_names.as_ref()
    }

    /// Whether a detection names a `src_*` field.
    pub(crate) fn uses_geo(&self) -> bool {
        self.uses_geo
    }

    pub(crate) fn matches(&self, record: &CloudTrailRecord<'_>) -> bool {
        let view = RecordView(record);
        let mut matched = Vec::new();
        self.conditions.iter().any(|c| {
            matched.clear();
            eval_condition(c, &self.detections, &view, &mut matched)
        })
    }
}

/// Every field a detection section names, with the name of the detection
/// that names it.
pub(crate) fn fields(detection: &Detections) -> Vec<(&str, &str)> {
    fn walk<'a>(d: &'a Detection, name: &'a str, out: &mut Vec<(&'a str, &'a str)>) {
        match d {
            Detection::AllOf(items) => {
                for item in items {
                    if let Some(field) = item.field.name.as_deref() {
                        out.push((name, field));
                    }
                }
            }
            Detection::AnyOf(ds) | Detection::And(ds) => {
                for d in ds {
                    walk(d, name, out);
                }
            }
            Detection::Keywords(_) => {}
            Detection::ArrayMatch { field, .. } => out.push((name, field)),
            Detection::Conditional { named, .. } => {
                for d in named.values() {
                    walk(d, name, out);
                }
            }
        }
    }
    let mut names: Vec<&String> = detection.named.keys().collect();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        walk(&detection.named[name], name, &mut out);
    }
    out
}

/// The modifiers a field of the lenient record can take: every value is a
/// string, so the numeric and array ones never apply.
pub(crate) fn unsupported_modifier(item: &DetectionItem) -> Option<Modifier> {
    item.field.modifiers.iter().copied().find(|m| {
        matches!(
            m,
            Modifier::Gt | Modifier::Gte | Modifier::Lt | Modifier::Lte
        )
    })
}

/// The placeholder a `|expand` value names: `%name%`, the name of letters,
/// digits and `_`.
fn placeholder(value: &SigmaValue) -> Option<String> {
    let SigmaValue::String(s) = value else {
        return None;
    };
    let text = s.as_plain()?;
    let name = text.strip_prefix('%')?.strip_suffix('%')?;
    let valid = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    valid.then(|| name.to_owned())
}

fn walk_items_mut(d: &mut Detection, f: &mut dyn FnMut(&mut DetectionItem)) {
    match d {
        Detection::AllOf(items) => items.iter_mut().for_each(&mut *f),
        Detection::AnyOf(ds) | Detection::And(ds) => {
            ds.iter_mut().for_each(|d| walk_items_mut(d, f))
        }
        Detection::Keywords(_) => {}
        Detection::ArrayMatch { body, .. } => walk_items_mut(body, f),
        Detection::Conditional { named, .. } => {
            named.values_mut().for_each(|d| walk_items_mut(d, f))
        }
    }
}

/// The placeholders the `|expand` items of a detection section name,
/// sorted; an error names an `|expand` value that is not one placeholder
/// (`%name%`): signin-watch fills placeholders from its settings, as
/// pySigma's placeholder pipelines do, and nothing else.
pub(crate) fn placeholders(detection: &Detections) -> Result<Vec<String>, String> {
    let mut names = std::collections::BTreeSet::new();
    for (name, item) in items(detection) {
        if !item.field.modifiers.contains(&Modifier::Expand) {
            continue;
        }
        for v in &item.values {
            let p = placeholder(v).ok_or_else(|| {
                format!("detection {name:?}: an |expand value must be one placeholder, %name%")
            })?;
            names.insert(p);
        }
    }
    Ok(names.into_iter().collect())
}

/// The detection section with each `|expand` item's placeholders replaced
/// by `values[name]` (any of them matches) and the modifier removed. A
/// placeholder without values stays as its own text, which no record holds.
pub(crate) fn expand(
    detection: &Detections,
    values: &std::collections::BTreeMap<String, Vec<String>>,
) -> Detections {
    let mut out = detection.clone();
    for d in out.named.values_mut() {
        walk_items_mut(d, &mut |item| {
            if !item.field.modifiers.contains(&Modifier::Expand) {
                return;
            }
            item.field.modifiers.retain(|m| *m != Modifier::Expand);
            item.values = item
                .values
                .iter()
                .flat_map(|v| match placeholder(v).and_then(|p| values.get(&p)) {
                    Some(list) => list
                        .iter()
                        .map(|x| SigmaValue::String(SigmaString::from_raw(x)))
                        .collect(),
                    None => vec![v.clone()],
                })
                .collect();
        });
    }
    out
}

/// Every detection item of a section, with its detection's name.
pub(crate) fn items(detection: &Detections) -> Vec<(&str, &DetectionItem)> {
    fn walk<'a>(d: &'a Detection, name: &'a str, out: &mut Vec<(&'a str, &'a DetectionItem)>) {
        match d {
            Detection::AllOf(items) => out.extend(items.iter().map(|i| (name, i))),
            Detection::AnyOf(ds) | Detection::And(ds) => ds.iter().for_each(|d| walk(d, name, out)),
            Detection::Keywords(_) => {}
            Detection::ArrayMatch { body, .. } => walk(body, name, out),
            Detection::Conditional { named, .. } => named.values().for_each(|d| walk(d, name, out)),
        }
    }
    let mut names: Vec<&String> = detection.named.keys().collect();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        walk(&detection.named[name], name, &mut out);
    }
    out
}

/// Whether every record the detection can match holds the bytes the
/// prefilter looks for (`signin.amazonaws.com` as the `eventSource`, or an
/// `MFAUsed` key): each way the condition can hold requires one of them.
pub(crate) fn requires_a_prefilter_needle(detection: &Detections) -> bool {
    !detection.conditions.is_empty()
        && detection
            .conditions
            .iter()
            .all(|c| condition_requires(c, &detection.named))
}

fn condition_requires(expr: &ConditionExpr, named: &HashMap<String, Detection>) -> bool {
    match expr {
        ConditionExpr::Identifier(name) => named.get(name).is_some_and(detection_requires),
        ConditionExpr::And(xs) => xs.iter().any(|x| condition_requires(x, named)),
        ConditionExpr::Or(xs) => xs.iter().all(|x| condition_requires(x, named)),
        // What a negation requires cannot be told from its operand.
        ConditionExpr::Not(_) => false,
        ConditionExpr::Selector {
            quantifier,
            pattern,
        } => {
            let mut chosen = named
                .iter()
                .filter(|(name, _)| pattern.matches_detection_name(name))
                .map(|(_, d)| d)
                .peekable();
            if chosen.peek().is_none() {
                return false;
            }
            match quantifier {
                // All of them must hold, so one that requires a needle suffices.
                Quantifier::All => chosen.any(detection_requires),
                Quantifier::Any | Quantifier::Count(_) => chosen.all(detection_requires),
            }
        }
    }
}

fn detection_requires(d: &Detection) -> bool {
    match d {
        Detection::AllOf(items) => items.iter().any(item_requires),
        Detection::And(ds) => ds.iter().any(detection_requires),
        Detection::AnyOf(ds) => !ds.is_empty() && ds.iter().all(detection_requires),
        Detection::Keywords(_) | Detection::ArrayMatch { .. } | Detection::Conditional { .. } => {
            false
        }
    }
}

/// Whether a detection item holds only for records with a needle: an
/// `eventSource` whose every value holds `signin.amazonaws.com` as plain
/// text, or an `additionalEventData.MFAUsed` that must be present.
fn item_requires(item: &DetectionItem) -> bool {
    let Some(field) = item.field.name.as_deref() else {
        return false;
    };
    let modifiers = &item.field.modifiers;
    let plain_text_only = modifiers.iter().all(|m| {
        matches!(
            m,
            Modifier::Contains
                | Modifier::StartsWith
                | Modifier::EndsWith
                | Modifier::All
                | Modifier::Cased
        )
    });
    if item.values.is_empty() {
        return false;
    }
    match field {
        "eventSource" => {
            plain_text_only
                && item.values.iter().all(|v| match v {
                    SigmaValue::String(s) => s
                        .as_plain()
                        .is_some_and(|p| p.to_ascii_lowercase().contains(SIGNIN_EVENT_SOURCE)),
                    _ => false,
                })
        }
        "additionalEventData.MFAUsed" => {
            if modifiers.contains(&Modifier::Exists) {
                return item
                    .values
                    .iter()
                    .all(|v| matches!(v, SigmaValue::Bool(true)));
            }
            plain_text_only
                && item.values.iter().all(|v| {
                    matches!(
                        v,
                        SigmaValue::String(_)
                            | SigmaValue::Integer(_)
                            | SigmaValue::Float(_)
                            | SigmaValue::Bool(_)
                    )
                })
        }
        _ => false,
    }
}

/// Fields whoever signs in chooses: their own user agent, the federated
/// user's or role session's name (in `principalId`, `arn`, `userName`), the
/// sign-in endpoint they call and so the region, and where the console
/// sends them afterwards (`LoginTo`).
pub(crate) const CHOSEN_BY_THE_SIGNER: &[&str] = &[
    "userAgent",
    "userIdentity.principalId",
    "userIdentity.arn",
    "userIdentity.userName",
    "tlsDetails.clientProvidedHostHeader",
    "awsRegion",
    "additionalEventData.LoginTo",
];

/// Fields the signer cannot choose that pin a sign-in to a known broker: the
/// session issuer (whose keys minted the session) and the source network.
pub(crate) const ANCHORS: &[&str] = &[
    "userIdentity.sessionContext.sessionIssuer.userName",
    "userIdentity.sessionContext.sessionIssuer.arn",
    "userIdentity.sessionContext.sessionIssuer.principalId",
    "sourceIPAddress",
];
