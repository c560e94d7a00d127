//! From the bytes of one item to the records it holds.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::domain::lenient;
use crate::domain::observed::{Envelope, Observed};
use crate::domain::record::CloudTrailRecord;

use super::repair::repaired_record;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not valid JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error(
        "an SQS message body or lookup-events CloudTrailEvent holds items of its own; it must be one event or record"
    )]
    Nested,
    #[error("an SQS message body or lookup-events CloudTrailEvent: {0}")]
    InDocument(#[source] Box<DecodeError>),
    #[error("{what} {index} holds no message")]
    Wrapper { what: &'static str, index: usize },
    #[error("more than {0} wrappers (failure destination, SNS) around one event")]
    TooDeep(usize),
    #[error(
        "{what} is a JSON object but not a CloudTrail record: it has none of eventSource, eventName and eventID"
    )]
    NotCloudTrail { what: &'static str },
    #[error("{what} is not a CloudTrail record object: {source}")]
    NotARecord {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// The keys that tell the shapes apart (a CloudTrail record has none of
/// them), and the EventBridge envelope, read in the same pass: an event's
/// outer object is scanned once.
#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(borrow, default)]
    detail: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    id: Text<'a>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    source: Text<'a>,
    #[serde(
        borrow,
        default,
        rename = "detail-type",
        deserialize_with = "lenient::string"
    )]
    detail_type: Text<'a>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    account: Text<'a>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    region: Text<'a>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    time: Text<'a>,
    #[serde(borrow, default, rename = "Records")]
    records: Option<Vec<&'a RawValue>>,
    #[serde(borrow, default, rename = "Events")]
    events: Option<Vec<LookupEvent<'a>>>,
}

type Text<'a> = Option<Cow<'a, str>>;

/// The keys that tell the shapes apart, alone: what an item is read with
/// when [`Probe`] fails on it (a key of the envelope given twice, which
/// a bare record or a log file may hold without harm).
#[derive(Deserialize)]
struct Shape<'a> {
    #[serde(borrow, default)]
    detail: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "Records")]
    records: Option<Vec<&'a RawValue>>,
    #[serde(borrow, default, rename = "Events")]
    events: Option<Vec<LookupEvent<'a>>>,
}

/// An entry of `aws cloudtrail lookup-events` output: the record is a JSON string.
#[derive(Deserialize)]
struct LookupEvent<'a> {
    #[serde(
        borrow,
        default,
        rename = "CloudTrailEvent",
        deserialize_with = "lenient::string"
    )]
    cloud_trail_event: Option<Cow<'a, str>>,
}

/// An SQS message, as the function receives it and as an SQS batch file
/// (`events/scenarios/sqs/`) holds it: the item is its `body`.
#[derive(Deserialize)]
struct SqsMessage<'a> {
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    body: Option<Cow<'a, str>>,
}

/// The records an item holds.
pub enum Decoded<'a> {
    /// Borrowing from the item's bytes.
    Records(Vec<Observed<'a>>),
    /// Items in strings: `lookup-events` output (each record a JSON document
    /// in a string) or an SQS batch (each message's body an item). Each is
    /// read by [`decode_document`].
    Documents(Vec<String>),
}

/// The body of an SQS message (`eventSource: aws:sqs` with a `body`), when
/// `observed`, read from `raw`, is one.
fn sqs_body(observed: &Observed<'_>, raw: &[u8]) -> Option<String> {
    if observed.record.event_source.as_deref() != Some("aws:sqs") {
        return None;
    }
    let message: SqsMessage = parse(raw).ok()?;
    message.body.map(Cow::into_owned)
}

