//! The CloudTrail record as the rules read it.
//!
//! `aws_lambda_events`' `SignIn` struct makes fields such as `userIdentity.arn`
//! required, and real sign-in records omit them (failed logins carry no ARN; a
//! mistyped user name has no principalId). This model makes every field
//! optional, borrows strings from the input where it can, ignores unknown keys
//! and treats a field of the wrong JSON type as absent.
//!
//! [`CloudTrailRecord::field`] is what a Sigma rule sees: the fields named in
//! [`FIELDS`], and the string entries of the objects in [`STRING_MAPS`].

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

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
    /// `responseElements`: the outcome of a sign-in step (`ConsoleLogin`,
    /// `GetSigninToken`, `CheckMfa`, ...), by the step's name.
    #[serde(borrow, default)]
    pub response_elements: Strings<'a>,
    /// `additionalEventData`, read by key (see [`Strings::from_text`]).
    #[serde(borrow, default, deserialize_with = "additional_event_data")]
    pub additional_event_data: Strings<'a>,
    /// `serviceEventDetails`: IAM Identity Center's outcomes
    /// (`CredentialVerification`, `CredentialChallenge`, ...).
    #[serde(borrow, default)]
    pub service_event_details: Strings<'a>,
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
    /// Where the source address is (`src_*` fields): set on sign-in records
    /// by [`CloudTrailRecord::enrich`], never read from
    /// the record.
    #[serde(skip)]
    pub src_geo: Option<std::sync::Arc<super::geo::SrcGeo>>,
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
    pub access_key_id: Text<'a>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub user_name: Text<'a>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub invoked_by: Text<'a>,
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
    pub principal_id: Text<'a>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub arn: Text<'a>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub account_id: Text<'a>,
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub user_name: Text<'a>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsDetails<'a> {
    #[serde(borrow, default, deserialize_with = "lenient::string")]
    pub client_provided_host_header: Text<'a>,
}

/// The string entries of a JSON object, read by key whatever the key order
/// and whatever other keys sit beside them; entries of other types are left
/// out, and anything but an object reads as empty.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Strings<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'a> Strings<'a> {
    /// The value under `key` (exact, as JSON keys are).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every entry, in the order of the input.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v.as_ref()))
    }

    /// Parses the string forms downstream copies of `additionalEventData`
    /// hold: the object serialised as JSON, or Elastic's flattened
    /// `{MobileVersion=No, MFAUsed=No}`. Elastic's rule reads MFAUsed by its
    /// position in that string; this reads it by key.
    pub fn from_text(text: &str) -> Strings<'static> {
        let trimmed = text.trim();
        if let Ok(parsed) = serde_json::from_str::<Strings>(trimmed) {
            return parsed.into_owned();
        }
        let Some(inner) = trimmed.strip_prefix('{').and_then(|t| t.strip_suffix('}')) else {
            return Strings::default();
        };
        Strings(
            inner
                .split(',')
                .filter_map(|pair| pair.split_once('='))
                .map(|(k, v)| {
                    (
                        Cow::Owned(k.trim().to_owned()),
                        Cow::Owned(v.trim().to_owned()),
                    )
                })
                .collect(),
        )
    }

    pub fn into_owned(self) -> Strings<'static> {
        Strings(
            self.0
                .into_iter()
                .map(|(k, v)| (Cow::Owned(k.into_owned()), Cow::Owned(v.into_owned())))
                .collect(),
        )
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Strings<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StringsVisitor { text_forms: false })
    }
}

/// `additionalEventData`: an object, or one of its string forms.
fn additional_event_data<'de, D: Deserializer<'de>>(d: D) -> Result<Strings<'de>, D::Error> {
    d.deserialize_any(StringsVisitor { text_forms: true })
}

struct StringsVisitor {
    /// Whether a string holds the object in one of its text forms.
    text_forms: bool,
}

impl<'de> Visitor<'de> for StringsVisitor {
    type Value = Strings<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if let Some(value) = map.next_value_seed(LenientString)? {
                out.push((key, value));
            }
        }
        Ok(Strings(out))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(if self.text_forms {
            Strings::from_text(v)
        } else {
            Strings::default()
        })
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Strings::default())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Strings::default())
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Strings::default())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Strings::default())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Strings::default())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Strings::default())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Strings::default())
    }
}

struct LenientString;

impl<'de> de::DeserializeSeed<'de> for LenientString {
    type Value = Option<Cow<'de, str>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        lenient::string(d)
    }
}

/// The fields a rule may name, besides the entries of [`STRING_MAPS`].
pub const FIELDS: &[&str] = &[
    "eventVersion",
    "eventTime",
    "eventSource",
    "eventName",
    "eventType",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "errorCode",
    "errorMessage",
    "requestID",
    "eventID",
    "recipientAccountId",
    "userIdentity.type",
    "userIdentity.principalId",
    "userIdentity.arn",
    "userIdentity.accountId",
    "userIdentity.accessKeyId",
    "userIdentity.userName",
    "userIdentity.invokedBy",
    "userIdentity.sessionContext.sessionIssuer.type",
    "userIdentity.sessionContext.sessionIssuer.principalId",
    "userIdentity.sessionContext.sessionIssuer.arn",
    "userIdentity.sessionContext.sessionIssuer.accountId",
    "userIdentity.sessionContext.sessionIssuer.userName",
    "tlsDetails.clientProvidedHostHeader",
];

