//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use signin_watch::domain::observed::Observed;
use signin_watch::intake::{ItemKind, decode_item};

pub fn repo_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Every sample in events/, by file name, sorted.
pub fn event_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_path("events"))
        .expect("events/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

pub fn file_name(p: &std::path::Path) -> String {
    p.file_name()
        .expect("a file name")
        .to_string_lossy()
        .into_owned()
}

/// Decodes one sample file and hands each record to `f`.
pub fn with_records(path: &std::path::Path, mut f: impl FnMut(Observed<'_>)) {
    let bytes = std::fs::read(path).expect("readable sample");
    decode_item(&bytes, ItemKind::Any, &mut f)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

#[cfg(feature = "lambda")]
pub mod moto;
pub mod runtime_api;
pub mod store_contract;

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}
