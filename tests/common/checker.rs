//! The payload checkers in `tools/`: a Python program that reads JSON Lines
//! on standard input and checks them against the target's published schema
//! or model, exiting 0 only when every line satisfies it.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// What a checker said, and whether it accepted every line.
pub struct Checked {
    pub accepted: bool,
    pub said: String,
}

/// Runs `python tools/<tool> ARGS` over `lines`.
pub fn check(python: &Path, tool: &str, args: &[&str], lines: &[String]) -> Checked {
    let mut child = Command::new(python)
        .arg(super::repo_path(&format!("tools/{tool}")))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{} runs {tool}: {e}", python.display()));
    {
        let mut stdin = child.stdin.take().expect("a piped stdin");
        for line in lines {
            writeln!(stdin, "{line}").expect("the checker reads its input");
        }
    }
    let out = child.wait_with_output().expect("the checker ends");
    Checked {
        accepted: out.status.success(),
        said: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// A change that breaks a payload, and what the checker must say of it.
pub type Breakage = (&'static str, Box<dyn Fn(&mut serde_json::Value)>);

/// Each breakage of `good`, alone, is refused with its words: the checker
/// can fail.
pub fn refuses_each(python: &Path, tool: &str, good: &serde_json::Value, broken: Vec<Breakage>) {
    for (said, change) in broken {
        let mut payload = good.clone();
        change(&mut payload);
        let checked = check(python, tool, &[], &[payload.to_string()]);
        assert!(!checked.accepted, "{tool} accepted it after {said}");
        assert!(checked.said.contains(said), "{said}: {}", checked.said);
    }
}
