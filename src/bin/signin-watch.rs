//! `signin-watch`: replay CloudTrail archives through the detection rules.

use std::io::{self, BufWriter};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use signin_watch::app::replay::{Format, ReplayOptions, replay};
use signin_watch::config::{self, DetectorConfig};

#[derive(Parser)]
#[command(
    version,
    about = "Detects risky AWS console sign-ins in CloudTrail records."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replays CloudTrail records (EventBridge events, bare records, S3 log
    /// files plain or .json.gz, JSON Lines, directories) through the rules and
    /// prints one finding per detection.
    Replay(ReplayArgs),
}

#[derive(clap::Args)]
struct ReplayArgs {
    /// Files or directories (directories are walked for *.json, *.jsonl, *.ndjson, *.json.gz).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
    /// Minutes of event time after a notification during which a group's further detections do not notify.
    #[arg(long, env = config::SUPPRESSION_MINUTES)]
    suppression_minutes: Option<String>,
    /// Counts at which a detection notifies whatever the window, e.g. 5,25,100.
    #[arg(long, env = config::ESCALATION_TIERS)]
    escalation_tiers: Option<String>,
    /// Rules to switch off, by key or id (failed-mfa, federated-single-factor).
    #[arg(long, env = config::DISABLED_RULES)]
    disabled_rules: Option<String>,
    /// Rule 2: session issuers (ARN or name) to let pass; comma-separated or a JSON array.
    #[arg(long, env = config::RULE2_ALLOW_ISSUERS)]
    rule2_allow_issuers: Option<String>,
    /// Rule 2: user agents to let pass (exact, or a prefix ending in *); a JSON array when they hold commas.
    #[arg(long, env = config::RULE2_ALLOW_USER_AGENTS)]
    rule2_allow_user_agents: Option<String>,
    /// Rule 2: source CIDR blocks to let pass.
    #[arg(long, env = config::RULE2_ALLOW_CIDRS)]
    rule2_allow_cidrs: Option<String>,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Never draw the progress line.
    #[arg(long)]
    no_progress: bool,
}

impl ReplayArgs {
    fn detector_config(&self) -> Result<DetectorConfig, config::ConfigError> {
        DetectorConfig::from_lookup(|var| {
            match var {
                config::SUPPRESSION_MINUTES => &self.suppression_minutes,
                config::ESCALATION_TIERS => &self.escalation_tiers,
                config::DISABLED_RULES => &self.disabled_rules,
                config::RULE2_ALLOW_ISSUERS => &self.rule2_allow_issuers,
                config::RULE2_ALLOW_USER_AGENTS => &self.rule2_allow_user_agents,
                config::RULE2_ALLOW_CIDRS => &self.rule2_allow_cidrs,
                _ => &None,
            }
            .clone()
        })
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Replay(args) => {
            let config = match args.detector_config() {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("signin-watch: invalid setting {e}");
                    return ExitCode::from(2);
                }
            };
            let options = ReplayOptions {
                format: args.format,
                progress: !args.no_progress,
                threads: args.threads,
            };
            let stdout = io::stdout();
            let mut out = BufWriter::with_capacity(64 << 10, stdout.lock());
            let mut err = io::stderr();
            match replay(&args.paths, config, &options, &mut out, &mut err) {
                Ok(summary) if summary.bad_records > 0 => ExitCode::from(1),
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("signin-watch: {e}");
                    ExitCode::from(2)
                }
            }
        }
    }
}
