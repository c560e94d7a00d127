//! The trail bucket's notifications: which S3 objects a payload announces.
//! Two shapes reach the function: an S3 event notification (`{"Records":
//! [{"eventSource": "aws:s3", "s3": {...}}]}`, delivered through SQS), and
//! EventBridge's "Object Created" event (`source: aws.s3`). S3's test
//! message (`"Event": "s3:TestEvent"`) announces nothing.

use crate::domain::identity::is_account_id;
use serde::Deserialize;
use serde_json::value::RawValue;

/// One object to read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ObjectRef {
    pub bucket: String,
    pub key: String,
    pub size: Option<u64>,
}

/// What kind of object a trail bucket key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrailObject {
    /// A CloudTrail log file: read it.
    Log,
    /// A digest file (`CloudTrail-Digest/`): it holds hashes, not events.
    Digest,
    /// Anything else in the bucket: reported and skipped.
    Other,
}

/// What a CloudTrail key names: `AWSLogs/[o-org/]ACCOUNT/CloudTrail/REGION/
/// YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_UNIQUE.json.gz`.
pub fn trail_object(key: &str) -> TrailObject {
    let parts: Vec<&str> = key.split('/').collect();
    if parts.contains(&"CloudTrail-Digest") {
        return TrailObject::Digest;
    }
    let name = parts.last().copied().unwrap_or_default();
    let in_trail = parts.windows(2).any(|w| w[0] == "AWSLogs")
        && parts.contains(&"CloudTrail")
        && name.contains("_CloudTrail_")
        && (name.ends_with(".json.gz") || name.ends_with(".json"));
    if in_trail {
        TrailObject::Log
    } else {
        TrailObject::Other
    }
}

/// The account a CloudTrail key is for: `AWSLogs/[o-org/]ACCOUNT/CloudTrail/...`.
pub fn key_account(key: &str) -> Option<&str> {
    let parts: Vec<&str> = key.split('/').collect();
    let at = parts.iter().position(|p| *p == "CloudTrail")?;
    let account = *parts.get(at.checked_sub(1)?)?;
    is_account_id(account).then_some(account)
}

#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(borrow, default, rename = "Records")]
    records: Option<Vec<&'a RawValue>>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default, rename = "detail-type")]
    detail_type: Option<String>,
    #[serde(borrow, default)]
    detail: Option<&'a RawValue>,
    #[serde(default, rename = "Event")]
    event: Option<String>,
}

#[derive(Deserialize)]
struct S3Record {
    #[serde(default, rename = "eventSource")]
    event_source: Option<String>,
    #[serde(default, rename = "eventName")]
    event_name: Option<String>,
    #[serde(default)]
    s3: Option<S3Entity>,
}

#[derive(Deserialize)]
struct S3Entity {
    bucket: Named,
    object: Object,
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

#[derive(Deserialize)]
struct Object {
    key: String,
    #[serde(default)]
    size: Option<u64>,
}

#[derive(Deserialize)]
struct ObjectCreated {
    bucket: Named,
    object: Object,
}

/// Why a notification could not be read.
#[derive(Debug, thiserror::Error)]
#[error("an S3 notification that cannot be read: {0}")]
pub struct NotificationError(String);

/// The objects `bytes` announces, when it is a trail bucket notification;
/// `None` for any other payload.
pub fn objects(bytes: &[u8]) -> Option<Result<Vec<ObjectRef>, NotificationError>> {
    // Most payloads are sign-in events: they need no second parse.
    let mentions = |needle: &[u8]| memchr::memmem::find(bytes, needle).is_some();
    if !(mentions(b"aws:s3") || mentions(b"aws.s3") || mentions(b"s3:TestEvent")) {
        return None;
    }
    let probe: Probe = serde_json::from_slice(bytes).ok()?;
    if probe.event.as_deref() == Some("s3:TestEvent") {
        return Some(Ok(Vec::new()));
    }
    if probe.source.as_deref() == Some("aws.s3") {
        // Other S3 events (a CloudTrail API call, say) are ordinary events:
        // the detector reads them and finds no sign-in.
        if probe.detail_type.as_deref() != Some("Object Created") {
            return None;
        }
        let detail = probe.detail?;
        return Some(
            serde_json::from_str::<ObjectCreated>(detail.get())
                .map(|d| {
                    vec![ObjectRef {
                        bucket: d.bucket.name,
                        key: d.object.key,
                        size: d.object.size,
                    }]
                })
                .map_err(|e| NotificationError(format!("detail: {e}"))),
        );
    }
    let records = probe.records?;
    let first: S3Record = serde_json::from_str(records.first()?.get()).ok()?;
    if first.event_source.as_deref() != Some("aws:s3") {
        return None;
    }
    let mut out = Vec::new();
    for (i, raw) in records.iter().enumerate() {
        let record: S3Record = match serde_json::from_str(raw.get()) {
            Ok(r) => r,
            Err(e) => return Some(Err(NotificationError(format!("Records[{i}]: {e}")))),
        };
        // Only creations announce something to read.
        if !record
            .event_name
            .as_deref()
            .is_some_and(|n| n.starts_with("ObjectCreated:"))
        {
            continue;
        }
        let Some(s3) = record.s3 else {
            return Some(Err(NotificationError(format!("Records[{i}] has no s3"))));
        };
        let key = match url_decode(&s3.object.key) {
            Some(k) => k,
            None => {
                return Some(Err(NotificationError(format!(
                    "Records[{i}]: the key {:?} is not URL-encoded UTF-8",
                    s3.object.key
                ))));
            }
        };
        out.push(ObjectRef {
            bucket: s3.bucket.name,
            key,
            size: s3.object.size,
        });
    }
    Some(Ok(out))
}

/// An S3 event notification announcing `objects`, as S3 would send it to a
/// queue: what `signin-watch backfill` enqueues for the bucket path.
pub fn notification_for(objects: &[ObjectRef], region: &str) -> String {
    let records: Vec<serde_json::Value> = objects
        .iter()
        .map(|o| {
            serde_json::json!({
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "signin-watch-backfill"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": o.bucket, "arn": format!("arn:aws:s3:::{}", o.bucket)},
                    "object": {"key": url_encode(&o.key), "size": o.size.unwrap_or(0)},
                },
            })
        })
        .collect();
    serde_json::json!({ "Records": records }).to_string()
}