/// Objects whose string entries a rule may name as `OBJECT.KEY`, for any key.
pub const STRING_MAPS: &[&str] = &[
    "additionalEventData",
    "responseElements",
    "serviceEventDetails",
];

/// Whether a rule may name `path`: one of [`FIELDS`], or `OBJECT.KEY` for
/// one of [`STRING_MAPS`] and a key without dots.
pub fn is_known_field(path: &str) -> bool {
    FIELDS.contains(&path)
        || super::geo::FIELDS.contains(&path)
        || STRING_MAPS.iter().any(|map| {
            path.strip_prefix(map)
                .and_then(|rest| rest.strip_prefix('.'))
                .is_some_and(|key| !key.is_empty() && !key.contains('.'))
        })
}

/// Compares a field with a value the way Splunk's search and Sigma do:
/// ignoring ASCII case. AWS's own documentation shows `"MFAUsed": "YES"`.
/// The one case-insensitive comparison of record fields.
pub fn field_is(value: Option<&str>, expected: &str) -> bool {
    value.is_some_and(|v| v.eq_ignore_ascii_case(expected))
}

/// The `eventSource` of every console sign-in record.
pub const SIGNIN_EVENT_SOURCE: &str = "signin.amazonaws.com";

impl<'a> CloudTrailRecord<'a> {
    pub fn event_name(&self) -> Option<&str> {
        self.event_name.as_deref()
    }

    pub fn identity_type(&self) -> Option<&str> {
        self.user_identity.as_ref()?.kind.as_deref()
    }

    pub fn mfa_used(&self) -> Option<&str> {
        self.additional_event_data.get("MFAUsed")
    }

    pub fn login_to(&self) -> Option<&str> {
        self.additional_event_data.get("LoginTo")
    }

    /// Whether the object is a CloudTrail record at all: every record holds
    /// at least one of eventSource, eventName and eventID (an object with
    /// none is something else, and reading it as an empty record would
    /// acknowledge and lose it).
    pub fn looks_like_cloudtrail(&self) -> bool {
        self.event_source.is_some() || self.event_name.is_some() || self.event_id.is_some()
    }

    pub fn is_from_signin(&self) -> bool {
        field_is(self.event_source.as_deref(), SIGNIN_EVENT_SOURCE)
    }

    /// Sets `src_geo` on a sign-in record that has none yet: only sign-in
    /// records are enriched.
    pub fn enrich(&mut self, locator: &super::geo::Locator) {
        if self.src_geo.is_none() && self.is_from_signin() {
            let src = self.source_ip_address.as_deref().unwrap_or_default();
            self.src_geo = Some(std::sync::Arc::new(locator.locate(src)));
        }
    }

    /// The outcome AWS recorded for this sign-in step, when it recorded one:
    /// `responseElements` (or, for IAM Identity Center, `serviceEventDetails`)
    /// under the event's name.
    pub fn outcome(&self) -> Option<&str> {
        let name = self.event_name()?;
        self.response_elements
            .get(name)
            .or_else(|| self.service_event_details.get(name))
    }

