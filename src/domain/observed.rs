//! A record as it arrived: the CloudTrail record and, when EventBridge
//! delivered it, the envelope around it.

use std::borrow::Cow;

use serde::Deserialize;

use super::hash::sha256_hex;
use super::identity::{Principal, principal};
use super::lenient;
use super::record::CloudTrailRecord;
use super::time::Timestamp;

/// How far past the time it is read a record's time may lie (five minutes):
/// clocks drift a little; CloudTrail never records an event before it happens.
pub const FUTURE_TOLERANCE_MILLIS: i64 = 5 * 60 * 1000;

type Text<'a> = Option<Cow<'a, str>>;

/// The EventBridge envelope's own fields. Which `detail-type` AWS writes
/// varies between its documents, so nothing branches on it.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Envelope<'a> {
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub id: Text<'a>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub source: Text<'a>,
    #[serde(
        borrow,
        default,
        rename = "detail-type",
        deserialize_with = "lenient::string"
    )]
    pub detail_type: Text<'a>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub account: Text<'a>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub region: Text<'a>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub time: Text<'a>,
}

#[derive(Debug, Clone)]
pub struct Observed<'a> {
    pub record: CloudTrailRecord<'a>,
    pub envelope: Option<Envelope<'a>>,
}

fn non_empty<'b>(v: &'b Text<'_>) -> Option<&'b str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl<'a> Observed<'a> {
    pub fn bare(record: CloudTrailRecord<'a>) -> Self {
        Observed {
            record,
            envelope: None,
        }
    }

    /// The CloudTrail eventID; for a record without one, a stable id derived
    /// from the fields that identify it, so that a redelivery still counts once.
    pub fn event_id(&self) -> String {
        if let Some(id) = non_empty(&self.record.event_id) {
            return id.to_owned();
        }
        let r = &self.record;
        let who = principal(r);
        let parts = [
            r.event_time.as_deref(),
            r.event_source.as_deref(),
            r.event_name.as_deref(),
            r.source_ip_address.as_deref(),
            r.user_agent.as_deref(),
            r.request_id.as_deref(),
            r.aws_region.as_deref(),
            Some(who.user.as_str()),
            who.arn.as_deref(),
        ];
        // Each part ends with a NUL byte, so that no two records share an id
        // by moving text from one field to the next.
        let chunks = parts
            .iter()
            .flat_map(|p| [p.unwrap_or("").as_bytes(), &[0u8][..]]);
        format!("synthetic-{}", sha256_hex(chunks, 16))
    }

    /// The time the record states: its eventTime, else the envelope's time.
    pub fn stated_time(&self) -> Option<Timestamp> {
        self.record
            .event_time
            .as_deref()
            .and_then(Timestamp::parse)
            .or_else(|| {
                self.envelope
                    .as_ref()?
                    .time
                    .as_deref()
                    .and_then(Timestamp::parse)
            })
    }

    /// The record's eventTime when it is there and cannot be read (say
    /// `2026-10-06T12:01:90Z`): such a record is counted at the time of
    /// receipt, and reported.
    pub fn unreadable_time(&self) -> Option<&str> {
        self.record
            .event_time
            .as_deref()
            .filter(|t| Timestamp::parse(t).is_none())
    }

    /// Whether the stated time lies more than [`FUTURE_TOLERANCE_MILLIS`]
    /// past `received`.
    pub fn is_future_dated(&self, received: Timestamp) -> bool {
        self.stated_time().is_some_and(|t| {
            t.as_millis() > received.as_millis().saturating_add(FUTURE_TOLERANCE_MILLIS)
        })
    }

    /// The event time every count and window uses: the stated time; else, and
    /// for a time past `received` by more than the tolerance, `received`
    /// (the time the detector read the record). A record dated in the
    /// future would otherwise move its group's last-seen and notification
    /// times ahead, and silence the group's genuine sign-ins until then.
    pub fn event_time(&self, received: Timestamp) -> Timestamp {
        match self.stated_time() {
            Some(t) if !self.is_future_dated(received) => t,
            _ => received,
        }
    }

    pub fn account(&self) -> String {
        let ui = self.record.user_identity.as_ref();
        ui.and_then(|u| non_empty(&u.account_id))
            .or_else(|| non_empty(&self.record.recipient_account_id))
            .or_else(|| self.envelope.as_ref().and_then(|e| non_empty(&e.account)))
            .unwrap_or("unknown")
            .to_owned()
    }

    pub fn region(&self) -> String {
        non_empty(&self.record.aws_region)
            .or_else(|| self.envelope.as_ref().and_then(|e| non_empty(&e.region)))
            .unwrap_or("unknown")
            .to_owned()
    }

    pub fn facts(&self, received: Timestamp) -> EventFacts {
        let r = &self.record;
        EventFacts {
            event_id: self.event_id(),
            event_time: self.event_time(received),
            account: self.account(),
            region: self.region(),
            principal: principal(r),
            src: non_empty(&r.source_ip_address)
                .unwrap_or("unknown")
                .to_owned(),
            user_agent: r.user_agent.as_deref().map(str::to_owned),
            signature: r.event_name().unwrap_or("unknown").to_owned(),
            dest: r
                .login_to()
                .filter(|s| !s.is_empty())
                .or(r.event_source.as_deref())
                .unwrap_or("unknown")
                .to_owned(),
            mfa_used: r.mfa_used().map(str::to_owned),
            error_message: r.error_message.as_deref().map(str::to_owned),
            outcome: r.outcome().map(str::to_owned),
            signin_endpoint: r
                .tls_details
                .as_ref()
                .and_then(|t| t.client_provided_host_header.as_deref())
                .map(str::to_owned),
            src_geo: r.src_geo.clone(),
        }
    }
}

