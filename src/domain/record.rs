//! The CloudTrail record as the rules read it.
//!
//! `aws_lambda_events`' `SignIn` struct makes fields such as `userIdentity.arn`
//! required, and real sign-in records omit them (failed logins carry no ARN; a
//! mistyped user name has no principalId). This model makes every field
//! optional, borrows strings from the input where it can, ignores unknown keys
//! and treats a field of the wrong JSON type as absent.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::lenient;

type Text<'a> = Option<Cow<'a, str>>;

/// One CloudTrail event record.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudTrailRecord<'a> {
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub event_version: Text<'a>,
    #[serde(borrow, default, deserialize_with = "lenient::object")]
    pub user_identity: Option<UserIdentity<'a>>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub event_time: Text<'a>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub event_source: Text<'a>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub event_name: Text<'a>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub aws_region: Text<'a>,
    #[serde(
        borrow,
        default,
        rename = "sourceIPAddress",
        deserialize_with = "lenient::string"
    )]
    pub source_ip_address: Text<'a>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub user_agent: Text<'a>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub error_code: Text<'a>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub error_message: Text<'a>,
    #[serde(borrow, default, deserialize_with = "lenient::object")]
    pub response_elements: Option<ResponseElements<'a>>,
    #[serde(borrow, default)]
    pub additional_event_data: Option<AdditionalEventData<'a>>,
    #[serde(
        borrow,
        default,
        rename = "requestID",
        deserialize_with = "lenient::string"
    )]
    pub request_id: Text<'a>,
    #[serde(
        borrow,
        default,
        rename = "eventID",
        deserialize_with = "lenient::string"
    )]
    pub event_id: Text<'a>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub event_type: Text<'a>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub recipient_account_id: Text<'a>,
    #[serde(borrow, default, deserialize_with = "lenient::object")]
    pub tls_details: Option<TlsDetails<'a>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity<'a> {
    #[serde(borrow, default, rename = "type", deserialize_with = "lenient::string")]
    pub kind: Text<'a>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub principal_id: Text<'a>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub arn: Text<'a>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub account_id: Text<'a>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub user_name: Text<'a>,
    #[serde(borrow, default, deserialize_with = "lenient::object")]
    pub session_context: Option<SessionContext<'a>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionContext<'a> {
    #[serde(borrow, default, deserialize_with = "lenient::object")]
    pub session_issuer: Option<SessionIssuer<'a>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionIssuer<'a> {
    #[serde(borrow, default, rename = "type", deserialize_with = "lenient::string")]
    pub kind: Text<'a>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub arn: Text<'a>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub user_name: Text<'a>,
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct ResponseElements<'a> {
    #[serde(
        borrow,
        default,
        rename = "ConsoleLogin",
        deserialize_with = "lenient::string"
    )]
    pub console_login: Text<'a>,
    #[serde(
        borrow,
        default,
        rename = "GetSigninToken",
        deserialize_with = "lenient::string"
    )]
    pub get_signin_token: Text<'a>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsDetails<'a> {
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub client_provided_host_header: Text<'a>,
}

/// `additionalEventData`, read by key whatever the key order and whatever
/// other keys sit beside the ones we need.
///
/// Raw CloudTrail always writes an object. Downstream copies sometimes hold a
/// string instead: the object serialised as JSON, or Elastic's flattened
/// `{MobileVersion=No, MFAUsed=No}`. Elastic's rule reads MFAUsed by its
/// position in that string; we parse the string and read it by key.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AdditionalEventData<'a> {
    pub login_to: Text<'a>,
    pub mobile_version: Text<'a>,
    pub mfa_used: Text<'a>,
    pub mfa_identifier: Text<'a>,
}

impl<'a> AdditionalEventData<'a> {
    fn set(&mut self, key: &str, value: Cow<'a, str>) {
        match key {
            "LoginTo" => self.login_to = Some(value),
            "MobileVersion" => self.mobile_version = Some(value),
            "MFAUsed" => self.mfa_used = Some(value),
            "MFAIdentifier" => self.mfa_identifier = Some(value),
            _ => {}
        }
    }

