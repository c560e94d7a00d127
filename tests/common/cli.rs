//! The crate's `signin-watch` binary as a user runs it, and what it printed:
//! the one place the tests build its command.

use std::process::{Command, Output};

use serde_json::Value;

/// Settings a developer's shell may hold that change what the pack does.
const CALLERS_SETTINGS: &[&str] = &[
    "SIGNIN_WATCH_DISABLED_RULES",
    "SIGNIN_WATCH_RULES_DIR",
    "SIGNIN_WATCH_NOTIFY_BUDGET_PER_RULE_HOUR",
];

/// A command for `binary` (one of the crate's) with none of the caller's
/// settings that change what the pack does.
pub fn command(binary: &str) -> Command {
    let mut command = Command::new(binary);
    for name in CALLERS_SETTINGS {
        command.env_remove(name);
    }
    command
}

/// `signin-watch ARGS`, not yet run.
pub fn signin_watch(args: &[&str]) -> Command {
    let mut command = command(env!("CARGO_BIN_EXE_signin-watch"));
    command.args(args);
    command
}

/// `signin-watch ARGS`, run.
pub fn run(args: &[&str]) -> Output {
    signin_watch(args).output().expect("the binary runs")
}

/// `signin-watch replay ARGS`, run.
pub fn replay(args: &[&str]) -> Output {
    signin_watch(&[&["replay"], args].concat())
        .output()
        .expect("the binary runs")
}

/// What a command printed, standard output then standard error.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A command's standard output as JSON lines.
pub fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// A command's standard error as text.
pub fn stderr_text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