/// Facts about the detected event, taken from the record and its envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct EventFacts {
    pub event_id: String,
    pub event_time: Timestamp,
    pub account: String,
    pub region: String,
    pub principal: Principal,
    pub src: String,
    pub user_agent: Option<String>,
    pub signature: String,
    pub dest: String,
    pub mfa_used: Option<String>,
    pub error_message: Option<String>,
    pub outcome: Option<String>,
    pub signin_endpoint: Option<String>,
    /// Where the source address is (sign-in records).
    pub src_geo: Option<std::sync::Arc<super::geo::SrcGeo>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_ids_are_stable_and_field_sensitive() {
        let a: CloudTrailRecord = serde_json::from_str(
            r#"{"eventTime":"2024-01-01T00:00:00Z","sourceIPAddress":"1.2.3.4"}"#,
        )
        .unwrap();
        let b: CloudTrailRecord = serde_json::from_str(
            r#"{"sourceIPAddress":"1.2.3.4","eventTime":"2024-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        let c: CloudTrailRecord = serde_json::from_str(
            r#"{"eventTime":"2024-01-01T00:00:01Z","sourceIPAddress":"1.2.3.4"}"#,
        )
        .unwrap();
        let (a, b, c) = (Observed::bare(a), Observed::bare(b), Observed::bare(c));
        // Pinned: the id of a record without eventID must not change
        // between versions, or a redelivery would count again.
        assert_eq!(a.event_id(), "synthetic-d89f7e20465381313215eed8f98778a7");
        assert_eq!(a.event_id(), b.event_id());
        assert_ne!(a.event_id(), c.event_id());
    }

    #[test]
    fn account_and_time_fall_back_in_order() {
        let r: CloudTrailRecord =
            serde_json::from_str(r#"{"recipientAccountId":"222","eventTime":"redacted"}"#).unwrap();
        let env: Envelope = serde_json::from_str(
            r#"{"account":"333","time":"2024-05-05T05:05:05Z","region":"eu-north-1"}"#,
        )
        .unwrap();
        let o = Observed {
            record: r,
            envelope: Some(env),
        };
        assert_eq!(o.account(), "222");
        assert_eq!(o.region(), "eu-north-1");
        let received = Timestamp::parse("2024-05-05T06:00:00Z").unwrap();
        assert_eq!(o.event_time(received).to_string(), "2024-05-05T05:05:05Z");
    }
}
