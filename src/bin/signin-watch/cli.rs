//! The command line: what `signin-watch` accepts, as clap types.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use signin_watch::app::replay::Format;
use signin_watch::config::{self, ConfigError, DetectorConfig};
use signin_watch::render::ProductTarget;

/// `--version`: the program's, and the embedded geo data's.
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\ngeo data: ",
    include_str!("../../../data/geo/SOURCE")
);

#[derive(Parser)]
#[command(
    version,
    long_version = LONG_VERSION,
    about = "Detects risky AWS console sign-ins in CloudTrail records."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Replays CloudTrail records (EventBridge events, bare records, S3 log
    /// files plain or .json.gz, JSON Lines, directories) through the rules and
    /// prints one finding per detection.
    Replay(ReplayArgs),
    /// Enqueues the trail objects of s3://BUCKET/PREFIX on the bucket path's
    /// queue, as S3 notifications, so that the deployed function processes an
    /// archive in parallel (the queue mapping's maximum concurrency throttles it).
    Backfill(BackfillArgs),
    /// Handles again, with the function's settings (SIGNIN_WATCH_TABLE,
    /// SIGNIN_WATCH_TOPIC_ARN, ...), the events a queue of failed events
    /// holds (the stack's FailedEventsQueueUrl or UndeliveredEventsQueueUrl):
    /// each eventID counts once, owed notifications are sent, and each
    /// message handled is deleted. Exit status 1 when some failed again.
    Redrive(RedriveArgs),
    /// Lists, tests and checks the rules: the compiled pack and your own.
    Rules {
        #[command(subcommand)]
        action: RulesAction,
    },
}

#[derive(Subcommand)]
pub enum RulesAction {
    /// Every rule: name, id, level, kind, source, enabled.
    List(DetectorArgs),
    /// Runs every rule's and filter's inline tests; exit status 1 on any failure.
    Test(DetectorArgs),
    /// Loads rule files on their own, inline tests included, and says what is wrong.
    Check {
        /// Sigma rule or filter files; lists of networks load from networks/ beside them.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// A directory of MaxMind-format geo databases the inline tests run with (else the embedded data).
        #[arg(long = "geoip", value_name = "DIR", env = config::geo::GEOIP_DIR)]
        geoip: Option<String>,
    },
    /// The event names the enabled rules need beyond the template's
    /// EventBridge pattern (the `ExtraEventNames` parameter), and the whole pattern.
    Pattern(DetectorArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// One JSON finding per line.
    Json,
    /// The email rendering of each finding.
    Text,
    /// One OCSF 1.8.0 Detection Finding per line (class 2004), digests included.
    Ocsf,
    /// One AWS Security Finding Format finding per line, as Security Hub would import it.
    Asff,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Json => Format::Json,
            FormatArg::Text => Format::Text,
            FormatArg::Ocsf => Format::Ocsf,
            FormatArg::Asff => Format::Asff,
        }
    }
}

#[derive(clap::Args)]
pub struct ReplayArgs {
    /// Files, directories (walked for *.json, *.jsonl, *.ndjson, *.json.gz),
    /// or s3://BUCKET/PREFIX (a trail bucket: its CloudTrail log files).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub days: DaysArgs,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = FormatArg::Json)]
    pub format: FormatArg,
    /// With --format asff: the Security Hub product to import into,
    /// arn:aws:securityhub:REGION:ACCOUNT:product/ACCOUNT/default (the
    /// detector's account and region).
    #[arg(
        long,
        value_name = "ARN",
        value_parser = parse_product_arn,
        required_if_eq("format", "asff")
    )]
    pub product_arn: Option<ProductTarget>,
    #[command(flatten)]
    pub detector: DetectorArgs,
    /// Also write the backtest report, one self-contained HTML page: per
    /// rule, detections and notifications over time, the top groups, tuning
    /// hints and the first findings.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Never draw the progress line.
    #[arg(long)]
    pub no_progress: bool,
}

/// Which days of a trail bucket to read: only those date partitions are listed.
#[derive(clap::Args, Clone)]
pub struct DaysArgs {
    /// The first day (YYYY-MM-DD, UTC) of s3:// inputs to read.
    #[arg(long, value_parser = parse_day)]
    pub since: Option<signin_watch::domain::time::Timestamp>,
    /// The last day (YYYY-MM-DD, UTC, inclusive) of s3:// inputs to read.
    #[arg(long, value_parser = parse_day)]
    pub until: Option<signin_watch::domain::time::Timestamp>,
}

fn parse_day(text: &str) -> Result<signin_watch::domain::time::Timestamp, String> {
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_owned()
    };
    signin_watch::domain::time::Timestamp::parse(&full)
        .ok_or_else(|| format!("{text:?} is not a day (YYYY-MM-DD) or an RFC 3339 time"))
}

#[derive(clap::Args)]
pub struct RedriveArgs {
    /// The queue's URL.
    pub queue_url: String,
    /// Messages read at most.
    #[arg(long, default_value_t = 10_000)]
    pub max: usize,
}

#[derive(clap::Args)]
pub struct BackfillArgs {
    /// The trail bucket and prefix, s3://BUCKET/PREFIX.
    pub url: String,
    #[command(flatten)]
    pub days: DaysArgs,
    /// The bucket path's queue URL (the stack's TrailObjectsQueueUrl output).
    #[arg(long)]
    pub queue: String,
    /// Never draw the progress line.
    #[arg(long)]
    pub no_progress: bool,
}

