//! What the function trusts, and what wraps an event on its way back to it.
//!
//! Trust: EventBridge refuses `PutEvents` whose `source` begins with `aws.`,
//! so an event with `source: aws.signin` was written by AWS; so were the
//! trail bucket's objects. Anything else (a bare CloudTrail record, a log
//! file handed over inline, lookup-events output, a custom event carrying a
//! sign-in record) could have been written by whoever can invoke the
//! function, and is read only where an operator says so (local tests).
//!
//! Wrappers: a Lambda failure destination's record holds the event under
//! `requestPayload`; SNS holds it as the string `Message` (a notification
//! delivered to SQS, or an SNS event's `Records[].Sns`). Their contents are
//! read as if delivered directly; a wrapper is trusted as far as whoever can
//! write to its queue or topic (the template lets only AWS services write).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::decode::DecodeError;
use crate::domain::observed::Observed;

/// The EventBridge source of AWS sign-in events.
pub const SIGNIN_SOURCE: &str = "aws.signin";

/// How deep wrappers may nest (a failure destination of an SNS-fed call, say).
pub const MAX_WRAPPERS: usize = 4;

#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(borrow, default, rename = "requestPayload")]
    request_payload: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "requestContext")]
    request_context: Option<&'a RawValue>,
    #[serde(default, rename = "Type")]
    kind: Option<String>,
    #[serde(default, rename = "Message")]
    message: Option<String>,
    #[serde(borrow, default, rename = "Records")]
    records: Option<Vec<SnsRecord<'a>>>,
}

#[derive(Deserialize)]
struct SnsRecord<'a> {
    #[serde(default, rename = "EventSource")]
    event_source: Option<String>,
    #[serde(borrow, default, rename = "Sns")]
    sns: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct SnsMessage {
    #[serde(default, rename = "Message")]
    message: Option<String>,
}

/// The payloads `bytes` carries: `bytes` itself, or what its wrappers hold,
/// unwrapped to the innermost.
pub fn unwrap(bytes: &[u8]) -> Result<Vec<Cow<'_, [u8]>>, DecodeError> {
    let mut out = Vec::new();
    unwrap_into(Cow::Borrowed(bytes), 0, &mut out)?;
    Ok(out)
}

/// The payloads `bytes` holds when it is a wrapper, unwrapped to the
/// innermost; `None` when it is none.
pub fn wrapped(bytes: &[u8]) -> Result<Option<Vec<Cow<'_, [u8]>>>, DecodeError> {
    let out = unwrap(bytes)?;
    // What a wrapper holds is always owned: a borrowed payload is `bytes`.
    Ok((!matches!(out.as_slice(), [Cow::Borrowed(_)])).then_some(out))
}

fn unwrap_into<'a>(
    bytes: Cow<'a, [u8]>,
    depth: usize,
    out: &mut Vec<Cow<'a, [u8]>>,
) -> Result<(), DecodeError> {
    let mentions = |needle: &[u8]| memchr::memmem::find(&bytes, needle).is_some();
    // Most payloads are sign-in events: they need no second parse.
    if !(mentions(b"\"requestPayload\"") || mentions(b"\"Message\"") || mentions(b"\"aws:sns\"")) {
        out.push(bytes);
        return Ok(());
    }
    let inner: Vec<Vec<u8>> = {
        let Ok(probe) = serde_json::from_slice::<Probe>(&bytes) else {
            out.push(bytes);
            return Ok(());
        };
        if let (Some(payload), Some(_)) = (probe.request_payload, probe.request_context) {
            vec![payload.get().as_bytes().to_vec()]
        } else if probe.kind.as_deref() == Some("Notification") && probe.message.is_some() {
            vec![probe.message.unwrap_or_default().into_bytes()]
        } else if let Some(records) = probe.records.filter(|r| {
            !r.is_empty()
                && r.iter()
                    .all(|r| r.event_source.as_deref() == Some("aws:sns"))
        }) {
            let mut messages = Vec::new();
            for (i, r) in records.iter().enumerate() {
                let message = r
                    .sns
                    .and_then(|s| serde_json::from_str::<SnsMessage>(s.get()).ok())
                    .and_then(|s| s.message)
                    .ok_or(DecodeError::Wrapper {
                        what: "an SNS event's record",
                        index: i,
                    })?;
                messages.push(message.into_bytes());
            }
            messages
        } else {
            out.push(bytes);
            return Ok(());
        }
    };
    if depth + 1 > MAX_WRAPPERS {
        return Err(DecodeError::TooDeep(MAX_WRAPPERS));
    }
    for payload in inner {
        unwrap_into(Cow::Owned(payload), depth + 1, out)?;
    }
    Ok(())
}

