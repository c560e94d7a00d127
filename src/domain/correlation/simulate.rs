//! A correlation's inline tests: its steps' records fed in order to the pure
//! transition, with a state per group, as a store would feed them.

use std::collections::HashMap;

use super::state::{self, GroupState};
use super::{FeedSource, feeds};
use crate::domain::geo::Locator;
use crate::domain::observed::Observed;
use crate::domain::record::CloudTrailRecord;
use crate::domain::rules::Rule;
use crate::domain::rules::correlation::{Correlation, Slot};
use crate::domain::rules::inline::{SequenceTest, TestFailure};
use crate::domain::time::Timestamp;

/// Runs one inline test: the alerts it gives, or why it could not run.
fn alerts_of(c: &Correlation, test: &SequenceTest, locator: &Locator) -> Result<usize, String> {
    let rules: Vec<&Rule> = c.slots.iter().flat_map(slot_rules).collect();
    let mut states: HashMap<Vec<(String, String)>, GroupState> = HashMap::new();
    let mut alerts = 0;
    for text in &test.records {
        let mut record: CloudTrailRecord =
            serde_json::from_str(text).map_err(|e| format!("not a CloudTrail record: {e}"))?;
        record.enrich(locator);
        let observed = Observed::bare(record);
        let matched: Vec<&Rule> = rules
            .iter()
            .copied()
            .filter(|r| r.matches(&observed.record))
            .collect();
        // A test's records are read at their own times, whenever it runs.
        let time = observed.stated_time().unwrap_or(Timestamp::from_millis(0));
        let source = FeedSource::new(&observed, time);
        for (group, event) in feeds(c, &source, &matched) {
            let state = states.entry(group).or_default();
            let tr = state::feed(c, state, &event);
            alerts += tr.alerts.len();
            *state = tr.state;
        }
    }
    Ok(alerts)
}

fn slot_rules(slot: &Slot) -> Vec<&Rule> {
    match slot {
        Slot::Rule(r) => vec![r.as_ref()],
        Slot::Count(inner) => inner.slots.iter().flat_map(slot_rules).collect(),
    }
}

/// Runs a correlation's inline tests, each record located by `locator`.
pub fn run(c: &Correlation, locator: &Locator) -> Vec<TestFailure> {
    let mut failures = Vec::new();
    for test in &c.tests {
        let reason = match alerts_of(c, test, locator) {
            Ok(n) if n == test.alerts => continue,
            Ok(n) => format!("{n} alerts, where the test wants {}", test.alerts),
            Err(e) => e,
        };
        failures.push(TestFailure {
            label: test.label.clone(),
            case: test.case,
            reason,
        });
    }
    failures
}
