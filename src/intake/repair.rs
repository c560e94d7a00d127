//! A record that serde cannot read whole because of one field: a string
//! with a lone UTF-16 surrogate (`"\ud800"`: valid JSON syntax, not text),
//! or a key given twice. Whoever signs in chooses some of those fields; one
//! such field must not make the whole record malformed (and its detection
//! lost). The repair drops that field alone, at whatever depth: a string
//! that is not text, and every copy of a duplicated key (neither copy is
//! trusted over the other).

use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::domain::record::CloudTrailRecord;

/// Nesting deeper than this is dropped (a record is a few levels deep).
const MAX_DEPTH: usize = 64;

/// An object's entries in order, duplicates kept.
struct Entries<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Entries<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Entries<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    out.push((key, map.next_value::<&'de RawValue>()?));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// The value of `raw` without the fields serde cannot read; `None` when
/// `raw` itself is such a field.
fn clean(raw: &RawValue, depth: usize) -> Option<Value> {
    if depth > MAX_DEPTH {
        return None;
    }
    let text = raw.get();
    match text.as_bytes().first()? {
        b'{' => {
            let Entries(entries) = serde_json::from_str(text).ok()?;
            let mut seen: HashMap<&str, usize> = HashMap::new();
            for (k, _) in &entries {
                *seen.entry(k.as_str()).or_default() += 1;
            }
            let mut map = Map::new();
            for (k, v) in &entries {
                if seen[k.as_str()] == 1
                    && let Some(v) = clean(v, depth + 1)
                {
                    map.insert(k.clone(), v);
                }
            }
            Some(Value::Object(map))
        }
        b'[' => {
            let items: Vec<&RawValue> = serde_json::from_str(text).ok()?;
            Some(Value::Array(
                items.iter().filter_map(|i| clean(i, depth + 1)).collect(),
            ))
        }
        b'"' => serde_json::from_str::<String>(text).ok().map(Value::String),
        _ => serde_json::from_str::<Value>(text).ok(),
    }
}

/// The record in `text` with every unreadable field dropped, when `text` is
/// a JSON object; `None` when it is not (or the repair changes nothing).
pub fn repaired_record(text: &[u8]) -> Option<CloudTrailRecord<'static>> {
    let raw: &RawValue = serde_json::from_slice(text).ok()?;
    let value = clean(raw, 0)?;
    if !value.is_object() {
        return None;
    }
    CloudTrailRecord::deserialize(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail() -> String {
        crate::test_support::sample_detail("rule1-failed-mfa-iam-user.json").to_string()
    }

    #[test]
    fn a_lone_surrogate_drops_its_field_only() {
        let text = detail().replacen("\"userAgent\":\"", "\"userAgent\":\"\\ud800", 1);
        assert!(text.contains("\\ud800"), "{text}");
        assert!(
            serde_json::from_str::<CloudTrailRecord>(&text).is_err(),
            "serde alone refuses it"
        );
        let r = repaired_record(text.as_bytes()).unwrap();
        assert_eq!(r.user_agent, None);
        assert_eq!(r.event_name.as_deref(), Some("ConsoleLogin"));
        assert_eq!(r.mfa_used(), Some("Yes"));
    }

    #[test]
    fn a_duplicate_key_drops_every_copy_at_any_depth() {
        let text = detail().replacen("\"userName\":", "\"userName\":\"mallory\",\"userName\":", 1);
        assert!(
            serde_json::from_str::<CloudTrailRecord>(&text).is_err(),
            "serde alone refuses it"
        );
        let r = repaired_record(text.as_bytes()).unwrap();
        let identity = r.user_identity.as_ref().unwrap();
        assert_eq!(identity.user_name, None, "neither copy is trusted");
        assert!(identity.principal_id.is_some(), "its siblings stay");
        let top = format!(
            "{{\"eventName\":\"A\",\"eventName\":\"B\",{}",
            &detail()[1..]
        );
        let r = repaired_record(top.as_bytes()).unwrap();
        assert_eq!(r.event_name, None);
    }

    #[test]
    fn every_intake_shape_reads_the_record_with_the_field_absent() {
        let bad = detail().replacen("\"userAgent\":\"", "\"userAgent\":\"\\udfff", 1);
        let o = crate::intake::decode::decode_record(bad.as_bytes()).unwrap();
        assert_eq!(
            (o.record.user_agent.is_none(), o.record.mfa_used()),
            (true, Some("Yes"))
        );
        let event = format!(r#"{{"source":"aws.signin","detail-type":"x","detail":{bad}}}"#);
        let Ok(crate::intake::Decoded::Records(r)) = crate::intake::decode(event.as_bytes()) else {
            panic!("the event is read")
        };
        assert!(r[0].record.user_agent.is_none() && r[0].envelope.is_some());
        let Ok(crate::intake::Decoded::Records(r)) = crate::intake::decode(bad.as_bytes()) else {
            panic!("the bare record is read")
        };
        assert_eq!(r[0].record.event_name.as_deref(), Some("ConsoleLogin"));
    }

    #[test]
    fn what_is_not_an_object_is_not_repaired() {
        for text in ["[1]", "\"x\"", "{\"a\":", "not json", "\"\\ud800\""] {
            assert!(repaired_record(text.as_bytes()).is_none(), "{text}");
        }
    }
}
