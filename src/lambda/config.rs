//! The function's settings, from its environment, read once at init.

use std::time::Duration;

use crate::adapters::sns::message::MachineBody;
use crate::config::{ConfigError, DetectorConfig, parse_number};
use crate::render::ProductTarget;

pub const TABLE: &str = "SIGNIN_WATCH_TABLE";
pub const TOPIC_ARN: &str = "SIGNIN_WATCH_TOPIC_ARN";
pub const RETENTION_DAYS: &str = "SIGNIN_WATCH_RETENTION_DAYS";
pub const AWS_TIMEOUT_MS: &str = "SIGNIN_WATCH_AWS_TIMEOUT_MS";
pub const AWS_ATTEMPT_TIMEOUT_MS: &str = "SIGNIN_WATCH_AWS_ATTEMPT_TIMEOUT_MS";
pub const METRICS_NAMESPACE: &str = "SIGNIN_WATCH_METRICS_NAMESPACE";
pub const ACCEPT_ANY_SHAPE: &str = "SIGNIN_WATCH_ACCEPT_ANY_SHAPE";
pub const REDRIVE_QUEUE_URLS: &str = "SIGNIN_WATCH_REDRIVE_QUEUE_URLS";
pub const TRAIL_QUEUE_ARN: &str = "SIGNIN_WATCH_TRAIL_QUEUE_ARN";
pub const MAX_OBJECT_MB: &str = "SIGNIN_WATCH_MAX_OBJECT_MB";
pub const EVENT_BUS: &str = "SIGNIN_WATCH_EVENT_BUS";
pub const SECURITY_HUB_PRODUCT_ARN: &str = "SIGNIN_WATCH_SECURITY_HUB_PRODUCT_ARN";
pub const MESSAGE_BODY: &str = "SIGNIN_WATCH_MESSAGE_BODY";

/// The most a trail object may hold decompressed, by default: CloudTrail
/// delivers a file every five minutes per account and region, far smaller.
pub const DEFAULT_MAX_OBJECT_MB: u64 = 2048;

#[derive(Debug, Clone)]
pub struct LambdaConfig {
    pub table: String,
    pub topic_arn: String,
    /// How long counters and per-event items live (DynamoDB TTL). Longer than
    /// any redelivery (EventBridge retries for 24 hours; a dead-letter queue
    /// keeps messages up to 14 days), or a redriven event would count again.
    pub retention_days: u32,
    /// Whole SDK operation, retries included; below the function timeout.
    pub operation_timeout: Duration,
    pub attempt_timeout: Duration,
    pub metrics_namespace: String,
    /// Read bare records, log files and other sources' events too: for
    /// `make local` only (see `intake::envelopes`).
    pub accept_any_shape: bool,
    /// Queues of failed events the scheduled sweep redrives (the failure
    /// destination and EventBridge's dead-letter queue).
    pub redrive_queue_urls: Vec<String>,
    /// The trail bucket's queue, whose messages are read as S3
    /// notifications only.
    pub trail_queue_arn: Option<String>,
    /// The most a trail object may hold decompressed, in MiB.
    pub max_object_mb: u64,
    /// The event bus (name or ARN) that also takes every notification, for
    /// EventBridge rules to route.
    pub event_bus: Option<String>,
    /// The Security Hub product every notification is imported into as an
    /// ASFF finding (the account's default product).
    pub security_hub: Option<ProductTarget>,
    /// What the topic's machine subscribers (HTTPS, SQS, Lambda) receive:
    /// the finding's JSON, or an OCSF Detection Finding.
    pub machine_body: MachineBody,
    pub detector: DetectorConfig,
}

