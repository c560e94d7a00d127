//! The command line: what `signin-watch` accepts, as clap types.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use signin_watch::app::replay::Format;
use signin_watch::config::{self, ConfigError, DetectorConfig};

#[derive(Parser)]
#[command(
    version,
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
        /// Sigma rule or filter files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// One JSON finding per line.
    Json,
    /// The email rendering of each finding.
    Text,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Json => Format::Json,
            FormatArg::Text => Format::Text,
        }
    }
}

#[derive(clap::Args)]
pub struct ReplayArgs {
    /// Files or directories (directories are walked for *.json, *.jsonl, *.ndjson, *.json.gz).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = FormatArg::Json)]
    pub format: FormatArg,
    #[command(flatten)]
    pub detector: DetectorArgs,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
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
    /// Minutes of event time after a notification during which a group's further detections do not notify.
    #[arg(long, env = config::SUPPRESSION_MINUTES)]
    suppression_minutes: Option<String>,
    /// Counts at which a detection notifies whatever the window, e.g. 5,25,100.
    #[arg(long, env = config::ESCALATION_TIERS)]
    escalation_tiers: Option<String>,
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

    /// The detector's settings: each flag, else its environment variable.
    pub fn detector_config(&self) -> Result<DetectorConfig, ConfigError> {
        DetectorConfig::from_lookup(|var| {
            match var {
                config::SUPPRESSION_MINUTES => &self.suppression_minutes,
                config::ESCALATION_TIERS => &self.escalation_tiers,
                config::DISABLED_RULES => &self.disabled_rules,
                config::RULE2_ALLOW_ISSUERS => &self.rule2_allow_issuers,
                config::RULE2_ALLOW_USER_AGENTS => &self.rule2_allow_user_agents,
                config::RULE2_ALLOW_CIDRS => &self.rule2_allow_cidrs,
                config::RULES_DIR => &self.rules_dir,
                _ => &None,
            }
            .clone()
        })
    }
}
