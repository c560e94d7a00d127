//! `signin-watch`: replays CloudTrail archives through the detection rules.
//! The composition root: parse the command line, read the settings once,
//! build the detector, hand it to the replay.
#![forbid(unsafe_code)]

mod cli;
mod progress;
#[cfg(feature = "lambda")]
mod redrive;
mod report;
mod rules;
#[cfg(feature = "s3")]
mod s3;

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;

use cli::{Cli, Command, ReplayArgs, RulesAction};
use progress::{ProgressLine, peak_rss_note};
use signin_watch::adapters::memory_store::MemoryStore;
use signin_watch::app::backtest::Backtest;
use signin_watch::app::detector::Detector;
use signin_watch::app::replay::{Replay, ReplayOptions};

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Replay(args) => replay(&args),
        Command::Backfill(args) => backfill(&args),
        Command::Redrive(args) => {
            #[cfg(feature = "lambda")]
            {
                redrive::redrive(&args)
            }
            #[cfg(not(feature = "lambda"))]
            {
                let _ = args;
                fail("this build has no AWS support (build with --features lambda)")
            }
        }
        Command::Rules { action } => match action {
            RulesAction::List(args) => rules::list(&args),
            RulesAction::Test(args) => rules::test(&args),
            RulesAction::Check { files, geoip } => rules::check(&files, geoip.as_deref()),
            RulesAction::Pattern(args) => rules::pattern(&args),
        },
    }
}

/// Exit status 0; 1 when some record could not be read; 2 when nothing
/// could be done (a setting, a path, the output).
fn replay(args: &ReplayArgs) -> ExitCode {
    let started = Instant::now();
    let config = match args.detector.detector_config() {
        Ok(c) => c,
        Err(e) => return fail(&format!("invalid setting {e}")),
    };
    let (urls, paths): (Vec<_>, Vec<_>) = args
        .paths
        .iter()
        .cloned()
        .partition(|p| p.to_str().is_some_and(|s| s.starts_with("s3://")));
    let replay = match Replay::new(&paths) {
        Ok(r) => r,
        Err(e) => return fail(&e.to_string()),
    };
    #[cfg_attr(not(feature = "s3"), allow(unused_mut))]
    let mut threads = args.threads;
    #[cfg(feature = "s3")]
    let _s3_inputs;
    let replay = if urls.is_empty() {
        replay
    } else {
        #[cfg(feature = "s3")]
        {
            let inputs = match s3::S3Inputs::new() {
                Ok(i) => i,
                Err(e) => return fail(&e),
            };
            let mut objects = Vec::new();
            for url in &urls {
                match inputs.list(&url.to_string_lossy(), &args.days) {
                    Ok(listing) => objects.extend(listing.objects),
                    Err(e) => return fail(&e),
                }
            }
            if threads == 0 {
                threads = s3::OBJECT_WORKERS;
            }
            let replay = inputs.replay(replay, objects);
            _s3_inputs = inputs;
            replay
        }
        #[cfg(not(feature = "s3"))]
        {
            return fail("this build reads no s3:// inputs (build with --features s3)");
        }
    };
    if let Some(warning) = config
        .rules
        .locator()
        .staleness(signin_watch::domain::time::Timestamp::now())
    {
        eprintln!("signin-watch: warning: {warning}");
    }
    // The report's file is opened before the replay, which may take hours:
    // a path that cannot be written fails now.
    let context = match &args.report {
        Some(path) => {
            match report::ReportContext::new(path, &args.detector, &config, replay.input_names()) {
                Ok(c) => Some(c),
                Err(e) => return fail(&e),
            }
        }
        None => None,
    };
    let detector = Detector::new(config.rules, config.policy, MemoryStore::new());
    let options = ReplayOptions {
        format: args.format.into(),
        product: args.product_arn.clone(),
        threads,
    };
    let mut out = BufWriter::with_capacity(64 << 10, io::stdout().lock());
    let mut err = io::stderr();
    let progress =
        (!args.no_progress).then(|| ProgressLine::start(replay.progress(), replay.total_bytes()));
    let mut backtest = Backtest::new();
    let result = match &context {
        Some(_) => replay.run_reporting(&detector, &options, &mut out, &mut err, &mut backtest),
        None => replay.run(&detector, &options, &mut out, &mut err),
    };
    drop(progress);
    match result {
        Ok(summary) => {
            if let (Some(context), Some(path)) = (context, &args.report) {
                if let Err(e) = context.write(&summary, backtest) {
                    return fail(&e);
                }
                let _ = writeln!(err, "signin-watch: report written to {}", path.display());
            }
            let secs = started.elapsed().as_secs_f64().max(1e-9);
            let mb = summary.bytes as f64 / 1e6;
            let _ = writeln!(
                err,
                "{summary}; {mb:.1} MB in {secs:.2} s ({:.0} MB/s){}",
                mb / secs,
                peak_rss_note()
            );
            if summary.bad_records > 0 || summary.failed_detections > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => fail(&e.to_string()),
    }
}

/// Exit status 0 when every object was enqueued; 2 otherwise.
fn backfill(args: &cli::BackfillArgs) -> ExitCode {
    #[cfg(feature = "s3")]
    {
        match s3::backfill(args) {
            Ok(summary) => {
                eprintln!("{summary}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        }
    }
    #[cfg(not(feature = "s3"))]
    {
        let _ = args;
        fail("this build has no S3 support (build with --features s3)")
    }
}

pub(crate) fn fail(message: &str) -> ExitCode {
    eprintln!("signin-watch: {message}");
    ExitCode::from(2)
}