/// Reads one item: an EventBridge event (the record is its `detail`, whatever
/// its `detail-type`), a bare CloudTrail record, a CloudTrail log file
/// `{"Records":[...]}`, or `lookup-events` output.
pub fn decode<'a>(bytes: &'a [u8]) -> Result<Decoded<'a>, DecodeError> {
    let (shape, envelope) = match parse::<Probe>(bytes) {
        Ok(p) => (
            Shape {
                detail: p.detail,
                records: p.records,
                events: p.events,
            },
            Envelope {
                id: p.id,
                source: p.source,
                detail_type: p.detail_type,
                account: p.account,
                region: p.region,
                time: p.time,
            },
        ),
        // Read as it was before the envelope joined the probe: the shape
        // alone, and the envelope on its own when there is a detail.
        Err(_) => {
            let shape: Shape = parse(bytes).map_err(DecodeError::Json)?;
            let envelope = match shape.detail {
                Some(_) => parse(bytes).map_err(DecodeError::Json)?,
                None => Envelope::default(),
            };
            (shape, envelope)
        }
    };
    let probe = shape;
    if let Some(detail) = probe.detail {
        let record: CloudTrailRecord = match serde_json::from_str(detail.get()) {
            Ok(r) => r,
            Err(source) => {
                repaired_record(detail.get().as_bytes()).ok_or(DecodeError::NotARecord {
                    what: "the EventBridge event's detail",
                    source,
                })?
            }
        };
        if !record.looks_like_cloudtrail() {
            return Err(DecodeError::NotCloudTrail {
                what: "the EventBridge event's detail",
            });
        }
        return Ok(Decoded::Records(vec![Observed {
            record,
            envelope: Some(envelope),
        }]));
    }
    if let Some(records) = probe.records {
        let observed: Vec<Observed> = records
            .iter()
            .map(|raw| decode_record(raw.get().as_bytes()))
            .collect::<Result<_, _>>()?;
        let bodies: Vec<Option<String>> = observed
            .iter()
            .zip(&records)
            .map(|(o, raw)| sqs_body(o, raw.get().as_bytes()))
            .collect();
        if bodies.iter().all(Option::is_none) {
            return Ok(Decoded::Records(observed));
        }
        // An SQS batch: each message's body is an item.
        return Ok(Decoded::Documents(
            bodies
                .into_iter()
                .zip(&records)
                .map(|(body, raw)| body.unwrap_or_else(|| raw.get().to_owned()))
                .collect(),
        ));
    }
    if let Some(events) = probe.events {
        return Ok(Decoded::Documents(
            events
                .into_iter()
                .filter_map(|e| e.cloud_trail_event.map(Cow::into_owned))
                .collect(),
        ));
    }
    let record: CloudTrailRecord = match parse(bytes) {
        Ok(r) => r,
        Err(e) => repaired_record(bytes).ok_or(DecodeError::Json(e))?,
    };
    if !record.looks_like_cloudtrail() {
        return Err(DecodeError::NotCloudTrail { what: "the event" });
    }
    Ok(Decoded::Records(vec![Observed::bare(record)]))
}

/// Reads an element of a CloudTrail log file's `Records` array.
pub fn decode_record(bytes: &[u8]) -> Result<Observed<'_>, DecodeError> {
    let record: CloudTrailRecord = match parse(bytes) {
        Ok(r) => r,
        Err(source) => match repaired_record(bytes) {
            Some(r) => r,
            None if source.is_data() => {
                return Err(DecodeError::NotARecord {
                    what: "an element of Records",
                    source,
                });
            }
            None => return Err(DecodeError::Json(source)),
        },
    };
    if !record.looks_like_cloudtrail() {
        return Err(DecodeError::NotCloudTrail {
            what: "an element of Records",
        });
    }
    Ok(Observed::bare(record))
}

/// Parses JSON text. One UTF-8 check of the whole text costs less than
/// serde_json's check of each string it borrows; text that fails it goes to
/// the byte parser, which reads it as it always did and says where it fails.
fn parse<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> serde_json::Result<T> {
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    }
}

/// Reads an item held in a string (see [`Decoded::Documents`]): a record,
/// or an EventBridge event; items in it hold no further items.
pub fn decode_document(text: &str) -> Result<Vec<Observed<'_>>, DecodeError> {
    match decode(text.as_bytes()) {
        Ok(Decoded::Records(records)) => Ok(records),
        Ok(Decoded::Documents(_)) => Err(DecodeError::Nested),
        Err(e) => Err(DecodeError::InDocument(Box::new(e))),
    }
}

/// What the splitter knows of an item from where it found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    /// Any shape [`decode`] reads.
    Any,
    /// An element of a CloudTrail log file's `Records` array: a record,
    /// whatever keys it holds; parsed once, without asking which shape it has.
    Record,
}