/// The detector's settings: each flag, else its environment variable.
#[derive(clap::Args)]
pub struct DetectorArgs {
    /// A directory of Sigma rules and filters (*.yml, *.yaml) added to the
    /// compiled pack; a rule with a pack rule's id replaces it.
    #[arg(long = "rules", value_name = "DIR", env = config::RULES_DIR)]
    rules_dir: Option<String>,
    /// A directory of MaxMind-format geo databases (*.mmdb: GeoLite2 or GeoIP2 Country, City and ASN, DB-IP, IPinfo) that replace the embedded data.
    #[arg(long = "geoip", value_name = "DIR", env = config::geo::GEOIP_DIR)]
    geoip_dir: Option<String>,
    /// Minutes of event time after a notification during which a group's further detections do not notify.
    #[arg(long, env = config::SUPPRESSION_MINUTES)]
    suppression_minutes: Option<String>,
    /// Detections of events before this time (e.g. 2026-12-07T00:00:00Z) are counted and remembered but notify nobody.
    #[arg(long, env = config::QUIET_BEFORE)]
    quiet_before: Option<String>,
    /// Counts at which a detection notifies whatever the window, e.g. 5,25,100.
    #[arg(long, env = config::ESCALATION_TIERS)]
    escalation_tiers: Option<String>,
    /// Messages per rule per hour of event time; the rest fold into one digest per rule and hour (0: no budget).
    #[arg(long, env = config::BUDGET_PER_RULE_HOUR)]
    notify_budget: Option<String>,
    /// Values of the rules' placeholders: name=a,b;other=c, or a JSON object of lists (e.g. expected_countries=DE,FR).
    #[arg(long, env = config::PLACEHOLDERS)]
    placeholders: Option<String>,
    /// Rules to switch off, by name or id (see `signin-watch rules list`).
    #[arg(long, env = config::DISABLED_RULES)]
    disabled_rules: Option<String>,
    /// Rule 2: session issuers (ARN or name) to let pass; comma-separated or a JSON array.
    #[arg(long, env = config::RULE2_ALLOW_ISSUERS)]
    rule2_allow_issuers: Option<String>,
    /// Rule 2: user agents to let pass (exact, or a prefix ending in *), only with issuers or CIDRs; a JSON array when they hold commas.
    #[arg(long, env = config::RULE2_ALLOW_USER_AGENTS)]
    rule2_allow_user_agents: Option<String>,
    /// Rule 2: source CIDR blocks to let pass.
    #[arg(long, env = config::RULE2_ALLOW_CIDRS)]
    rule2_allow_cidrs: Option<String>,
}

impl DetectorArgs {
    /// `--rules DIR`, else `SIGNIN_WATCH_RULES_DIR`, when set.
    pub fn rules_dir(&self) -> Option<&str> {
        self.rules_dir.as_deref().filter(|d| !d.trim().is_empty())
    }

    /// `--geoip DIR`, else `SIGNIN_WATCH_GEOIP_DIR`, when set.
    pub fn geoip_dir(&self) -> Option<&str> {
        self.geoip_dir.as_deref().filter(|d| !d.trim().is_empty())
    }

    /// The settings given, by their variables' names, for the report.
    pub fn given(&self) -> Vec<(&'static str, String)> {
        [
            (config::SUPPRESSION_MINUTES, &self.suppression_minutes),
            (config::QUIET_BEFORE, &self.quiet_before),
            (config::ESCALATION_TIERS, &self.escalation_tiers),
            (config::BUDGET_PER_RULE_HOUR, &self.notify_budget),
            (config::PLACEHOLDERS, &self.placeholders),
            (config::DISABLED_RULES, &self.disabled_rules),
            (config::RULE2_ALLOW_ISSUERS, &self.rule2_allow_issuers),
            (
                config::RULE2_ALLOW_USER_AGENTS,
                &self.rule2_allow_user_agents,
            ),
            (config::RULE2_ALLOW_CIDRS, &self.rule2_allow_cidrs),
            (config::RULES_DIR, &self.rules_dir),
            (config::geo::GEOIP_DIR, &self.geoip_dir),
        ]
        .into_iter()
        .filter_map(|(name, v)| {
            v.as_ref()
                .filter(|v| !v.trim().is_empty())
                .map(|v| (name, v.clone()))
        })
        .collect()
    }

    /// The detector's settings: each flag, else its environment variable.
    pub fn detector_config(&self) -> Result<DetectorConfig, ConfigError> {
        DetectorConfig::from_lookup(|var| {
            match var {
                config::SUPPRESSION_MINUTES => &self.suppression_minutes,
                config::QUIET_BEFORE => &self.quiet_before,
                config::ESCALATION_TIERS => &self.escalation_tiers,
                config::BUDGET_PER_RULE_HOUR => &self.notify_budget,
                config::DISABLED_RULES => &self.disabled_rules,
                config::RULE2_ALLOW_ISSUERS => &self.rule2_allow_issuers,
                config::RULE2_ALLOW_USER_AGENTS => &self.rule2_allow_user_agents,
                config::RULE2_ALLOW_CIDRS => &self.rule2_allow_cidrs,
                config::RULES_DIR => &self.rules_dir,
                config::geo::GEOIP_DIR => &self.geoip_dir,
                config::PLACEHOLDERS => &self.placeholders,
                _ => &None,
            }
            .clone()
        })
    }
}

/// `--product-arn`: a Security Hub default product's ARN.
fn parse_product_arn(arn: &str) -> Result<ProductTarget, String> {
    ProductTarget::from_product_arn(arn).ok_or_else(|| {
        format!(
            "{arn:?} is not a default product's ARN: \
             arn:aws:securityhub:REGION:ACCOUNT:product/ACCOUNT/default, ACCOUNT 12 digits"
        )
    })
}
