//! The splitter's state machine: what one 64-byte block of masks does to the
//! depth, the string state and the item being read.
//!
//! The kernels (portable or x86) turn bytes into [`BlockMasks`]; everything
//! here works on those masks and on the buffer, one block at a time, and is
//! the same whatever the CPU.

use crate::intake::decode::ItemKind;
use crate::intake::prefilter::FINGERPRINT_GAP;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// Between top-level values.
    Top,
    /// Inside a top-level object that is the item itself (until proven a container).
    Object,
    /// Inside a top-level array: depth-1 elements are items.
    Array,
    /// Inside `{"Records":[`: depth-2 elements are items.
    Records,
}

/// What the state machine found, in buffer indices, for the splitter to hand out.
#[derive(Debug)]
pub(super) enum Found {
    Item {
        start: usize,
        end: usize,
        line: u64,
        may_be_candidate: bool,
        kind: ItemKind,
    },
    /// What cannot be read: `buf[at..end]` holds it (or its start), and
    /// lies before the scan position, so its excerpt is the same whatever
    /// the read size.
    Garbage {
        at: usize,
        end: usize,
        line: u64,
        what: &'static str,
    },
    TooLarge {
        line: u64,
    },
}

/// Where a bracket sits; its line is worked out only when reported.
#[derive(Clone, Copy)]
struct LazyLine {
    before_block: u64,
    newlines: u64,
    bit: u32,
}

impl LazyLine {
    #[inline(always)]
    fn get(self) -> u64 {
        self.before_block + 1 + u64::from((self.newlines & ((1u64 << self.bit) - 1)).count_ones())
    }
}

/// One block's bytes as bit masks: bit `i` stands for byte `i`.
pub(super) struct BlockMasks {
    /// Bytes that could start a prefilter fingerprint, and bytes that could end one.
    pub(super) first: u64,
    pub(super) last: u64,
    pub(super) quote: u64,
    pub(super) backslash: u64,
    /// `{` and `[`.
    pub(super) open: u64,
    /// `}` and `]`.
    pub(super) close: u64,
    pub(super) newline: u64,
}

/// The state carried from one 64-byte block to the next.
#[derive(Debug)]
pub(super) struct State {
    /// The previous block ends with a backslash that escapes this block's first byte.
    pub(super) escape_carry: bool,
    /// All ones when the previous block ends inside a string.
    pub(super) in_string: u64,
    pub(super) depth: u32,
    /// One bit per open bracket, set for an object, clear for an array.
    kinds: u128,
    mode: Mode,
    /// Start of the item being read (buffer index), and its line.
    item: Option<(usize, u64)>,
    /// The current item outgrew `MAX_ITEM_BYTES`; its end is not emitted.
    oversized: bool,
    /// Start of the current top-level value.
    top_start: usize,
    /// Where the gap before the next item starts (buffer index).
    gap_from: usize,
    /// Newlines seen before the current block.
    lines: u64,
    /// Fingerprint first bytes in the previous block's last `FINGERPRINT_GAP` bytes.
    fingerprint_carry: u64,
    /// A fingerprint lies before this buffer index; 0 for none.
    pub(super) fingerprint_end: usize,
    /// `kinds` holds the kind of every open bracket below this depth; above
    /// it, brackets handled in bulk left their kinds unrecorded.
    pub(super) known_below: u32,
    /// Where the kinds were last read again, and the depth there: the next
    /// reading in the same item starts from here, so an item is read again
    /// at most once in all, however many brackets need their kinds.
    relearned_at: Option<(usize, u32)>,
    /// The next block goes the general way: it may start with an escaped
    /// byte, or with blanks after a line break (so a bracket in it may start
    /// a line). Kept by the AVX2 loop only.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(super) general_next: bool,
    /// In `Mode::Object`: no nested value seen yet, so a `[` at depth 2 may
    /// still open `Records`. (Read by the AVX2 loop only.)
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    records_possible: bool,
}

/// Spaces, tabs and carriage returns: what may stand between a line break
/// and the start of a line's text.
pub(super) const BLANKS: &[u8] = b" \t\r";

#[inline(always)]
fn is_blank(b: u8) -> bool {
    BLANKS.contains(&b)
}

/// Bits of characters escaped by a backslash. Backslashes are rare in
/// CloudTrail text, so a short loop over them beats branch-free tricks.
#[inline(always)]
fn escaped_bits(backslash: u64, carry: &mut bool) -> u64 {
    let mut escaped = u64::from(*carry);
    *carry = false;
    let mut bs = backslash;
    while bs != 0 {
        let i = bs.trailing_zeros();
        bs &= bs - 1;
        if escaped & (1u64 << i) != 0 {
            continue; // an escaped backslash escapes nothing
        }
        if i == 63 {
            *carry = true;
        } else {
            escaped |= 1u64 << (i + 1);
        }
    }
    escaped
}

