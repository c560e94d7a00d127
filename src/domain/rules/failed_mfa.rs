use super::{ObjectRef, Rule, RuleSource, Severity, Technique};
use crate::domain::record::{CloudTrailRecord, field_is};

/// Splunk ESCU "AWS Console Login Failed During MFA Challenge".
pub static FAILED_MFA: Rule = Rule {
    id: "55349868-5583-466f-98ab-d3beb321961e",
    key: "failed-mfa",
    name: "AWS Console Login Failed During MFA Challenge",
    source: RuleSource {
        vendor: "Splunk ESCU",
        url: "https://github.com/splunk/security_content/blob/develop/detections/cloud/aws_console_login_failed_during_mfa_challenge.yml",
        version: "splunk/security_content detections/cloud/aws_console_login_failed_during_mfa_challenge.yml",
        status: "production",
    },
    description: "A console sign-in failed although MFA was used: the password was right and the second \
        factor was not. Someone may hold the user's password and be trying, or bombarding the user with, \
        MFA prompts.",
    severity: Severity::Medium,
    risk_score: 50,
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
            id: "T1586.003",
            name: "Compromise Accounts: Cloud Accounts",
            tactics: &["Resource Development"],
        },
        Technique {
            id: "T1621",
            name: "Multi-Factor Authentication Request Generation",
            tactics: &["Credential Access"],
        },
    ],
    title_template: "User $user$ failed to pass MFA challenge while logging into console from $src$",
    references: &[
        "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-aws-console-sign-in-events.html",
        "https://attack.mitre.org/techniques/T1621/",
        "https://attack.mitre.org/techniques/T1586/003/",
    ],
    known_false_positives: &[
        "A legitimate user mistypes or lets a one-time code expire (clock drift on the device, a 30-second TOTP window).",
        "A user who recently replaced or re-registered an MFA device.",
    ],
    investigation_steps: &[
        "Ask the user whether they were signing in at that time, from that address.",
        "Look for a successful ConsoleLogin or CheckMfa for the same user shortly before or after, and from which source IP.",
        "Count failed MFA sign-ins for the user in the last hour: many in minutes suggests MFA fatigue (T1621).",
        "If the user did not sign in, treat the password as compromised: reset it and review the user's MFA devices.",
    ],
    tuning: "Expected noise is low. Raise the suppression window or the escalation tiers rather than \
        allowlisting: a failed MFA challenge from an unknown address is worth seeing.",
    matches,
};

fn matches(r: &CloudTrailRecord<'_>) -> bool {
    field_is(r.event_name(), "ConsoleLogin")
        && field_is(r.error_message.as_deref(), "Failed authentication")
        && field_is(r.mfa_used(), "Yes")
}