/// Why decoded records are not trusted as they stand; `None` for one
/// EventBridge event (whose source [`is_genuine_signin`] then checks).
pub fn untrusted_shape(records: &[Observed<'_>]) -> Option<&'static str> {
    match records {
        [one] if one.envelope.is_some() => None,
        [_] => Some("a bare CloudTrail record"),
        _ => Some("CloudTrail records outside an EventBridge event"),
    }
}

/// Whether an EventBridge event is a sign-in event AWS wrote: its source
/// is `aws.signin` (which only AWS can write) and its record is from the
/// sign-in service.
pub fn is_genuine_signin(o: &Observed<'_>) -> bool {
    let source = o.envelope.as_ref().and_then(|e| e.source.as_deref());
    source == Some(SIGNIN_SOURCE) && o.record.is_from_signin()
}

/// Whether the payload is an EventBridge schedule's event (`source:
/// aws.events`, `detail-type: Scheduled Event`), which only AWS can write:
/// the template's sweep schedule.
pub fn is_scheduled_event(bytes: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Scheduled<'a> {
        #[serde(borrow)]
        source: Option<Cow<'a, str>>,
        #[serde(rename = "detail-type", borrow)]
        detail_type: Option<Cow<'a, str>>,
    }
    // Cheap for every other payload: only a schedule's names the source.
    if memchr::memmem::find(bytes, b"aws.events").is_none() {
        return false;
    }
    serde_json::from_slice::<Scheduled<'_>>(bytes).is_ok_and(|e| {
        e.source.as_deref() == Some("aws.events")
            && e.detail_type.as_deref() == Some("Scheduled Event")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::{Decoded, decode};

    #[test]
    fn only_a_schedules_event_is_a_sweep() {
        let scheduled = r#"{"version":"0","id":"1","detail-type":"Scheduled Event","source":"aws.events","account":"111122223333","time":"2026-11-20T10:15:00Z","region":"us-east-1","resources":["arn:aws:events:us-east-1:111122223333:rule/sweep"],"detail":{}}"#;
        assert!(is_scheduled_event(scheduled.as_bytes()));
        for other in [
            scheduled.replace("aws.events", "custom.events"),
            scheduled.replace("Scheduled Event", "AWS Console Sign In via CloudTrail"),
            r#"{"source":"aws.events"}"#.to_owned(),
            "not json aws.events".to_owned(),
            event(),
        ] {
            assert!(!is_scheduled_event(other.as_bytes()), "{other}");
        }
    }

    fn event() -> String {
        String::from_utf8(crate::test_support::sample(
            "rule1-failed-mfa-iam-user.json",
        ))
        .unwrap()
    }

    fn one(bytes: &[u8]) -> Vec<u8> {
        let got = unwrap(bytes).unwrap();
        assert_eq!(got.len(), 1);
        got[0].to_vec()
    }

    fn as_json(bytes: &[u8]) -> serde_json::Value {
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn a_failure_destination_record_gives_its_request_payload() {
        let event: serde_json::Value = serde_json::from_str(&event()).unwrap();
        let record = serde_json::json!({
            "version": "1.0", "timestamp": "2026-11-20T09:00:00.000Z",
            "requestContext": {"requestId": "r", "functionArn": "arn:aws:lambda:us-east-1:111122223333:function:signin-watch:$LATEST",
                               "condition": "RetriesExhausted", "approximateInvokeCount": 3},
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorType": "SigninWatch.TransientStoreError", "errorMessage": "x"}
        });
        assert_eq!(as_json(&one(record.to_string().as_bytes())), event);
    }

    #[test]
    fn sns_notifications_and_sns_events_give_their_messages() {
        let event = event();
        let notification = serde_json::json!({
            "Type": "Notification", "MessageId": "m", "TopicArn": "arn:aws:sns:us-east-1:111122223333:t",
            "Message": event, "Timestamp": "2026-11-20T09:00:00.000Z"
        });
        assert_eq!(
            as_json(&one(notification.to_string().as_bytes())),
            as_json(event.as_bytes())
        );
        let sns_event = serde_json::json!({"Records": [
            {"EventSource": "aws:sns", "EventVersion": "1.0", "Sns": {"Type": "Notification", "Message": event}},
            {"EventSource": "aws:sns", "EventVersion": "1.0", "Sns": {"Type": "Notification", "Message": event}},
        ]});
        assert_eq!(unwrap(sns_event.to_string().as_bytes()).unwrap().len(), 2);
        // A failure destination of an SNS-fed invocation: two wrappers.
        let nested = serde_json::json!({"requestContext": {}, "requestPayload": notification});
        assert_eq!(
            as_json(&one(nested.to_string().as_bytes())),
            as_json(event.as_bytes())
        );
    }

    #[test]
    fn wrappers_too_deep_or_broken_are_malformed_and_others_pass_through() {
        let mut payload = event();
        for _ in 0..=MAX_WRAPPERS {
            payload = serde_json::json!({"Type": "Notification", "Message": payload}).to_string();
        }
        assert!(matches!(
            unwrap(payload.as_bytes()),
            Err(DecodeError::TooDeep(_))
        ));
        let broken = br#"{"Records":[{"EventSource":"aws:sns","Sns":{}}]}"#;
        let e = unwrap(broken).unwrap_err();
        assert!(e.to_string().contains("an SNS event's record 0"), "{e}");
        for other in [
            event(),
            r#"{"Message": "not a wrapper"}"#.to_owned(),
            "not json".to_owned(),
        ] {
            assert_eq!(one(other.as_bytes()), other.as_bytes());
        }
    }

    #[test]
    fn only_an_eventbridge_event_from_aws_signin_is_genuine() {
        let genuine = event();
        let Decoded::Records(r) = decode(genuine.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(untrusted_shape(&r), None);
        assert!(is_genuine_signin(&r[0]));
        let forged = genuine.replace("\"aws.signin\"", "\"my.app\"");
        let Decoded::Records(r) = decode(forged.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(untrusted_shape(&r), None);
        assert!(
            !is_genuine_signin(&r[0]),
            "a custom source carrying a sign-in record"
        );
        let detail = serde_json::to_string(&crate::test_support::sample_detail(
            "rule1-failed-mfa-iam-user.json",
        ))
        .unwrap();
        let Decoded::Records(r) = decode(detail.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(untrusted_shape(&r), Some("a bare CloudTrail record"));
        let file = format!(r#"{{"Records":[{detail},{detail}]}}"#);
        let Decoded::Records(r) = decode(file.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(
            untrusted_shape(&r),
            Some("CloudTrail records outside an EventBridge event")
        );
    }
}
