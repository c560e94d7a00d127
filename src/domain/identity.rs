//! Who signed in, as a person reading a finding would name them.

use super::record::{CloudTrailRecord, field_is};

/// The user name CloudTrail writes when the name typed at the sign-in page
/// matched no user: AWS hides it in case it was a password typed into the
/// wrong box. Kept as is: it is a signal in itself.
pub const HIDDEN_USER: &str = "HIDDEN_DUE_TO_SECURITY_REASONS";

/// What a finding says about the principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The name findings and counters group by.
    pub user: String,
    pub identity_type: Option<String>,
    pub arn: Option<String>,
    /// The role or user that issued a temporary session (ARN, else name).
    pub session_issuer: Option<String>,
}

/// Names the user the way the detection rules' authors do:
/// IAMUser → userName, Root → `root`, FederatedUser → the federated user's
/// name, AssumedRole → the role session name; otherwise the best name the
/// record holds, and `unknown` when it holds none.
/// Whether `s` is an AWS account id: twelve digits.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

pub fn principal(record: &CloudTrailRecord<'_>) -> Principal {
    let ui = record.user_identity.as_ref();
    let kind = ui.and_then(|u| u.kind.as_deref());
    let arn = ui.and_then(|u| u.arn.as_deref()).filter(|a| !a.is_empty());
    let user_name = ui
        .and_then(|u| u.user_name.as_deref())
        .filter(|n| !n.is_empty());
    let principal_id = ui
        .and_then(|u| u.principal_id.as_deref())
        .filter(|p| !p.is_empty());

    let after_colon = || {
        principal_id
            .and_then(|p| p.split_once(':'))
            .map(|(_, name)| name)
    };
    let user = if field_is(kind, "Root") {
        Some("root")
    } else if field_is(kind, "IAMUser") {
        user_name.or_else(|| arn.and_then(|a| arn_resource(a, "user/")))
    } else if field_is(kind, "FederatedUser") {
        arn.and_then(|a| arn_resource(a, "federated-user/"))
            .or_else(after_colon)
            .or(user_name)
    } else if field_is(kind, "AssumedRole") {
        arn.and_then(role_session_name)
            .or_else(after_colon)
            .or(user_name)
    } else {
        user_name
            .or_else(|| arn.and_then(|a| a.rsplit('/').next()))
            .or(principal_id)
    }
    .filter(|u| !u.is_empty())
    .unwrap_or("unknown")
    .to_owned();

    let issuer = record.session_issuer();
    let issuer_arn = issuer
        .and_then(|i| i.arn.as_deref())
        .filter(|a| !a.is_empty());
    let issuer_name = issuer
        .and_then(|i| i.user_name.as_deref())
        .filter(|n| !n.is_empty());

    Principal {
        user,
        identity_type: kind.map(str::to_owned),
        arn: arn.map(str::to_owned),
        session_issuer: issuer_arn.or(issuer_name).map(str::to_owned),
    }
}

/// Who a baseline remembers (the `principal` field): the person where AWS
/// or an identity provider names one, else what the caller could not
/// choose. An IAM user's or root's ARN; an assumed role's session when the
/// session is a person (IAM Identity Center's `AWSReservedSSO_` roles, a
/// SAML sign-in); otherwise the role itself, since whoever assumes a role
/// names the session (a new name a sign-in would make a principal with no
/// history); a federated user's issuer (the IAM user that minted the
/// token), since the caller of GetFederationToken names the user.
pub fn baseline_principal(record: &CloudTrailRecord<'_>, principal: &Principal) -> String {
    let arn = principal.arn.as_deref();
    let kind = principal.identity_type.as_deref();
    if field_is(kind, "AssumedRole")
        && let Some(arn) = arn
        && let Some((role, _session)) = arn
            .splitn(6, ':')
            .nth(5)
            .and_then(|r| r.strip_prefix("assumed-role/"))
            .and_then(|r| r.split_once('/'))
    {
        let saml = record
            .field("additionalEventData.SamlProviderArn")
            .is_some_and(|v| !v.is_empty());
        if !(role.starts_with("AWSReservedSSO_") || saml) {
            let prefix_len = arn.len() - arn.rsplit('/').next().map_or(0, |s| s.len() + 1);
            return arn[..prefix_len].to_owned();
        }
    }
    if field_is(kind, "FederatedUser")
        && let Some(issuer) = principal.session_issuer.as_deref()
    {
        return issuer.to_owned();
    }
    arn.map_or_else(|| principal.user.clone(), str::to_owned)
}

/// The resource after `prefix` in an ARN's last field, e.g. `alice` from
/// `arn:aws:iam::111122223333:user/alice` or from a path `user/ops/alice`.
fn arn_resource<'a>(arn: &'a str, prefix: &str) -> Option<&'a str> {
    let resource = arn.splitn(6, ':').nth(5)?;
    let rest = resource.strip_prefix(prefix)?;
    rest.rsplit('/').next().filter(|s| !s.is_empty())
}

