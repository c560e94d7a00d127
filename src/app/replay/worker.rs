//! A replay worker: scans one file at a time (split, prefilter, parse the
//! few candidates, ask the rules), and sends on what the detector must see
//! and what could not be read, in batches, then the file's totals.

use std::sync::mpsc;

use crate::domain::rules::RuleSet;
use crate::intake::candidates::{self, Piece};

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

/// Scans input number `file`, opened as `reader`; sends its pieces in
/// batches, then its totals. Reads into `buffer` and leaves it there for
/// the next input.
pub(super) fn scan_reader(
    file: usize,
    reader: std::io::Result<Box<dyn std::io::Read + Send>>,
    rules: &RuleSet,
    tx: &mpsc::Sender<Message>,
    buffer: &mut Vec<u8>,
) {
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
    let (totals, result) = match reader {
        Ok(reader) => candidates::scan(
            reader,
            std::mem::take(buffer),
            |record| rules.wants(record),
            |piece| {
                pieces.push(piece);
                if pieces.len() >= BATCH {
                    flush(&mut pieces);
                }
            },
        ),
        Err(e) => (Default::default(), Err(e)),
    };
    flush(&mut pieces);
    let error = match result {
        Ok(spent) => {
            *buffer = spent;
            None
        }
        Err(e) => Some(e.to_string()),
    };
    send(Report::Done {
        records: totals.records,
        signin_records: totals.signin_records,
        error,
    });
}