impl LambdaConfig {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |var: &'static str| {
            get(var)
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| ConfigError::new(var, "", "required, and not set"))
        };
        let table = required(TABLE)?;
        let topic_arn = required(TOPIC_ARN)?;
        if !topic_arn.starts_with("arn:") || topic_arn.split(':').count() < 6 {
            return Err(ConfigError::new(
                TOPIC_ARN,
                &topic_arn,
                "expected an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)",
            ));
        }
        let retention_days = match get(RETENTION_DAYS) {
            Some(v) => {
                let days: u32 = parse_number(RETENTION_DAYS, &v, "whole days")?;
                if days < 15 {
                    return Err(ConfigError::new(
                        RETENTION_DAYS,
                        &v,
                        "at least 15 days, so that an event redriven from a dead-letter queue is still recognised",
                    ));
                }
                days
            }
            None => 90,
        };
        let millis = |var: &'static str, default: u64| -> Result<Duration, ConfigError> {
            match get(var) {
                Some(v) => {
                    let ms: u64 = parse_number(var, &v, "milliseconds")?;
                    if ms == 0 {
                        return Err(ConfigError::new(var, &v, "must be more than 0"));
                    }
                    Ok(Duration::from_millis(ms))
                }
                None => Ok(Duration::from_millis(default)),
            }
        };
        // A detection chains up to four calls (read, transaction, publish,
        // confirm): 4 x 5 s stays inside the 60 s function timeout.
        let operation_timeout = millis(AWS_TIMEOUT_MS, 5_000)?;
        let attempt_timeout = millis(AWS_ATTEMPT_TIMEOUT_MS, 2_000)?;
        if attempt_timeout > operation_timeout {
            return Err(ConfigError::new(
                AWS_ATTEMPT_TIMEOUT_MS,
                &attempt_timeout.as_millis().to_string(),
                format!("longer than {AWS_TIMEOUT_MS}"),
            ));
        }
        let accept_any_shape = match get(ACCEPT_ANY_SHAPE).as_deref().map(str::trim) {
            None | Some("" | "false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(ConfigError::new(
                    ACCEPT_ANY_SHAPE,
                    other,
                    "true or false (true only for local tests)",
                ));
            }
        };
        let mut redrive_queue_urls = Vec::new();
        if let Some(v) = get(REDRIVE_QUEUE_URLS) {
            for url in crate::config::parse_list(REDRIVE_QUEUE_URLS, &v)? {
                if !url.starts_with("https://") && !url.starts_with("http://") {
                    return Err(ConfigError::new(
                        REDRIVE_QUEUE_URLS,
                        &v,
                        format!(
                            "{url:?} is not a queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)"
                        ),
                    ));
                }
                redrive_queue_urls.push(url);
            }
        }
        let trail_queue_arn = get(TRAIL_QUEUE_ARN).filter(|v| !v.trim().is_empty());
        if let Some(arn) = &trail_queue_arn
            && (!arn.starts_with("arn:") || !arn.contains(":sqs:"))
        {
            return Err(ConfigError::new(
                TRAIL_QUEUE_ARN,
                arn,
                "expected an SQS queue ARN (arn:aws:sqs:REGION:ACCOUNT:NAME)",
            ));
        }
        let event_bus = get(EVENT_BUS).filter(|v| !v.trim().is_empty());
        if let Some(bus) = &event_bus
            && !valid_bus(bus)
        {
            return Err(ConfigError::new(
                EVENT_BUS,
                bus,
                "expected an event bus's name (letters, digits, . - _ /, up to 256) or ARN (arn:aws:events:REGION:ACCOUNT:event-bus/NAME)",
            ));
        }
        let security_hub = match get(SECURITY_HUB_PRODUCT_ARN).filter(|v| !v.trim().is_empty()) {
            Some(arn) => Some(ProductTarget::from_product_arn(&arn).ok_or_else(|| {
                ConfigError::new(
                    SECURITY_HUB_PRODUCT_ARN,
                    &arn,
                    "expected the account's default product: arn:aws:securityhub:REGION:ACCOUNT:product/ACCOUNT/default",
                )
            })?),
            None => None,
        };
        let machine_body = match get(MESSAGE_BODY).as_deref().map(str::trim) {
            None | Some("") | Some("finding") => MachineBody::Finding,
            Some("ocsf") => MachineBody::Ocsf,
            Some(other) => {
                return Err(ConfigError::new(
                    MESSAGE_BODY,
                    other,
                    "expected finding or ocsf",
                ));
            }
        };
        let max_object_mb = match get(MAX_OBJECT_MB) {
            Some(v) => {
                let mb: u64 = parse_number(MAX_OBJECT_MB, &v, "whole MiB")?;
                if mb == 0 || mb > 1 << 20 {
                    return Err(ConfigError::new(MAX_OBJECT_MB, &v, "from 1 to 1048576 MiB"));
                }
                mb
            }
            None => DEFAULT_MAX_OBJECT_MB,
        };
        Ok(LambdaConfig {
            accept_any_shape,
            trail_queue_arn,
            event_bus,
            security_hub,
            machine_body,
            max_object_mb,
            redrive_queue_urls,
            table,
            topic_arn,
            retention_days,
            operation_timeout,
            attempt_timeout,
            metrics_namespace: get(METRICS_NAMESPACE).unwrap_or_else(|| "SigninWatch".into()),
            detector: DetectorConfig::from_lookup(&get)?,
        })
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }
}