    pub fn session_issuer(&self) -> Option<&SessionIssuer<'a>> {
        self.user_identity
            .as_ref()?
            .session_context
            .as_ref()?
            .session_issuer
            .as_ref()
    }

    /// The value a rule sees under `path` (see [`is_known_field`]); `None`
    /// for a field the record lacks or holds with another JSON type.
    pub fn field(&self, path: &str) -> Option<&str> {
        let ui = self.user_identity.as_ref();
        let issuer = || self.session_issuer();
        match path {
            "eventVersion" => self.event_version.as_deref(),
            "eventTime" => self.event_time.as_deref(),
            "eventSource" => self.event_source.as_deref(),
            "eventName" => self.event_name.as_deref(),
            "eventType" => self.event_type.as_deref(),
            "awsRegion" => self.aws_region.as_deref(),
            "sourceIPAddress" => self.source_ip_address.as_deref(),
            "userAgent" => self.user_agent.as_deref(),
            "errorCode" => self.error_code.as_deref(),
            "errorMessage" => self.error_message.as_deref(),
            "requestID" => self.request_id.as_deref(),
            "eventID" => self.event_id.as_deref(),
            "recipientAccountId" => self.recipient_account_id.as_deref(),
            "userIdentity.type" => ui?.kind.as_deref(),
            "userIdentity.principalId" => ui?.principal_id.as_deref(),
            "userIdentity.arn" => ui?.arn.as_deref(),
            "userIdentity.accountId" => ui?.account_id.as_deref(),
            "userIdentity.accessKeyId" => ui?.access_key_id.as_deref(),
            "userIdentity.userName" => ui?.user_name.as_deref(),
            "userIdentity.invokedBy" => ui?.invoked_by.as_deref(),
            "userIdentity.sessionContext.sessionIssuer.type" => issuer()?.kind.as_deref(),
            "userIdentity.sessionContext.sessionIssuer.principalId" => {
                issuer()?.principal_id.as_deref()
            }
            "userIdentity.sessionContext.sessionIssuer.arn" => issuer()?.arn.as_deref(),
            "userIdentity.sessionContext.sessionIssuer.accountId" => {
                issuer()?.account_id.as_deref()
            }
            "userIdentity.sessionContext.sessionIssuer.userName" => issuer()?.user_name.as_deref(),
            "tlsDetails.clientProvidedHostHeader" => self
                .tls_details
                .as_ref()?
                .client_provided_host_header
                .as_deref(),
            _ if path.starts_with("src_") => self.src_geo.as_deref()?.field(path),
            _ => {
                let (map, key) = path.split_once('.')?;
                match map {
                    "additionalEventData" => self.additional_event_data.get(key),
                    "responseElements" => self.response_elements.get(key),
                    "serviceEventDetails" => self.service_event_details.get(key),
                    _ => None,
                }
            }
        }
    }

    /// Every string a rule's keywords may match: the values of all fields a
    /// rule may name.
    pub fn for_each_value(&self, mut f: impl FnMut(&str)) {
        for path in FIELDS {
            if let Some(v) = self.field(path) {
                f(v);
            }
        }
        for map in [
            &self.additional_event_data,
            &self.response_elements,
            &self.service_event_details,
        ] {
            for (_, v) in map.iter() {
                f(v);
            }
        }
    }
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
            assert_eq!(
                r.field("additionalEventData.MFAUsed"),
                Some("Yes"),
                "{json}"
            );
        }
    }

    #[test]
    fn odd_shapes_read_as_absent_not_errors() {
        let json = r#"{"eventName":"ConsoleLogin","userIdentity":"redacted","eventTime":12,
            "additionalEventData":null,"responseElements":null,"sourceIPAddress":["x"],
            "tlsDetails":7,"serviceEventDetails":"text","somethingNew":{"a":1}}"#;
        let r: CloudTrailRecord = serde_json::from_str(json).unwrap();
        assert_eq!(r.event_name(), Some("ConsoleLogin"));
        assert!(r.user_identity.is_none());
        assert!(r.event_time.is_none());
        assert_eq!(r.mfa_used(), None);
        assert!(r.source_ip_address.is_none());
        assert!(r.service_event_details.is_empty());
        assert_eq!(r.field("userIdentity.type"), None);
    }

    #[test]
    fn outcome_follows_event_name() {
        let r: CloudTrailRecord = serde_json::from_str(
            r#"{"eventName":"GetSigninToken","responseElements":{"GetSigninToken":"Success","ConsoleLogin":"Failure"}}"#,
        )
        .unwrap();
        assert_eq!(r.outcome(), Some("Success"));
        let r: CloudTrailRecord = serde_json::from_str(
            r#"{"eventName":"CredentialVerification","responseElements":null,"serviceEventDetails":{"CredentialVerification":"Failure"}}"#,
        )
        .unwrap();
        assert_eq!(r.outcome(), Some("Failure"));
    }

    #[test]
    fn every_field_a_rule_may_name_is_read() {
        let r: CloudTrailRecord = serde_json::from_str(
            r#"{"eventVersion":"1","eventTime":"2","eventSource":"3","eventName":"4","eventType":"5",
                "awsRegion":"6","sourceIPAddress":"7","userAgent":"8","errorCode":"9","errorMessage":"10",
                "requestID":"11","eventID":"12","recipientAccountId":"13",
                "userIdentity":{"type":"14","principalId":"15","arn":"16","accountId":"17","accessKeyId":"18",
                  "userName":"19","invokedBy":"20","sessionContext":{"sessionIssuer":{"type":"21",
                  "principalId":"22","arn":"23","accountId":"24","userName":"25"}}},
                "tlsDetails":{"clientProvidedHostHeader":"26"},
                "additionalEventData":{"SamlProviderArn":"27"},"responseElements":{"ConsoleLogin":"28"},
                "serviceEventDetails":{"CredentialChallenge":"29"}}"#,
        )
        .unwrap();
        let values: Vec<String> = FIELDS
            .iter()
            .map(|f| r.field(f).unwrap_or_else(|| panic!("{f}")).to_owned())
            .collect();
        let want: Vec<String> = (1..=FIELDS.len()).map(|i| i.to_string()).collect();
        assert_eq!(values, want);
        for (path, value) in [
            ("additionalEventData.SamlProviderArn", "27"),
            ("responseElements.ConsoleLogin", "28"),
            ("serviceEventDetails.CredentialChallenge", "29"),
        ] {
            assert!(is_known_field(path));
            assert_eq!(r.field(path), Some(value));
        }
        for unknown in [
            "requestParameters.bucketName",
            "additionalEventData",
            "additionalEventData.",
            "additionalEventData.a.b",
            "userIdentity",
            "eventname",
        ] {
            assert!(!is_known_field(unknown), "{unknown}");
        }
        let mut all = Vec::new();
        r.for_each_value(|v| all.push(v.to_owned()));
        assert_eq!(all.len(), FIELDS.len() + 3);
    }
}