    /// Parses the string forms: a JSON object, or Elastic's `{k=v, k=v}`.
    pub fn from_text(text: &str) -> Option<AdditionalEventData<'static>> {
        let trimmed = text.trim();
        if let Ok(parsed) = serde_json::from_str::<AdditionalEventData>(trimmed) {
            return Some(parsed.into_owned());
        }
        let inner = trimmed.strip_prefix('{')?.strip_suffix('}')?;
        let mut out = AdditionalEventData::default();
        for pair in inner.split(',') {
            if let Some((k, v)) = pair.split_once('=') {
                out.set(k.trim(), Cow::Owned(v.trim().to_owned()));
            }
        }
        Some(out)
    }

    pub fn into_owned(self) -> AdditionalEventData<'static> {
        AdditionalEventData {
            login_to: self.login_to.map(|c| Cow::Owned(c.into_owned())),
            mobile_version: self.mobile_version.map(|c| Cow::Owned(c.into_owned())),
            mfa_used: self.mfa_used.map(|c| Cow::Owned(c.into_owned())),
            mfa_identifier: self.mfa_identifier.map(|c| Cow::Owned(c.into_owned())),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for AdditionalEventData<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = AdditionalEventData<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object or a string")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = AdditionalEventData::default();
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    match key.as_ref() {
                        "LoginTo" | "MobileVersion" | "MFAUsed" | "MFAIdentifier" => {
                            let value: Text<'de> = map.next_value_seed(LenientString)?;
                            if let Some(value) = value {
                                out.set(&key, value);
                            }
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(out)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(AdditionalEventData::from_text(v).unwrap_or_default())
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(AdditionalEventData::default())
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(AdditionalEventData::default())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(AdditionalEventData::default())
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(AdditionalEventData::default())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(AdditionalEventData::default())
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(AdditionalEventData::default())
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

struct LenientString;

impl<'de> de::DeserializeSeed<'de> for LenientString {
    type Value = Option<Cow<'de, str>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        lenient::string(d)
    }
}

impl<'a> CloudTrailRecord<'a> {
    pub fn event_name(&self) -> Option<&str> {
        self.event_name.as_deref()
    }

    pub fn identity_type(&self) -> Option<&str> {
        self.user_identity.as_ref()?.kind.as_deref()
    }

    pub fn mfa_used(&self) -> Option<&str> {
        self.additional_event_data.as_ref()?.mfa_used.as_deref()
    }

    pub fn login_to(&self) -> Option<&str> {
        self.additional_event_data.as_ref()?.login_to.as_deref()
    }

    pub fn is_from_signin(&self) -> bool {
        field_is(self.event_source.as_deref(), SIGNIN_EVENT_SOURCE)
    }

    /// The outcome AWS recorded for this sign-in step, when it recorded one.
    pub fn outcome(&self) -> Option<&str> {
        let re = self.response_elements.as_ref()?;
        if field_is(self.event_name(), "GetSigninToken") {
            re.get_signin_token.as_deref()
        } else {
            re.console_login.as_deref()
        }
    }

    pub fn session_issuer(&self) -> Option<&SessionIssuer<'a>> {
        self.user_identity
            .as_ref()?
            .session_context
            .as_ref()?
            .session_issuer
            .as_ref()
    }
}

/// The `eventSource` of every console sign-in record.
pub const SIGNIN_EVENT_SOURCE: &str = "signin.amazonaws.com";

/// Compares a field with a value the way Splunk's search and Sigma do:
/// ignoring ASCII case. AWS's own documentation shows `"MFAUsed": "YES"`.
/// The one case-insensitive comparison of record fields.
pub fn field_is(value: Option<&str>, expected: &str) -> bool {
    value.is_some_and(|v| v.eq_ignore_ascii_case(expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mfa_used_by_key_whatever_the_order_or_extra_keys() {
        for json in [
            r#"{"additionalEventData":{"LoginTo":"x","MobileVersion":"No","MFAUsed":"Yes"}}"#,
            r#"{"additionalEventData":{"MFAUsed":"Yes","MobileVersion":"No"}}"#,
            r#"{"additionalEventData":{"MfaType":"Virtual MFA","MFAIdentifier":"arn:aws:iam::1:mfa/a","Extra":{"x":[1]},"MFAUsed":"Yes"}}"#,
            r#"{"additionalEventData":"{\"MobileVersion\":\"No\",\"MFAUsed\":\"Yes\"}"}"#,
            r#"{"additionalEventData":"{MobileVersion=No, MFAUsed=Yes}"}"#,
            r#"{"additionalEventData":"{MFAUsed=Yes, MobileVersion=No}"}"#,
        ] {
            let r: CloudTrailRecord = serde_json::from_str(json).unwrap();
            assert_eq!(r.mfa_used(), Some("Yes"), "{json}");
        }
    }

    #[test]
    fn odd_shapes_read_as_absent_not_errors() {
        let json = r#"{"eventName":"ConsoleLogin","userIdentity":"redacted","eventTime":12,
            "additionalEventData":null,"responseElements":null,"sourceIPAddress":["x"],
            "tlsDetails":7,"somethingNew":{"a":1}}"#;
        let r: CloudTrailRecord = serde_json::from_str(json).unwrap();
        assert_eq!(r.event_name(), Some("ConsoleLogin"));
        assert!(r.user_identity.is_none());
        assert!(r.event_time.is_none());
        assert_eq!(r.mfa_used(), None);
        assert!(r.source_ip_address.is_none());
    }

    #[test]
    fn outcome_follows_event_name() {
        let r: CloudTrailRecord = serde_json::from_str(
            r#"{"eventName":"GetSigninToken","responseElements":{"GetSigninToken":"Success","ConsoleLogin":"Failure"}}"#,
        )
        .unwrap();
        assert_eq!(r.outcome(), Some("Success"));
    }
}
