//! How bad a detection is: Sigma's levels, and the risk score a rule
//! without its own takes (Splunk's scale).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Informational => "informational",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// The risk score of a rule that gives none of its own.
    pub fn default_risk_score(self) -> u8 {
        match self {
            Severity::Informational => 7,
            Severity::Low => 21,
            Severity::Medium => 47,
            Severity::High => 73,
            Severity::Critical => 90,
        }
    }
}

impl std::str::FromStr for Severity {
    type Err = String;

    /// Sigma's level names: `informational`, `low`, `medium`, `high`,
    /// `critical`.
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "informational" => Severity::Informational,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            other => {
                return Err(format!(
                    "{other:?} is not a severity (informational, low, medium, high, critical)"
                ));
            }
        })
    }
}
