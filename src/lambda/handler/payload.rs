//! What a payload is, asked once: [`classify`] reads the bytes an
//! invocation, an SQS message or a wrapper hands over and says what they
//! are; the handler `match`es on the answer.

use std::borrow::Cow;

use aws_lambda_events::sqs::SqsEvent;

use super::HandlerError;
use crate::domain::observed::Observed;
use crate::intake::s3_notification::{self, ObjectRef};
use crate::intake::{Decoded, decode, envelopes};

/// What a payload is.
pub(super) enum Payload<'a> {
    /// An EventBridge schedule's event (only AWS writes `aws.events`): the
    /// sweep, when it is the invocation's payload.
    Scheduled,
    /// An SQS batch: each message's body is a payload of its own.
    Batch(SqsEvent),
    /// A failure destination's record or an SNS notification: the payloads
    /// it holds, unwrapped to the innermost.
    Wrapped(Vec<Cow<'a, [u8]>>),
    /// The trail bucket's objects (an S3 event notification, or
    /// EventBridge's "Object Created").
    Objects(Vec<ObjectRef>),
    /// One EventBridge event; `genuine` when AWS wrote it as a sign-in
    /// event: its source is `aws.signin`, which only AWS can write, and its
    /// record is from the sign-in service.
    Event {
        observed: Box<Observed<'a>>,
        genuine: bool,
    },
    /// What anyone who can invoke the function could have written (bare
    /// records, a log file given inline, records held in strings): read
    /// only where an operator says so (`SIGNIN_WATCH_ACCEPT_ANY_SHAPE`).
    Unvouched {
        shape: &'static str,
        decoded: Decoded<'a>,
    },
}

/// What records held in strings are called when refused.
pub(super) const IN_STRINGS: &str = "records held in strings (lookup-events output)";

/// The payload as an SQS event, when every record in it is an SQS message.
fn sqs_event(payload: &[u8]) -> Option<SqsEvent> {
    let event: SqsEvent = serde_json::from_slice(payload).ok()?;
    let all_sqs = !event.records.is_empty()
        && event
            .records
            .iter()
            .all(|m| m.event_source.as_deref() == Some("aws:sqs") && m.message_id.is_some());
    all_sqs.then_some(event)
}

/// Says what `bytes` are; an error names what is malformed in them.
pub(super) fn classify(bytes: &[u8]) -> Result<Payload<'_>, HandlerError> {
    if envelopes::is_scheduled_event(bytes) {
        return Ok(Payload::Scheduled);
    }
    if let Some(event) = sqs_event(bytes) {
        return Ok(Payload::Batch(event));
    }
    if let Some(inner) = envelopes::wrapped(bytes)? {
        return Ok(Payload::Wrapped(inner));
    }
    if let Some(objects) = s3_notification::objects(bytes) {
        return Ok(Payload::Objects(objects?));
    }
    Ok(match decode(bytes)? {
        Decoded::Records(mut records) => match envelopes::untrusted_shape(&records) {
            None if records.len() == 1 => {
                let observed = Box::new(records.remove(0));
                Payload::Event {
                    genuine: envelopes::is_genuine_signin(&observed),
                    observed,
                }
            }
            shape => Payload::Unvouched {
                shape: shape.unwrap_or("CloudTrail records outside an EventBridge event"),
                decoded: Decoded::Records(records),
            },
        },
        documents @ Decoded::Documents(_) => Payload::Unvouched {
            shape: IN_STRINGS,
            decoded: documents,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("events")
            .join(name);
        std::fs::read_to_string(path).unwrap()
    }

    /// The variant's name, and what it says of trust.
    fn kind(bytes: &[u8]) -> String {
        match classify(bytes) {
            Ok(Payload::Scheduled) => "scheduled".into(),
            Ok(Payload::Batch(e)) => format!("batch of {}", e.records.len()),
            Ok(Payload::Wrapped(inner)) => format!("wrapping {}", inner.len()),
            Ok(Payload::Objects(o)) => format!("{} objects", o.len()),
            Ok(Payload::Event { genuine, .. }) => format!("event, genuine: {genuine}"),
            Ok(Payload::Unvouched { shape, .. }) => format!("unvouched: {shape}"),
            Err(e) => format!("error: {}", e.error_type()),
        }
    }

    #[test]
    fn each_shape_is_classified_once_for_all() {
        let event = sample("rule1-failed-mfa-iam-user.json");
        let value: serde_json::Value = serde_json::from_str(&event).unwrap();
        let detail = value["detail"].to_string();
        let mut forged = value.clone();
        forged["source"] = "my.app".into();
        let schedule = r#"{"source":"aws.events","detail-type":"Scheduled Event","detail":{}}"#;
        let batch = serde_json::json!({"Records": [
            {"messageId": "m1", "eventSource": "aws:sqs", "body": event},
        ]});
        let destination = serde_json::json!({
            "requestContext": {"condition": "RetriesExhausted"},
            "requestPayload": value,
        });
        let s3 = serde_json::json!({"Records": [{
            "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": "trail"}, "object": {"key": "k.json.gz", "size": 9}},
        }]});
        let lookup = serde_json::json!({"Events": [{"CloudTrailEvent": detail}]});
        let log_file = format!(r#"{{"Records": [{detail}, {detail}]}}"#);
        let cases = [
            (schedule.to_owned(), "scheduled"),
            (batch.to_string(), "batch of 1"),
            (destination.to_string(), "wrapping 1"),
            (s3.to_string(), "1 objects"),
            (event.clone(), "event, genuine: true"),
            (forged.to_string(), "event, genuine: false"),
            (detail.clone(), "unvouched: a bare CloudTrail record"),
            (
                log_file,
                "unvouched: CloudTrail records outside an EventBridge event",
            ),
            (
                lookup.to_string(),
                "unvouched: records held in strings (lookup-events output)",
            ),
            ("{not json".into(), "error: SigninWatch.MalformedEvent"),
            (
                r#"{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put",
                    "s3":{"bucket":{"name":"b"},"object":{"key":"%ff"}}}]}"#
                    .into(),
                "error: SigninWatch.MalformedNotification",
            ),
        ];
        for (payload, want) in cases {
            assert_eq!(kind(payload.as_bytes()), want, "{payload}");
        }
        // What a wrapper holds is classified in its turn.
        let destination = destination.to_string();
        let Ok(Payload::Wrapped(inner)) = classify(destination.as_bytes()) else {
            panic!("a wrapper");
        };
        assert_eq!(kind(&inner[0]), "event, genuine: true");
    }
}
