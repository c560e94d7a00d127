//! A replay worker: scans one file at a time (split, prefilter, parse the
//! few candidates, ask the rules), and sends on what the detector must see
//! and what could not be read, in batches, then the file's totals.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc;

use crate::domain::rules::RuleSet;
use crate::intake::source;
use crate::intake::{ItemKind, Prefilter, Scanned, Splitter, decode_item};

/// An item some enabled rule matches: the detector counts it.
pub(super) struct Candidate {
    pub(super) bytes: Vec<u8>,
    pub(super) kind: ItemKind,
}

/// A problem with one record, to report with its file and place.
pub(super) struct BadRecord {
    pub(super) line: u64,
    pub(super) index: u64,
    pub(super) message: String,
}

pub(super) enum Piece {
    Candidate(Candidate),
    Bad(BadRecord),
}

/// What a worker sends about a file: pieces in order, then its totals.
pub(super) enum Report {
    Pieces(Vec<Piece>),
    Done {
        records: u64,
        signin_records: u64,
        /// Why reading stopped before the end of the file.
        error: Option<String>,
    },
}

/// A report about file number `file`.
pub(super) struct Message {
    pub(super) file: usize,
    pub(super) report: Report,
}

const BATCH: usize = 256;

/// Scans file number `file` at `path`, counting the bytes read in
/// `progress`; sends its pieces in batches, then its totals. Reads into
/// `buffer` and leaves it there for the next file.
pub(super) fn scan_file(
    file: usize,
    path: &Path,
    rules: &RuleSet,
    tx: &mpsc::Sender<Message>,
    progress: Arc<AtomicU64>,
    buffer: &mut Vec<u8>,
) {
    let prefilter = Prefilter::default();
    let mut records = 0u64;
    let mut signin_records = 0u64;
    let mut pieces = Vec::new();
    let send = |report| {
        // The receiver goes away only when the replay stops early; the
        // worker then has nothing left to tell.
        let _ = tx.send(Message { file, report });
    };
    let flush = |pieces: &mut Vec<Piece>| {
        if !pieces.is_empty() {
            send(Report::Pieces(std::mem::take(pieces)));
        }
    };
    let result = source::open(path, progress).and_then(|reader| {
        Splitter::with_buffer(reader, std::mem::take(buffer)).run(|scanned| {
            match scanned {
                Scanned::Item(span, bytes) => {
                    if !(span.may_be_candidate && prefilter.is_candidate(bytes)) {
                        records += 1;
                        return;
                    }
                    let mut wanted = false;
                    let mut signin = 0;
                    let decoded = decode_item(bytes, span.kind, &mut |observed| {
                        signin += u64::from(observed.record.is_from_signin());
                        wanted |= rules.any_match(&observed.record);
                    });
                    match decoded {
                        Ok(n) => {
                            records += n as u64;
                            signin_records += signin;
                            if wanted {
                                pieces.push(Piece::Candidate(Candidate {
                                    bytes: bytes.to_vec(),
                                    kind: span.kind,
                                }));
                            }
                        }
                        Err(e) => {
                            records += 1;
                            pieces.push(Piece::Bad(BadRecord {
                                line: span.line,
                                index: span.index,
                                message: e.to_string(),
                            }));
                        }
                    }
                }
                Scanned::Malformed(m) => {
                    pieces.push(Piece::Bad(BadRecord {
                        line: m.line,
                        index: m.index,
                        message: m.message,
                    }));
                }
            }
            if pieces.len() >= BATCH {
                flush(&mut pieces);
            }
        })
    });
    flush(&mut pieces);
    let error = match result {
        Ok(spent) => {
            *buffer = spent;
            None
        }
        Err(e) => Some(e.to_string()),
    };
    send(Report::Done {
        records,
        signin_records,
        error,
    });
}
