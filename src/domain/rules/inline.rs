//! The inline tests each rule and filter carries (`signin_watch.tests`):
//! records with the verdict the rule must give them.

use serde::Deserialize;

use super::{Filter, Rule};
use crate::domain::geo::Locator;
use crate::domain::record::CloudTrailRecord;

/// What a test record is to the rule (or filter) that carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Case {
    /// The rule must match.
    Positive,
    /// Close to a positive, one condition off: the rule must not match.
    NearMiss,
    /// Another kind of event: the rule must not match.
    Unrelated,
    /// For a filter: it lets a match of its rules pass.
    Allowlisted,
    /// For a filter: it keeps the match.
    Kept,
}

impl Case {
    pub fn as_str(self) -> &'static str {
        match self {
            Case::Positive => "positive",
            Case::NearMiss => "near-miss",
            Case::Unrelated => "unrelated",
            Case::Allowlisted => "allowlisted",
            Case::Kept => "kept",
        }
    }
}

/// One inline test: the case, a label for reports, and the record's JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineTest {
    pub case: Case,
    pub label: String,
    pub record: String,
    /// The file of `events/` the test names, when it names one.
    pub event: Option<String>,
}

/// An inline test that did not give the verdict its case wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestFailure {
    pub label: String,
    pub case: Case,
    pub reason: String,
}

impl std::fmt::Display for TestFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.label,
            self.case.as_str(),
            self.reason
        )
    }
}

/// The test's record, located as the detector locates it.
fn with_record<T>(
    test: &InlineTest,
    locator: &Locator,
    f: impl FnOnce(&CloudTrailRecord<'_>) -> T,
) -> Result<T, String> {
    let mut record: CloudTrailRecord =
        serde_json::from_str(&test.record).map_err(|e| format!("not a CloudTrail record: {e}"))?;
    record.enrich(locator);
    Ok(f(&record))
}

/// Runs a rule's tests against the rule alone (no filter), each record
/// located by `locator` (rules on `src_*` fields need the data they were
/// written for).
pub fn run_rule(rule: &Rule, locator: &Locator) -> Vec<TestFailure> {
    // The rule's own test lists first: its tests are written for them.
    let with_test_lists;
    let locator = if rule.test_lists.is_empty() {
        locator
    } else {
        with_test_lists = locator.with_lists(
            rule.test_lists
                .iter()
                .chain(locator.lists())
                .cloned()
                .collect(),
        );
        &with_test_lists
    };
    let mut failures = Vec::new();
    for test in &rule.tests {
        let want = test.case == Case::Positive;
        let outcome = with_record(test, locator, |r| rule.matches(r));
        let reason = match outcome {
            Ok(got) if got == want => continue,
            Ok(true) => "the rule matches it".to_owned(),
            Ok(false) => "the rule does not match it".to_owned(),
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

/// Runs a filter's tests: whether it lets the record pass.
pub fn run_filter(filter: &Filter, locator: &Locator) -> Vec<TestFailure> {
    let mut failures = Vec::new();
    for test in &filter.tests {
        let want_kept = test.case == Case::Kept;
        let reason = match with_record(test, locator, |r| filter.keeps(r)) {
            Ok(kept) if kept == want_kept => continue,
            Ok(true) => "the filter keeps the match".to_owned(),
            Ok(false) => "the filter lets the match pass".to_owned(),
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

/// A correlation's inline test: steps of generated events, and the number
/// of alerts they must give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceTest {
    pub case: Case,
    pub label: String,
    /// The records, with eventTime and eventID set, in the order fed.
    pub records: Vec<String>,
    pub alerts: usize,
}