/// Reads one item as the splitter found it (`kind`): its records, or the
/// items in strings that hold them. An element of `Records` that is an SQS
/// message (an SQS batch file, `events/sqs/`) is read as its body. The one
/// reader of items: replay and the scan read through [`decode_item`], the
/// function's bucket path through this.
pub fn read_item(bytes: &[u8], kind: ItemKind) -> Result<Decoded<'_>, DecodeError> {
    if kind == ItemKind::Any {
        return decode(bytes);
    }
    let observed = decode_record(bytes)?;
    Ok(match sqs_body(&observed, bytes) {
        None => Decoded::Records(vec![observed]),
        Some(body) => Decoded::Documents(vec![body]),
    })
}

impl Decoded<'_> {
    /// Calls `f` with every record, each item in a string read in turn
    /// ([`decode_document`]); returns how many.
    pub fn each(self, f: &mut dyn FnMut(Observed<'_>)) -> Result<usize, DecodeError> {
        match self {
            Decoded::Records(records) => {
                let n = records.len();
                records.into_iter().for_each(f);
                Ok(n)
            }
            Decoded::Documents(docs) => {
                let mut n = 0;
                for text in &docs {
                    let records = decode_document(text)?;
                    n += records.len();
                    records.into_iter().for_each(&mut *f);
                }
                Ok(n)
            }
        }
    }
}