/// A key as S3 notifications write it: unreserved characters and `/` kept,
/// a space as `+`, every other byte as `%XX`.
fn url_encode(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// S3 event notifications URL-encode keys (a space as `+`).
fn url_decode(key: &str) -> Option<String> {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = key.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AWSLogs/o-abc123defg/111122223333/CloudTrail/eu-west-1/2026/11/20/111122223333_CloudTrail_eu-west-1_20261120T0905Z_abcDEF123.json.gz";

    #[test]
    fn a_keys_account_is_the_one_before_cloudtrail() {
        assert_eq!(key_account(KEY), Some("111122223333"));
        assert_eq!(
            key_account("AWSLogs/444455556666/CloudTrail/us-east-1/2026/11/20/x.json.gz"),
            Some("444455556666")
        );
        assert_eq!(key_account("AWSLogs/CloudTrail/x.json.gz"), None);
        assert_eq!(key_account("CloudTrail/x"), None);
        assert_eq!(key_account("elsewhere/x.json"), None);
    }

    #[test]
    fn an_s3_notification_names_its_objects() {
        let body = serde_json::json!({"Records": [
            {"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
             "s3": {"bucket": {"name": "trail"}, "object": {"key": "AWSLogs/a+b%2Fc.json.gz", "size": 12}}},
            {"eventSource": "aws:s3", "eventName": "ObjectRemoved:Delete",
             "s3": {"bucket": {"name": "trail"}, "object": {"key": "gone"}}},
        ]});
        let got = objects(body.to_string().as_bytes()).unwrap().unwrap();
        assert_eq!(
            got,
            [ObjectRef {
                bucket: "trail".into(),
                key: "AWSLogs/a b/c.json.gz".into(),
                size: Some(12)
            }]
        );
    }

    #[test]
    fn eventbridge_object_created_and_the_test_event() {
        let event = serde_json::json!({"source": "aws.s3", "detail-type": "Object Created",
            "detail": {"bucket": {"name": "trail"}, "object": {"key": KEY, "size": 5}}});
        let got = objects(event.to_string().as_bytes()).unwrap().unwrap();
        assert_eq!(got[0].key, KEY, "EventBridge keys are not encoded");
        let test = br#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"trail"}"#;
        assert_eq!(objects(test).unwrap().unwrap(), []);
    }

    #[test]
    fn other_payloads_are_not_notifications() {
        for payload in [
            r#"{"Records":[{"eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin"}]}"#,
            r#"{"source":"aws.signin","detail":{}}"#,
            r#"{"source":"aws.s3","detail-type":"AWS API Call via CloudTrail","detail":{}}"#,
            r#"{"eventName":"ConsoleLogin"}"#,
            "not json",
        ] {
            assert!(objects(payload.as_bytes()).is_none(), "{payload}");
        }
        let bad = br#"{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put"}]}"#;
        let e = objects(bad).unwrap().unwrap_err();
        assert!(e.to_string().contains("Records[0] has no s3"), "{e}");
    }

    #[test]
    fn a_backfill_notification_reads_back_as_its_objects() {
        let announced = vec![
            ObjectRef {
                bucket: "trail".into(),
                key: KEY.into(),
                size: Some(7),
            },
            ObjectRef {
                bucket: "trail".into(),
                key: "AWSLogs/a b+c%/é=1.json.gz".into(),
                size: None,
            },
        ];
        let body = notification_for(&announced, "us-east-1");
        let mut got = announced.clone();
        got[1].size = Some(0);
        assert_eq!(super::objects(body.as_bytes()).unwrap().unwrap(), got);
    }

    #[test]
    fn trail_keys_are_told_apart() {
        assert_eq!(trail_object(KEY), TrailObject::Log);
        assert_eq!(
            trail_object(
                "AWSLogs/111122223333/CloudTrail-Digest/eu-west-1/2026/11/20/111122223333_CloudTrail-Digest_eu-west-1_trail_us-east-1_20261120T0905Z.json.gz"
            ),
            TrailObject::Digest
        );
        assert_eq!(
            trail_object("AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/20/notes.txt"),
            TrailObject::Other
        );
        assert_eq!(trail_object("reports/summary.json.gz"), TrailObject::Other);
    }
}
