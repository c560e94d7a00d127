use super::{ObjectRef, Rule, RuleSource, Severity, Technique};
use crate::domain::record::{CloudTrailRecord, SIGNIN_EVENT_SOURCE, field_is};

const VALID_ACCOUNTS_TACTICS: &[&str] = &[
    "Defense Evasion",
    "Persistence",
    "Privilege Escalation",
    "Initial Access",
];

/// Elastic "AWS Signin Single Factor Console Login with Federated User".
///
/// Elastic retired this rule upstream in October 2025: CloudTrail never
/// records MFA for a federated user's console sign-in, so `MFAUsed` is always
/// "No" and every federation broker's sign-in matches. It is kept here because
/// an unexpected federated console sign-in is still worth seeing; operators
/// tune it with allowlists (see `tuning`).
pub static FEDERATED_SINGLE_FACTOR: Rule = Rule {
    id: "1f45720e-5ea8-11ef-90d2-f661ea17fbce",
    key: "federated-single-factor",
    name: "AWS Signin Single Factor Console Login with Federated User",
    source: RuleSource {
        vendor: "Elastic",
        url: "https://github.com/elastic/detection-rules",
        version: "elastic/detection-rules, updated 2025-03-20",
        status: "retired upstream in October 2025 (always-No MFAUsed for federated users); kept, tunable",
    },
    description: "A federated user (temporary credentials from GetFederationToken) obtained a console \
        sign-in token without MFA. Stolen long-term keys can be turned into a console session this way, \
        bypassing the MFA that a password sign-in would require.",
    severity: Severity::Medium,
    risk_score: 47,
    risk_object: ObjectRef {
        field: "user",
        kind: "user",
    },
    threat_object: ObjectRef {
        field: "src",
        kind: "ip_address",
    },
    mitre: &[
        Technique {
            id: "TA0001",
            name: "Initial Access",
            tactics: &[],
        },
        Technique {
            id: "T1078",
            name: "Valid Accounts",
            tactics: VALID_ACCOUNTS_TACTICS,
        },
        Technique {
            id: "T1078.004",
            name: "Valid Accounts: Cloud Accounts",
            tactics: VALID_ACCOUNTS_TACTICS,
        },
    ],
    title_template: "Federated user $user$ signed in to the console without MFA from $src$",
    references: &[
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_enable-console-custom-url.html",
        "https://hackingthe.cloud/aws/post_exploitation/create_a_console_session_from_iam_credentials/",
        "https://attack.mitre.org/techniques/T1078/004/",
    ],
    known_false_positives: &[
        "Every federated console sign-in: CloudTrail records MFAUsed \"No\" for federated users even when \
         the identity provider enforced MFA (the reason Elastic retired the rule).",
        "Custom identity brokers and tools that build console URLs from GetFederationToken credentials.",
    ],
    investigation_steps: &[
        "Identify the session issuer (the IAM user whose keys called GetFederationToken) and whether it is a known broker.",
        "Check the source IP and user agent against the broker's usual hosts and tooling.",
        "Review the issuer's recent GetFederationToken calls and the federated session's console activity.",
        "If unexpected, deactivate the issuer's access keys: federated sessions outlive key rotation until they expire.",
    ],
    tuning: "Allowlist known brokers: SIGNIN_WATCH_RULE2_ALLOW_ISSUERS (issuer ARN or name), \
        SIGNIN_WATCH_RULE2_ALLOW_USER_AGENTS (exact, or with a trailing *), \
        SIGNIN_WATCH_RULE2_ALLOW_CIDRS (your egress ranges); or switch the rule off with \
        SIGNIN_WATCH_DISABLED_RULES=federated-single-factor.",
    matches,
};

fn matches(r: &CloudTrailRecord<'_>) -> bool {
    field_is(r.event_source.as_deref(), SIGNIN_EVENT_SOURCE)
        && field_is(r.event_name(), "GetSigninToken")
        && field_is(r.event_type.as_deref(), "AwsConsoleSignIn")
        && field_is(r.identity_type(), "FederatedUser")
        && field_is(r.mfa_used(), "No")
}