/// Bit `i` of the result is the XOR of bits `0..=i` of `x`: from quote
/// bits, the bytes inside strings.
#[inline(always)]
pub(super) fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

fn is_gap_byte(b: u8, in_container: bool) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r') || (in_container && b == b',')
}

/// Whether `prefix` (from a top-level `{` up to a `[`) is `{ "Records" :`.
fn is_records_key(prefix: &[u8]) -> bool {
    let trimmed = prefix.strip_prefix(b"{").unwrap_or(prefix);
    let Some(rest) = trimmed.trim_ascii().strip_prefix(b"\"Records\"") else {
        return false;
    };
    rest.trim_ascii() == b":"
}

impl State {
    pub(super) fn new() -> Self {
        State {
            escape_carry: false,
            in_string: 0,
            depth: 0,
            kinds: 0,
            mode: Mode::Top,
            item: None,
            oversized: false,
            top_start: 0,
            gap_from: 0,
            lines: 0,
            fingerprint_carry: 0,
            fingerprint_end: 0,
            known_below: 0,
            relearned_at: None,
            general_next: false,
            records_possible: false,
        }
    }

    /// While the depth stays above this, no bracket starts or ends an item or
    /// changes the mode (`i32::MAX`: any bracket may).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(super) fn floor(&self) -> i32 {
        match self.mode {
            Mode::Top => i32::MAX,
            Mode::Object => i32::from(self.records_possible),
            Mode::Array => 1,
            Mode::Records => 2,
        }
    }

    /// Remembers where the last fingerprint in the block at `at` is. Called
    /// before the block's brackets: an item closing in the block may be
    /// marked for a later fingerprint, never missed.
    #[inline(always)]
    pub(super) fn note_fingerprints(&mut self, at: usize, m: &BlockMasks) {
        let inside = m.first & (m.last >> FINGERPRINT_GAP);
        let across = self.fingerprint_carry & m.last;
        self.fingerprint_carry = m.first >> (64 - FINGERPRINT_GAP);
        if inside != 0 {
            self.fingerprint_end = at + 64 - inside.leading_zeros() as usize;
        } else if across != 0 {
            self.fingerprint_end = at;
        }
    }

    /// Scans one block at `buf[at..at + 64]`.
    #[inline(always)]
    pub(super) fn block(&mut self, buf: &[u8], at: usize, m: BlockMasks, found: &mut Vec<Found>) {
        let escaped = if m.backslash == 0 && !self.escape_carry {
            0
        } else {
            escaped_bits(m.backslash, &mut self.escape_carry)
        };
        let quotes = m.quote & !escaped;
        // A raw newline cannot sit inside a JSON string: where one does, the
        // value before it was cut short (a truncated line). The block is then
        // handled in segments, each starting outside any string.
        let mut from_bit = 0u32;
        let mut carry = self.in_string;
        loop {
            let segment = !0u64 << from_bit;
            let in_string = (prefix_xor(quotes & segment) ^ carry) & segment;
            let cut = m.newline & in_string;
            let until = if cut == 0 {
                !0u64
            } else {
                (1u64 << cut.trailing_zeros()) - 1
            };
            let structural = (m.open | m.close) & !in_string & segment & until;
            if structural != 0 {
                self.brackets(buf, at, structural, m.open, m.newline, found);
            }
            if cut == 0 {
                self.in_string = ((in_string as i64) >> 63) as u64;
                break;
            }
            let nl = cut.trailing_zeros();
            self.cut_short(at + nl as usize + 1, found);
            from_bit = nl + 1;
            carry = 0;
            if from_bit == 64 {
                self.in_string = 0;
                break;
            }
        }
        self.lines += u64::from(m.newline.count_ones());
    }

    /// Handles the brackets `structural` marks in the block at `at`.
    #[inline(always)]
    pub(super) fn brackets(
        &mut self,
        buf: &[u8],
        at: usize,
        mut structural: u64,
        open: u64,
        newlines: u64,
        found: &mut Vec<Found>,
    ) {
        while structural != 0 {
            let bit = structural.trailing_zeros();
            structural &= structural - 1;
            let pos = at + bit as usize;
            let line = LazyLine {
                before_block: self.lines,
                newlines,
                bit,
            };
            if open & (1u64 << bit) != 0 {
                self.open(buf, pos, line, found);
            } else {
                self.close(buf, pos, line, found);
            }
        }
    }

    /// The value being read was cut short; what follows `resume` starts afresh.
    ///
    /// The escape carry stays as it is: it belongs to the block's last byte,
    /// which lies after any cut in the block, so it holds for what follows.
    fn cut_short(&mut self, resume: usize, found: &mut Vec<Found>) {
        // Between records the excerpt starts where the last one ended: the
        // buffer always keeps that (the top value's start may be long gone,
        // so quoting from there would depend on the read size).
        let (at, line) = self.item.take().unwrap_or((self.gap_from, self.lines + 1));
        if !self.oversized {
            found.push(Found::Garbage {
                at,
                end: resume,
                line,
                what: "a JSON value cut short (the next line starts a new value)",
            });
        }
        self.oversized = false;
        self.depth = 0;
        self.kinds = 0;
        self.known_below = 0;
        self.relearned_at = None;
        self.mode = Mode::Top;
        self.gap_from = resume;
    }

    fn check_gap(&mut self, buf: &[u8], until: usize, line: u64, found: &mut Vec<Found>) {
        let in_container = matches!(self.mode, Mode::Array | Mode::Records);
        let from = self.gap_from.min(until);
        if let Some(off) = buf[from..until]
            .iter()
            .position(|&b| !is_gap_byte(b, in_container))
        {
            let at = from + off;
            // `line` is the line of `until`; step back to the garbage's own line.
            let between = memchr::memchr_iter(b'\n', &buf[at..until]).count() as u64;
            found.push(Found::Garbage {
                at,
                end: until,
                line: line - between,
                what: "text outside any JSON object",
            });
        }
        self.gap_from = until;
    }

    #[inline(always)]
    fn open(&mut self, buf: &[u8], pos: usize, line: LazyLine, found: &mut Vec<Found>) {
        // Inside an object a nested value follows a `:`. A bracket that starts
        // a line, with no `:` before it, means the line before was cut short
        // and this bracket starts a new value. (Elsewhere on a line it is a
        // syntax error in the value around it, which the parser reports.)
        if self.depth >= 1
            && self.depth <= 128
            && buf[..pos].iter().rev().find(|&&b| !is_blank(b)) == Some(&b'\n')
            && buf[..pos].iter().rev().find(|b| !b.is_ascii_whitespace()) != Some(&b':')
            && self.in_object(buf, pos)
        {
            let line_start = buf[..pos]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(pos, |i| i + 1);
            self.cut_short(line_start, found);
        }
        if self.depth < 128 {
            let bit = 1u128 << self.depth;
            if buf[pos] == b'{' {
                self.kinds |= bit
            } else {
                self.kinds &= !bit
            }
            if self.known_below == self.depth {
                self.known_below += 1;
            }
        }
        self.depth += 1;
        match (self.mode, self.depth) {
            (Mode::Top, 1) => {
                self.check_gap(buf, pos, line.get(), found);
                self.top_start = pos;
                if buf[pos] == b'[' {
                    self.mode = Mode::Array;
                    self.gap_from = pos + 1;
                } else {
                    self.mode = Mode::Object;
                    self.records_possible = true;
                    self.item = Some((pos, line.get()));
                    self.oversized = false;
                }
            }
            (Mode::Object, 2) if buf[pos] == b'[' && is_records_key(&buf[self.top_start..pos]) => {
                self.mode = Mode::Records;
                self.item = None;
                self.gap_from = pos + 1;
            }
            (Mode::Object, 2) => self.records_possible = false,
            (Mode::Array, 2) | (Mode::Records, 3) => {
                self.check_gap(buf, pos, line.get(), found);
                if buf[pos] == b'[' {
                    found.push(Found::Garbage {
                        at: pos,
                        end: pos + 1,
                        line: line.get(),
                        what: "an array where a record was expected",
                    });
                }
                self.item = Some((pos, line.get()));
                self.oversized = false;
            }
            _ => {}
        }
    }

    /// Whether the innermost open bracket (before `pos`) is `{`.
    fn in_object(&mut self, buf: &[u8], pos: usize) -> bool {
        let index = self.depth - 1;
        if index >= self.known_below {
            self.relearn_kinds(buf, pos);
        }
        index < self.known_below && (self.kinds >> index) & 1 == 1
    }

    /// Reads the kinds of the open brackets again up to `pos`, when blocks
    /// counted in bulk left them unrecorded: from where they were last read
    /// in this item, else from its start. (Brackets still open from before
    /// that point kept their bits: only opening a bracket writes one.) Where
    /// the start is gone (an item too large to keep), they stay unknown and
    /// no cut is seen.
    #[cold]
    fn relearn_kinds(&mut self, buf: &[u8], pos: usize) {
        let (mut from, mut depth) = match (self.mode, self.item) {
            (_, None) => return,
            (Mode::Object, Some((start, _))) => (start, 0u32),
            (Mode::Array, Some((start, _))) => (start, 1),
            (Mode::Records, Some((start, _))) => (start, 2),
            (Mode::Top, Some(_)) => return,
        };
        if let Some((at, depth_there)) = self.relearned_at
            && at > from
        {
            (from, depth) = (at, depth_there);
        }
        let mut kinds = self.kinds;
        // The scan's own model of strings: a backslash escapes the next
        // byte wherever it is (as `escaped_bits` does), and only quotes
        // care. A model that honoured escapes inside strings only would
        // disagree with the scan's depth where a backslash stands outside
        // a string, and leave the kinds unknown (no cut seen).
        let (mut in_string, mut escaped) = (false, false);
        for &b in &buf[from..pos] {
            let was_escaped = escaped;
            escaped = b == b'\\' && !was_escaped;
            if b == b'"' && !was_escaped {
                in_string = !in_string;
                continue;
            }
            if in_string {
                continue;
            }
            match b {
                b'{' | b'[' => {
                    if depth < 128 {
                        let bit = 1u128 << depth;
                        kinds = if b == b'{' { kinds | bit } else { kinds & !bit };
                    }
                    depth += 1;
                }
                b'}' | b']' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        if depth == self.depth {
            self.kinds = kinds;
            self.known_below = depth.min(128);
            self.relearned_at = Some((pos, depth));
        }
    }

    #[inline(always)]
    fn close(&mut self, buf: &[u8], pos: usize, line: LazyLine, found: &mut Vec<Found>) {
        if self.depth == 0 {
            found.push(Found::Garbage {
                at: pos,
                end: pos + 1,
                line: line.get(),
                what: "a closing bracket with nothing open",
            });
            self.gap_from = pos + 1;
            return;
        }
        self.depth -= 1;
        match (self.mode, self.depth) {
            (Mode::Object, 0) | (Mode::Array, 1) | (Mode::Records, 2) => {
                if let Some((start, start_line)) = self.item.take()
                    && !self.oversized
                {
                    found.push(Found::Item {
                        start,
                        end: pos + 1,
                        line: start_line,
                        may_be_candidate: self.fingerprint_end > start,
                        kind: if self.mode == Mode::Records {
                            ItemKind::Record
                        } else {
                            ItemKind::Any
                        },
                    });
                }
                self.oversized = false;
                self.gap_from = pos + 1;
                if self.mode == Mode::Object {
                    self.mode = Mode::Top;
                }
            }
            (Mode::Array, 0) => {
                self.check_gap(buf, pos, line.get(), found);
                self.mode = Mode::Top;
                self.gap_from = pos + 1;
            }
            (Mode::Records, 0) => {
                // Keys after the Records array are not records; skip them.
                self.mode = Mode::Top;
                self.gap_from = pos + 1;
            }
            _ => {}
        }
    }

    /// At the end of the stream (`buf[..end]` is all of it): a value still
    /// open was cut short; text after the last value is reported.
    pub(super) fn finish(&mut self, buf: &[u8], end: usize, found: &mut Vec<Found>) {
        let line = self.lines + 1;
        if self.depth > 0 || self.in_string != 0 {
            let (at, start_line) = self.item.take().unwrap_or((self.gap_from, line));
            found.push(Found::Garbage {
                at,
                end,
                line: start_line,
                what: "a JSON value cut short (the input ends inside it)",
            });
            return;
        }
        self.check_gap(buf, end, line, found);
    }

    /// The item being read (or a run of garbage) has grown past what may be
    /// kept: report it, and read on from `scanned` without keeping its start.
    pub(super) fn give_up_item(&mut self, scanned: usize, found: &mut Vec<Found>) {
        if let Some((_, line)) = self.item.take() {
            self.oversized = true;
            found.push(Found::TooLarge { line });
        }
        self.gap_from = scanned;
    }

    /// Buffer indices before this one are no longer needed.
    pub(super) fn keep_from(&self, scanned: usize) -> usize {
        let mut keep = scanned.min(self.gap_from);
        if let Some((start, _)) = self.item {
            keep = keep.min(start);
        }
        keep
    }

    /// The buffer lost its first `by` bytes.
    pub(super) fn shift(&mut self, by: usize) {
        self.gap_from = self.gap_from.saturating_sub(by);
        self.fingerprint_end = self.fingerprint_end.saturating_sub(by);
        self.top_start = self.top_start.saturating_sub(by);
        self.relearned_at = self
            .relearned_at
            .and_then(|(at, depth)| Some((at.checked_sub(by)?, depth)));
        if let Some((start, line)) = self.item {
            self.item = Some((start - by, line));
        }
    }
}