/// Calls `f` with every record in `bytes` ([`read_item`]); returns how many.
pub fn decode_item(
    bytes: &[u8],
    kind: ItemKind,
    f: &mut dyn FnMut(Observed<'_>),
) -> Result<usize, DecodeError> {
    read_item(bytes, kind)?.each(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(json: &str) -> Result<Vec<String>, DecodeError> {
        let mut out = Vec::new();
        decode_item(json.as_bytes(), ItemKind::Any, &mut |o| {
            out.push(o.record.event_name().unwrap_or("-").to_owned());
        })?;
        Ok(out)
    }

    #[test]
    fn shapes() {
        assert_eq!(names(r#"{"eventName":"A"}"#).unwrap(), ["A"]);
        assert_eq!(
            names(r#"{"detail-type":"AWS Console Sign In via CloudTrail","source":"aws.signin","detail":{"eventName":"B"}}"#).unwrap(),
            ["B"]
        );
        assert_eq!(
            names(
                r#"{"detail-type":"AWS Console Sign-In via CloudTrail","detail":{"eventName":"B"}}"#
            )
            .unwrap(),
            ["B"]
        );
        assert_eq!(
            names(r#"{"Records":[{"eventName":"C"},{"eventName":"D"}]}"#).unwrap(),
            ["C", "D"]
        );
        assert_eq!(
            names(r#"{"Events":[{"CloudTrailEvent":"{\"eventName\":\"E\"}"}]}"#).unwrap(),
            ["E"]
        );
    }

    #[test]
    fn a_key_of_the_envelope_given_twice_is_read_as_before() {
        // The probe reads the envelope in its pass; a record or log file
        // that repeats one of its keys is read by the shape alone.
        assert_eq!(
            names(r#"{"eventName":"A","region":"x","region":"y","time":1,"time":2}"#).unwrap(),
            ["A"]
        );
        assert_eq!(
            names(r#"{"Records":[{"eventName":"C"}],"id":"a","id":"b"}"#).unwrap(),
            ["C"]
        );
        // An event with a detail reads its envelope as it always did.
        let out = decode(
            br#"{"source":"aws.signin","account":"1","account":"2","detail":{"eventName":"B"}}"#,
        );
        assert!(
            matches!(out, Err(DecodeError::Json(_))),
            "a duplicated envelope key"
        );
    }

    #[test]
    fn an_element_of_records_is_read_as_a_record() {
        // Whatever keys it holds: `detail` here is just an unknown field.
        let mut got = Vec::new();
        let n = decode_item(
            br#"{"eventName":"F","detail":{"eventName":"G"}}"#,
            ItemKind::Record,
            &mut |o| got.push(o.record.event_name().map(str::to_owned)),
        )
        .unwrap();
        assert_eq!((n, got), (1, vec![Some("F".to_owned())]));
        let e = decode_record(br#"{"eventName":"A""#).unwrap_err();
        assert!(e.to_string().starts_with("not valid JSON"), "{e}");
        let e = decode_record(br#"{"eventName":["A"],"eventID":"e"}"#).map(|_| ());
        assert!(
            e.is_ok(),
            "a field of the wrong type reads as absent: {e:?}"
        );
        for not_cloudtrail in [&br#"{}"#[..], br#"{"eventName":["A"]}"#, br#"{"foo":1}"#] {
            let e = decode_record(not_cloudtrail).map(|_| ()).unwrap_err();
            assert!(matches!(e, DecodeError::NotCloudTrail { .. }), "{e}");
            let e = decode(not_cloudtrail).map(|_| ()).unwrap_err();
            assert!(e.to_string().contains("not a CloudTrail record"), "{e}");
        }
        let e = decode(br#"{"source":"aws.signin","detail":{}}"#)
            .map(|_| ())
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("the EventBridge event's detail is a JSON object but not"),
            "{e}"
        );
        let e = decode_record(br#""A""#).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("an element of Records is not a CloudTrail record object"),
            "{e}"
        );
    }

    #[test]
    fn text_that_is_not_utf8_is_read_as_before() {
        // It skips the one-pass check; the byte parser reads what it can
        // and says where it fails.
        let bad = b"{\"eventName\":\"A\xff\"}";
        for e in [
            decode_record(bad).map(|_| ()).unwrap_err(),
            decode_item(bad, ItemKind::Any, &mut |_| {})
                .map(|_| ())
                .unwrap_err(),
        ] {
            assert!(e.to_string().starts_with("not valid JSON"), "{e}");
            assert!(e.to_string().contains("column"), "{e}");
        }
        let ignored = b"{\"eventName\":\"A\",\"x\":\"\xff\"}";
        let mut got = Vec::new();
        for kind in [ItemKind::Record, ItemKind::Any] {
            decode_item(ignored, kind, &mut |o| {
                got.push(o.record.event_name().map(str::to_owned))
            })
            .unwrap();
        }
        assert_eq!(got, [Some("A".to_owned()), Some("A".to_owned())]);
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let e = names(r#"{"eventName":"A""#).unwrap_err();
        assert!(e.to_string().starts_with("not valid JSON"), "{e}");
        let e = names(r#"{"detail":"text"}"#).unwrap_err();
        assert!(
            e.to_string().contains("detail is not a CloudTrail record"),
            "{e}"
        );
        let e = names(r#""just a string""#).unwrap_err();
        assert!(
            e.to_string().contains("not valid JSON") || e.to_string().contains("invalid type"),
            "{e}"
        );
    }

    #[test]
    fn an_sqs_batch_is_read_message_by_message() {
        let event = r#"{"source":"aws.signin","detail":{"eventName":"H"}}"#;
        let record = r#"{"eventName":"I"}"#;
        let batch = serde_json::json!({"Records": [
            {"messageId": "1", "eventSource": "aws:sqs", "body": event},
            {"messageId": "2", "eventSource": "aws:sqs", "body": record},
        ]})
        .to_string();
        assert_eq!(names(&batch).unwrap(), ["H", "I"]);
        // One message at a time, as the scanner hands a big file's elements.
        let message = serde_json::json!({"eventSource": "aws:sqs", "body": event}).to_string();
        let mut got = Vec::new();
        let n = decode_item(message.as_bytes(), ItemKind::Record, &mut |o| {
            got.push(o.record.event_name().map(str::to_owned));
            assert!(o.envelope.is_some(), "the body's envelope is kept");
        })
        .unwrap();
        assert_eq!((n, got), (1, vec![Some("H".to_owned())]));
        // A body that is not an event says so; one holding a batch is refused.
        let bad = serde_json::json!({"Records": [{"eventSource": "aws:sqs", "body": "[1]"}]});
        let e = names(&bad.to_string()).unwrap_err();
        assert!(e.to_string().contains("SQS message body"), "{e}");
        let nested = serde_json::json!({"Records": [{"eventSource": "aws:sqs", "body": batch}]});
        let e = names(&nested.to_string()).unwrap_err();
        assert!(matches!(e, DecodeError::Nested), "{e}");
    }
}
