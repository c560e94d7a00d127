//! CloudWatch Embedded Metric Format: one JSON line on stdout per
//! invocation and rule, turned into metrics by CloudWatch Logs. Written by
//! hand: the format is a small documented JSON shape, and a crate for it
//! would bring a metrics facade and a background flusher into a function
//! that runs for milliseconds.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::domain::time::Timestamp;

/// Counts for one rule in one invocation.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RuleCounts {
    pub detections: u64,
    pub published: u64,
    pub suppressed: u64,
    /// Notifications past the rule's hourly budget, folded into its digest.
    pub folded: u64,
    pub duplicates: u64,
    pub allowlisted: u64,
}

/// Counts for one invocation.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct InvocationMetrics {
    pub records: u64,
    pub signin_records: u64,
    pub malformed: u64,
    /// Events not read because AWS did not write them (see `intake::envelopes`).
    pub untrusted: u64,
    /// Correlation groups fed: each one DynamoDB read and one transaction.
    pub correlations_fed: u64,
    /// Correlation feeds older than their group's lateness horizon.
    pub too_late: u64,
    /// Records dated past their receipt, counted at the time of receipt.
    pub future_dated: u64,
    /// Records whose eventTime cannot be read, counted at the time of receipt.
    pub unreadable_times: u64,
    /// Detections that failed for good (the record's others went on).
    pub failed_detections: u64,
    /// SQS messages handed back for want of time before the deadline.
    pub handed_back: u64,
    /// Records of a trail object whose account is not the object key's.
    pub foreign_account_records: u64,
    /// Candidates of a trail object an earlier invocation counted, skipped.
    pub candidates_skipped: u64,
    /// Progress through a trail object that could not be read or recorded.
    pub progress_failures: u64,
    /// Trail objects read, and skipped (digests, objects that are not logs).
    pub objects_read: u64,
    pub objects_skipped: u64,
    /// Digests of folded notifications sent (by the scheduled sweep).
    pub digests_sent: u64,
    /// Digests that failed and stay owed for the next sweep.
    pub digests_failed: u64,
    pub rules: BTreeMap<String, RuleCounts>,
}

impl InvocationMetrics {
    pub fn rule(&mut self, name: &str) -> &mut RuleCounts {
        self.rules.entry(name.to_owned()).or_default()
    }

    /// The EMF lines: totals without dimensions, then one line per rule
    /// with a `Rule` dimension.
    pub fn to_emf(&self, namespace: &str, at: Timestamp) -> Vec<String> {
        let line = |dims: Vec<&str>, values: Vec<(&str, u64)>, extra: Option<(&str, &str)>| {
            let metrics: Vec<Value> = values
                .iter()
                .map(|(n, _)| json!({"Name": n, "Unit": "Count"}))
                .collect();
            let mut root = Map::new();
            root.insert(
                "_aws".into(),
                json!({
                    "Timestamp": at.as_millis(),
                    "CloudWatchMetrics": [{"Namespace": namespace, "Dimensions": [dims], "Metrics": metrics}],
                }),
            );
            if let Some((k, v)) = extra {
                root.insert(k.into(), json!(v));
            }
            for (n, v) in values {
                root.insert(n.into(), json!(v));
            }
            Value::Object(root).to_string()
        };
        let mut out = vec![line(
            vec![],
            vec![
                ("RecordsReceived", self.records),
                ("SigninRecords", self.signin_records),
                ("MalformedRecords", self.malformed),
                ("UntrustedEvents", self.untrusted),
                ("CorrelationsFed", self.correlations_fed),
                ("TooLateForCorrelations", self.too_late),
                ("FutureDatedRecords", self.future_dated),
                ("UnreadableEventTimes", self.unreadable_times),
                ("FailedDetections", self.failed_detections),
                ("MessagesHandedBack", self.handed_back),
                ("ForeignAccountRecords", self.foreign_account_records),
                ("TrailRecordsSkippedAsDone", self.candidates_skipped),
                ("ObjectProgressFailures", self.progress_failures),
                ("TrailObjectsRead", self.objects_read),
                ("TrailObjectsSkipped", self.objects_skipped),
                ("DigestsSent", self.digests_sent),
                ("DigestsFailed", self.digests_failed),
            ],
            None,
        )];
        for (rule, c) in &self.rules {
            out.push(line(
                vec!["Rule"],
                vec![
                    ("Detections", c.detections),
                    ("FindingsPublished", c.published),
                    ("Suppressed", c.suppressed),
                    ("FoldedIntoDigest", c.folded),
                    ("Duplicates", c.duplicates),
                    ("Allowlisted", c.allowlisted),
                ],
                Some(("Rule", rule)),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_lines_follow_the_specification() {
        let mut m = InvocationMetrics {
            records: 3,
            signin_records: 2,
            malformed: 1,
            ..Default::default()
        };
        m.rule("failed-mfa").detections = 1;
        m.rule("failed-mfa").published = 1;
        let lines = m.to_emf("SigninWatch", Timestamp::from_millis(1_700_000_000_000));
        assert_eq!(lines.len(), 2);
        let total: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(total["_aws"]["Timestamp"], 1_700_000_000_000i64);
        assert_eq!(
            total["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "SigninWatch"
        );
        assert_eq!(total["RecordsReceived"], 3);
        let rule: Value = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!(
            rule["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Rule"]])
        );
        assert_eq!(rule["Rule"], "failed-mfa");
        // Every metric named in the directive has a value at the root.
        for m in rule["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
        {
            assert!(rule[m["Name"].as_str().unwrap()].is_u64());
        }
    }
}