/// `SESSION` from `arn:aws:sts::111122223333:assumed-role/ROLE/SESSION`.
fn role_session_name(arn: &str) -> Option<&str> {
    let resource = arn.splitn(6, ':').nth(5)?;
    let rest = resource.strip_prefix("assumed-role/")?;
    let (_role, session) = rest.split_once('/')?;
    Some(session).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(user_identity: &str) -> Principal {
        let json = format!(r#"{{"userIdentity":{user_identity}}}"#);
        let record: CloudTrailRecord = serde_json::from_str(&json).unwrap();
        principal(&record)
    }

    #[test]
    fn iam_user_is_user_name_even_without_arn() {
        let p = who(
            r#"{"type":"IAMUser","principalId":"AIDA","accountId":"1","accessKeyId":"","userName":"anaya"}"#,
        );
        assert_eq!(p.user, "anaya");
        assert_eq!(p.arn, None);
        assert_eq!(p.identity_type.as_deref(), Some("IAMUser"));
    }

    #[test]
    fn hidden_user_name_is_kept() {
        let p = who(
            r#"{"type":"IAMUser","accountId":"1","accessKeyId":"","userName":"HIDDEN_DUE_TO_SECURITY_REASONS"}"#,
        );
        assert_eq!(p.user, HIDDEN_USER);
    }

    #[test]
    fn root_is_root() {
        let p = who(
            r#"{"type":"Root","principalId":"111122223333","arn":"arn:aws:iam::111122223333:root"}"#,
        );
        assert_eq!(p.user, "root");
    }

    #[test]
    fn federated_user_from_arn_then_principal_id() {
        let p = who(
            r#"{"type":"FederatedUser","principalId":"1:other","arn":"arn:aws:sts::1:federated-user/admin",
               "sessionContext":{"sessionIssuer":{"type":"IAMUser","arn":"arn:aws:iam::1:user/broker","userName":"broker"}}}"#,
        );
        assert_eq!(p.user, "admin");
        assert_eq!(
            p.session_issuer.as_deref(),
            Some("arn:aws:iam::1:user/broker")
        );
        let p = who(r#"{"type":"FederatedUser","principalId":"111122223333:stratus_red_team"}"#);
        assert_eq!(p.user, "stratus_red_team");
    }

    #[test]
    fn assumed_role_is_session_name() {
        let p = who(
            r#"{"type":"AssumedRole","principalId":"AROA:jane@example.com",
               "arn":"arn:aws:sts::1:assumed-role/AWSReservedSSO_Admin_0123/jane@example.com"}"#,
        );
        assert_eq!(p.user, "jane@example.com");
        let p = who(r#"{"type":"AssumedRole","principalId":"AROA:bob"}"#);
        assert_eq!(p.user, "bob");
    }

    #[test]
    fn nothing_known_is_unknown() {
        assert_eq!(who(r#"{}"#).user, "unknown");
        assert_eq!(
            who(r#"{"type":"Unknown","arn":"","principalId":""}"#).user,
            "unknown"
        );
        assert_eq!(
            who(r#"{"type":"Unknown","userName":"exampleuser"}"#).user,
            "exampleuser"
        );
    }

    #[test]
    fn a_baseline_remembers_people_and_roles_not_names_the_caller_chose() {
        let of = |user_identity: &str, extra: &str| {
            let json = format!(r#"{{"userIdentity":{user_identity}{extra}}}"#);
            let record: CloudTrailRecord = serde_json::from_str(&json).unwrap();
            baseline_principal(&record, &principal(&record))
        };
        assert_eq!(
            of(
                r#"{"type":"IAMUser","arn":"arn:aws:iam::1:user/ops/ana","userName":"ana"}"#,
                ""
            ),
            "arn:aws:iam::1:user/ops/ana"
        );
        // A role assumed with a session name of the caller's choosing: the role.
        assert_eq!(
            of(
                r#"{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/Admin/anything-at-all"}"#,
                ""
            ),
            "arn:aws:sts::1:assumed-role/Admin"
        );
        // Identity Center and SAML name the person in the session.
        assert_eq!(
            of(
                r#"{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/AWSReservedSSO_Admin_0123/ana@example.com"}"#,
                ""
            ),
            "arn:aws:sts::1:assumed-role/AWSReservedSSO_Admin_0123/ana@example.com"
        );
        assert_eq!(
            of(
                r#"{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/Okta/ana@example.com"}"#,
                r#","additionalEventData":{"SamlProviderArn":"arn:aws:iam::1:saml-provider/Okta"}"#
            ),
            "arn:aws:sts::1:assumed-role/Okta/ana@example.com"
        );
        // A federated user's name is the caller's: its issuer.
        assert_eq!(
            of(
                r#"{"type":"FederatedUser","arn":"arn:aws:sts::1:federated-user/x","sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::1:user/broker"}}}"#,
                ""
            ),
            "arn:aws:iam::1:user/broker"
        );
        assert_eq!(of(r#"{"type":"IAMUser","userName":"bo"}"#, ""), "bo");
    }
}