/// An event bus's name (`[/\.\-_A-Za-z0-9]+`, at most 256) or ARN.
fn valid_bus(bus: &str) -> bool {
    if let Some(rest) = bus.strip_prefix("arn:") {
        return rest.split(':').nth(1) == Some("events") && rest.contains(":event-bus/");
    }
    !bus.is_empty()
        && bus.len() <= 256
        && bus
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/.-_".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<LambdaConfig, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        LambdaConfig::from_lookup(|k| map.get(k).cloned())
    }

    const BASE: [(&str, &str); 2] = [
        (TABLE, "t"),
        (TOPIC_ARN, "arn:aws:sns:us-east-1:111122223333:findings"),
    ];

    #[test]
    fn defaults() {
        let c = cfg(&BASE).unwrap();
        assert_eq!(c.retention_days, 90);
        assert_eq!(c.operation_timeout, Duration::from_secs(5));
        assert_eq!(c.attempt_timeout, Duration::from_secs(2));
        assert_eq!(c.metrics_namespace, "SigninWatch");
        assert!(c.redrive_queue_urls.is_empty());
        let mut pairs = BASE.to_vec();
        pairs.push((
            REDRIVE_QUEUE_URLS,
            "https://sqs.us-east-1.amazonaws.com/1/a, https://sqs.us-east-1.amazonaws.com/1/b",
        ));
        assert_eq!(cfg(&pairs).unwrap().redrive_queue_urls.len(), 2);
    }

    #[test]
    fn only_genuine_events_unless_told() {
        assert!(!cfg(&BASE).unwrap().accept_any_shape);
        let mut pairs = BASE.to_vec();
        pairs.push((ACCEPT_ANY_SHAPE, "true"));
        assert!(cfg(&pairs).unwrap().accept_any_shape);
    }

    #[test]
    fn the_findings_bus_is_a_name_or_an_arn() {
        assert_eq!(cfg(&BASE).unwrap().event_bus, None);
        for bus in [
            "signin-watch-findings",
            "arn:aws:events:eu-west-1:111122223333:event-bus/signin-watch-findings",
        ] {
            let mut pairs = BASE.to_vec();
            pairs.push((EVENT_BUS, bus));
            assert_eq!(cfg(&pairs).unwrap().event_bus.as_deref(), Some(bus));
        }
    }

    #[test]
    fn errors_name_the_variable() {
        assert_eq!(cfg(&[]).unwrap_err().var, TABLE);
        assert_eq!(cfg(&[(TABLE, "t")]).unwrap_err().var, TOPIC_ARN);
        for (var, value) in [
            (TOPIC_ARN, "findings"),
            (RETENTION_DAYS, "3"),
            (RETENTION_DAYS, "ninety"),
            (AWS_TIMEOUT_MS, "0"),
            (AWS_ATTEMPT_TIMEOUT_MS, "20000"),
            ("SIGNIN_WATCH_ESCALATION_TIERS", "x"),
            (ACCEPT_ANY_SHAPE, "yes"),
            (REDRIVE_QUEUE_URLS, "failed-events"),
            (EVENT_BUS, "findings bus"),
            (EVENT_BUS, "arn:aws:sns:us-east-1:111122223333:findings"),
            (
                SECURITY_HUB_PRODUCT_ARN,
                "arn:aws:securityhub:us-east-1:111122223333:product/aws/guardduty",
            ),
            (MESSAGE_BODY, "asff"),
        ] {
            let mut pairs = BASE.to_vec();
            pairs.push((var, value));
            let err = cfg(&pairs).unwrap_err();
            assert_eq!(err.var, var, "{err}");
        }
    }
}
