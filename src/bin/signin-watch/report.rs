//! `replay --report FILE.html`: the backtest page. What the replay counted
//! ([`Backtest`]) goes in with what was read, the settings and the rule
//! pack, so that the page says what it is a backtest of.

use std::path::Path;

use signin_watch::app::backtest::{Backtest, CurrentAllowlist};
use signin_watch::app::replay::ReplaySummary;
use signin_watch::config::{self, DetectorConfig};
use signin_watch::domain::rules::FilterTargets;
use signin_watch::render::report::{PackRow, ReadFacts, Report, RuleSection, report_html};

use crate::cli::DetectorArgs;
use crate::rules::{loaded_filters, pack_rows};

/// Inputs listed by name; the rest are counted.
const LISTED_INPUTS: usize = 200;

/// The page's context, taken before the detector takes the settings.
pub struct ReportContext {
    /// The page's file, created before the replay starts.
    file: std::fs::File,
    path: std::path::PathBuf,
    report: Report,
    /// The rule-2 allowlist in effect, which hints add to.
    current: CurrentAllowlist,
}

impl ReportContext {
    /// The context, with the page's file at `path` created.
    pub fn new(
        path: &Path,
        args: &DetectorArgs,
        config: &DetectorConfig,
        inputs: impl Iterator<Item = String>,
    ) -> Result<Self, String> {
        let file = std::fs::File::create(path)
            .map_err(|e| format!("cannot write the report {}: {e}", path.display()))?;
        let given = args.given();
        let is_given = |name: &str| given.iter().any(|(n, _)| *n == name);
        let mark = |name: &str, value: String| {
            if is_given(name) {
                value
            } else {
                format!("{value} (default)")
            }
        };
        let p = &config.policy;
        let mut settings = vec![
            (
                config::SUPPRESSION_MINUTES.to_owned(),
                mark(
                    config::SUPPRESSION_MINUTES,
                    format!("{} minutes", p.suppression_window_minutes),
                ),
            ),
            (
                config::ESCALATION_TIERS.to_owned(),
                mark(
                    config::ESCALATION_TIERS,
                    p.escalation_tiers
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(","),
                ),
            ),
            (
                config::BUDGET_PER_RULE_HOUR.to_owned(),
                mark(
                    config::BUDGET_PER_RULE_HOUR,
                    format!(
                        "{} messages per rule, account and hour",
                        p.budget_per_rule_hour
                    ),
                ),
            ),
            (
                config::QUIET_BEFORE.to_owned(),
                p.quiet_before
                    .map_or_else(|| "none".to_owned(), |t| t.to_string()),
            ),
        ];
        for (name, value) in &given {
            if !settings.iter().any(|(n, _)| n == name) {
                settings.push(((*name).to_owned(), value.clone()));
            }
        }
        let pack = pack_rows(config)
            .into_iter()
            .map(|[name, id, level, kind, source, enabled]| PackRow {
                name,
                id,
                level,
                kind,
                source,
                enabled,
            })
            .collect();
        let filters = loaded_filters(config)
            .iter()
            .map(|f| {
                let targets = match &f.targets {
                    FilterTargets::All => "every rule".to_owned(),
                    FilterTargets::Rules(names) => names.join(", "),
                };
                (
                    format!("{} ({})", f.name, f.origin),
                    format!("{}: {targets}", f.title),
                )
            })
            .collect();
        let mut inputs = inputs;
        let listed: Vec<String> = inputs.by_ref().take(LISTED_INPUTS).collect();
        let more_inputs = inputs.count();
        // The settings loaded, so these parse.
        let list = |var: &'static str| {
            given
                .iter()
                .find(|(n, _)| *n == var)
                .and_then(|(_, v)| config::parse_list(var, v).ok())
                .unwrap_or_default()
        };
        let current = CurrentAllowlist {
            issuers: list(config::RULE2_ALLOW_ISSUERS),
            cidrs: list(config::RULE2_ALLOW_CIDRS),
            user_agents: !list(config::RULE2_ALLOW_USER_AGENTS).is_empty(),
        };
        Ok(ReportContext {
            file,
            path: path.to_owned(),
            current,
            report: Report {
                version: env!("CARGO_PKG_VERSION").to_owned(),
                inputs: listed,
                more_inputs,
                settings,
                pack,
                filters,
                ..Report::default()
            },
        })
    }

    /// Writes the page into its file.
    pub fn write(mut self, summary: &ReplaySummary, backtest: Backtest) -> Result<(), String> {
        let mut report = self.report;
        report.read = ReadFacts {
            files: summary.files,
            bytes: summary.bytes,
            records: summary.records,
            signin_records: summary.signin_records,
            bad_records: summary.bad_records,
            duplicates: summary.duplicates,
            allowlisted: summary.allowlisted,
            too_late: summary.too_late,
            detections: summary.detections,
            notifications: summary.notifications,
            folded: summary.folded,
            digests: summary.digests,
            failed_detections: summary.failed_detections,
            future_dated: summary.future_dated,
            first_event: None,
            last_event: None,
        };
        backtest.fill(&mut report, &self.current);
        // Every rule and correlation that is on has a row, those that
        // detected nothing too.
        for p in &report.pack {
            let kind = p.kind.split('/').next().unwrap_or_default();
            if p.enabled != "yes"
                || kind == "building-block"
                || report.rules.iter().any(|r| r.name == p.name)
            {
                continue;
            }
            report.rules.push(RuleSection {
                name: p.name.clone(),
                id: p.id.clone(),
                kind: kind.to_owned(),
                severity: p.level.clone(),
                ..RuleSection::default()
            });
        }
        use std::io::Write;
        self.file
            .write_all(report_html(&report).as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(|e| format!("writing the report {}: {e}", self.path.display()))
    }
}
