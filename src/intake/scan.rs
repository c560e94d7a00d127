//! Streaming structural splitter: finds where each record starts and ends in a
//! stream of JSON text without parsing it.
//!
//! Input is any mix of top-level JSON values (JSON Lines, pretty-printed
//! documents, concatenated values). Items are:
//! - each element of a top-level array (`[{...},{...}]`),
//! - each element of the `Records` array of a CloudTrail S3 log file
//!   (`{"Records":[{...},{...}]}`), however large the file, without holding it,
//! - every other top-level object, whole (a record, an EventBridge envelope).
//!
//! The scan works 64 bytes at a time on bit masks (the simdjson "stage 1"
//! idea): find quotes and backslashes, work out which bytes are inside
//! strings, and keep only the brackets outside them. On x86-64 the masks come
//! from SSE2 (part of the baseline, so no runtime detection); elsewhere from a
//! portable loop.

use std::io::{self, Read};

/// Largest single item kept in memory; a larger one is reported and skipped.
pub const MAX_ITEM_BYTES: usize = 16 << 20;
const READ_CHUNK: usize = 128 << 10;

/// A span of one record (or envelope) in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemSpan {
    pub start: u64,
    pub end: u64,
    /// 1-based line of the item's first byte.
    pub line: u64,
    /// 0-based index of the item in the stream.
    pub index: u64,
}

/// Text in the stream that is not part of any item, or an item that cannot be kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    pub line: u64,
    /// Index the item would have had.
    pub index: u64,
    pub message: String,
}

#[derive(Debug)]
pub enum Scanned<'a> {
    Item(ItemSpan, &'a [u8]),
    Malformed(Malformed),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Between top-level values.
    Top,
    /// Inside a top-level object that is the item itself (until proven a container).
    Object,
    /// Inside a top-level array: depth-1 elements are items.
    Array,
    /// Inside `{"Records":[`: depth-2 elements are items.
    Records,
}

#[derive(Debug)]
enum Event {
    Item {
        start: usize,
        end: usize,
        line: u64,
    },
    Garbage {
        at: usize,
        line: u64,
        what: &'static str,
    },
    TooLarge {
        line: u64,
    },
}

/// Where a bracket sits; its line is worked out only when reported.
#[derive(Clone, Copy)]
struct Line {
    before_block: u64,
    newlines: u64,
    bit: u32,
}

impl Line {
    #[inline(always)]
    fn get(self) -> u64 {
        self.before_block + 1 + u64::from((self.newlines & ((1u64 << self.bit) - 1)).count_ones())
    }
}

/// The state carried from one 64-byte block to the next.
#[derive(Debug)]
struct State {
    escape_carry: bool,
    in_string: u64,
    depth: u32,
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
}

struct Masks {
    quote: u64,
    backslash: u64,
    open: u64,
    close: u64,
    newline: u64,
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn classify(block: &[u8; 64]) -> Masks {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is part of the x86-64 baseline; loads are unaligned and
    // stay within the 64-byte array.
    unsafe {
        let p = block.as_ptr() as *const __m128i;
        let v = [
            _mm_loadu_si128(p),
            _mm_loadu_si128(p.add(1)),
            _mm_loadu_si128(p.add(2)),
            _mm_loadu_si128(p.add(3)),
        ];
        let quote = _mm_set1_epi8(b'"' as i8);
        let backslash = _mm_set1_epi8(b'\\' as i8);
        let newline = _mm_set1_epi8(b'\n' as i8);
        let case = _mm_set1_epi8(0x20);
        // `{` | 0x20 == `{` and `[` | 0x20 == `{`; likewise `}` and `]`.
        let open = _mm_set1_epi8(b'{' as i8);
        let close = _mm_set1_epi8(b'}' as i8);
        let mask = |c: __m128i| -> u64 {
            let mut m = 0u64;
            for (i, x) in v.iter().enumerate() {
                m |= (_mm_movemask_epi8(_mm_cmpeq_epi8(*x, c)) as u32 as u64) << (16 * i);
            }
            m
        };
        let folded = |c: __m128i| -> u64 {
            let mut m = 0u64;
            for (i, x) in v.iter().enumerate() {
                let f = _mm_or_si128(*x, case);
                m |= (_mm_movemask_epi8(_mm_cmpeq_epi8(f, c)) as u32 as u64) << (16 * i);
            }
            m
        };
        Masks {
            quote: mask(quote),
            backslash: mask(backslash),
            open: folded(open),
            close: folded(close),
            newline: mask(newline),
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt,bmi1")]
fn classify_avx2(block: &[u8; 64]) -> Masks {
    use std::arch::x86_64::*;
    // SAFETY: the caller checked for AVX2; unaligned loads within the array.
    unsafe {
        let p = block.as_ptr() as *const __m256i;
        let (lo, hi) = (_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1)));
        let case = _mm256_set1_epi8(0x20);
        let (flo, fhi) = (_mm256_or_si256(lo, case), _mm256_or_si256(hi, case));
        let m = |a: __m256i, b: __m256i, c: u8| -> u64 {
            let c = _mm256_set1_epi8(c as i8);
            let l = _mm256_movemask_epi8(_mm256_cmpeq_epi8(a, c)) as u32 as u64;
            let h = _mm256_movemask_epi8(_mm256_cmpeq_epi8(b, c)) as u32 as u64;
            l | (h << 32)
        };
        // Backslashes and newlines are rare: one test for both, masks only when present.
        let eq = |a: __m256i, c: u8| _mm256_cmpeq_epi8(a, _mm256_set1_epi8(c as i8));
        let rare = _mm256_or_si256(
            _mm256_or_si256(eq(lo, b'\\'), eq(lo, b'\n')),
            _mm256_or_si256(eq(hi, b'\\'), eq(hi, b'\n')),
        );
        let (backslash, newline) = if _mm256_testz_si256(rare, rare) == 1 {
            (0, 0)
        } else {
            (m(lo, hi, b'\\'), m(lo, hi, b'\n'))
        };
        Masks {
            quote: m(lo, hi, b'"'),
            backslash,
            open: m(flo, fhi, b'{'),
            close: m(flo, fhi, b'}'),
            newline,
        }
    }
}

/// Scans the whole blocks of `buf[from..to]` (`to - from` a multiple of 64).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt,bmi1")]
fn scan_avx2(state: &mut State, buf: &[u8], from: usize, to: usize, events: &mut Vec<Event>) {
    let mut at = from;
    while at < to {
        let Some(block) = buf[at..].first_chunk::<64>() else {
            break;
        };
        state.block(buf, at, classify_avx2(block), events);
        at += 64;
    }
}

fn scan_portable(state: &mut State, buf: &[u8], from: usize, to: usize, events: &mut Vec<Event>) {
    let mut at = from;
    while at < to {
        let Some(block) = buf[at..].first_chunk::<64>() else {
            break;
        };
        state.block(buf, at, classify(block), events);
        at += 64;
    }
}

fn scan_blocks(
    avx2: bool,
    state: &mut State,
    buf: &[u8],
    from: usize,
    to: usize,
    events: &mut Vec<Event>,
) {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: `avx2` is true only when the CPU reported AVX2, POPCNT and BMI1.
        unsafe { scan_avx2(state, buf, from, to, events) };
        return;
    }
    let _ = avx2;
    scan_portable(state, buf, from, to, events);
}

fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("popcnt")
            && std::arch::is_x86_feature_detected!("bmi1")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn classify(block: &[u8; 64]) -> Masks {
    let mut m = Masks {
        quote: 0,
        backslash: 0,
        open: 0,
        close: 0,
        newline: 0,
    };
    for (i, &b) in block.iter().enumerate() {
        let bit = 1u64 << i;
        match b {
            b'"' => m.quote |= bit,
            b'\\' => m.backslash |= bit,
            b'{' | b'[' => m.open |= bit,
            b'}' | b']' => m.close |= bit,
            b'\n' => m.newline |= bit,
            _ => {}
        }
    }
    m
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

#[inline(always)]
fn prefix_xor(mut x: u64) -> u64 {
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

impl State {
    fn new() -> Self {
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
        }
    }

    /// Scans one block at `buf[at..at + 64]`.
    #[inline(always)]
    fn block(&mut self, buf: &[u8], at: usize, m: Masks, events: &mut Vec<Event>) {
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
            let mut structural = (m.open | m.close) & !in_string & segment & until;
            while structural != 0 {
                let bit = structural.trailing_zeros();
                structural &= structural - 1;
                let pos = at + bit as usize;
                let line = Line {
                    before_block: self.lines,
                    newlines: m.newline,
                    bit,
                };
                if m.open & (1u64 << bit) != 0 {
                    self.open(buf, pos, line, events);
                } else {
                    self.close(buf, pos, line, events);
                }
            }
            if cut == 0 {
                self.in_string = ((in_string as i64) >> 63) as u64;
                break;
            }
            let nl = cut.trailing_zeros();
            self.cut_short(at + nl as usize + 1, events);
            from_bit = nl + 1;
            carry = 0;
            if from_bit == 64 {
                self.in_string = 0;
                break;
            }
        }
        self.lines += u64::from(m.newline.count_ones());
    }

    /// The value being read was cut short; what follows `resume` starts afresh.
    fn cut_short(&mut self, resume: usize, events: &mut Vec<Event>) {
        let (at, line) = self.item.take().unwrap_or((self.top_start, self.lines + 1));
        if !self.oversized {
            events.push(Event::Garbage {
                at,
                line,
                what: "a JSON value cut short (the next line starts a new value)",
            });
        }
        self.oversized = false;
        self.depth = 0;
        self.kinds = 0;
        self.mode = Mode::Top;
        self.gap_from = resume;
        self.escape_carry = false;
    }

    fn check_gap(&mut self, buf: &[u8], until: usize, line: u64, events: &mut Vec<Event>) {
        let in_container = matches!(self.mode, Mode::Array | Mode::Records);
        let from = self.gap_from.min(until);
        if let Some(off) = buf[from..until]
            .iter()
            .position(|&b| !is_gap_byte(b, in_container))
        {
            let at = from + off;
            // `line` is the line of `until`; step back to the garbage's own line.
            let between = memchr::memchr_iter(b'\n', &buf[at..until]).count() as u64;
            events.push(Event::Garbage {
                at,
                line: line - between,
                what: "text outside any JSON object",
            });
        }
        self.gap_from = until;
    }

    #[inline(always)]
    fn open(&mut self, buf: &[u8], pos: usize, line: Line, events: &mut Vec<Event>) {
        // Inside an object a nested value follows a `:`; anything else means
        // the value around it was cut short and this bracket starts a new one.
        if self.depth >= 1 && self.depth <= 128 && (self.kinds >> (self.depth - 1)) & 1 == 1 {
            let before = buf[..pos].iter().rev().find(|b| !b.is_ascii_whitespace());
            if before != Some(&b':') {
                let line_start = buf[..pos]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(pos, |i| i + 1);
                self.cut_short(line_start, events);
            }
        }
        if self.depth < 128 {
            let bit = 1u128 << self.depth;
            if buf[pos] == b'{' {
                self.kinds |= bit
            } else {
                self.kinds &= !bit
            }
        }
        self.depth += 1;
        match (self.mode, self.depth) {
            (Mode::Top, 1) => {
                self.check_gap(buf, pos, line.get(), events);
                self.top_start = pos;
                if buf[pos] == b'[' {
                    self.mode = Mode::Array;
                    self.gap_from = pos + 1;
                } else {
                    self.mode = Mode::Object;
                    self.item = Some((pos, line.get()));
                    self.oversized = false;
                }
            }
            (Mode::Object, 2) if buf[pos] == b'[' && is_records_key(&buf[self.top_start..pos]) => {
                self.mode = Mode::Records;
                self.item = None;
                self.gap_from = pos + 1;
            }
            (Mode::Array, 2) | (Mode::Records, 3) => {
                self.check_gap(buf, pos, line.get(), events);
                if buf[pos] == b'[' {
                    events.push(Event::Garbage {
                        at: pos,
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

    #[inline(always)]
    fn close(&mut self, buf: &[u8], pos: usize, line: Line, events: &mut Vec<Event>) {
        if self.depth == 0 {
            events.push(Event::Garbage {
                at: pos,
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
                    events.push(Event::Item {
                        start,
                        end: pos + 1,
                        line: start_line,
                    });
                }
                self.oversized = false;
                self.gap_from = pos + 1;
                if self.mode == Mode::Object {
                    self.mode = Mode::Top;
                }
            }
            (Mode::Array, 0) => {
                self.check_gap(buf, pos, line.get(), events);
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

    /// Buffer indices before this one are no longer needed.
    fn keep_from(&self, scanned: usize) -> usize {
        let mut keep = scanned.min(self.gap_from);
        if let Some((start, _)) = self.item {
            keep = keep.min(start);
        }
        keep
    }

    fn shift(&mut self, by: usize) {
        self.gap_from = self.gap_from.saturating_sub(by);
        self.top_start = self.top_start.saturating_sub(by);
        if let Some((start, line)) = self.item {
            self.item = Some((start - by, line));
        }
    }
}

/// Whether `prefix` (from a top-level `{` up to a `[`) is `{ "Records" :`.
fn is_records_key(prefix: &[u8]) -> bool {
    let trimmed = prefix.strip_prefix(b"{").unwrap_or(prefix);
    let rest = trim_ascii(trimmed);
    let Some(rest) = rest.strip_prefix(b"\"Records\"") else {
        return false;
    };
    trim_ascii(rest) == b":"
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

/// Reads a stream and calls `f` with every item and every piece of
/// malformed text, in order, holding at most one item (plus one read chunk)
/// in memory.
pub struct Splitter<R> {
    reader: R,
    /// `buf[..filled]` holds data; the rest is spare room, zeroed once.
    buf: Vec<u8>,
    filled: usize,
    avx2: bool,
    /// Stream offset of `buf[0]`.
    base: u64,
    state: State,
    events: Vec<Event>,
    index: u64,
}

impl<R: Read> Splitter<R> {
    pub fn new(reader: R) -> Self {
        Splitter {
            reader,
            buf: Vec::new(),
            filled: 0,
            avx2: has_avx2(),
            base: 0,
            state: State::new(),
            events: Vec::new(),
            index: 0,
        }
    }

    pub fn run(mut self, mut f: impl FnMut(Scanned<'_>)) -> io::Result<()> {
        let mut scanned = 0usize;
        let mut eof = false;
        loop {
            if !eof {
                eof = self.fill()?;
            }
            let full_end = scanned + (self.filled - scanned) / 64 * 64;
            let data = &self.buf[..self.filled];
            scan_blocks(
                self.avx2,
                &mut self.state,
                data,
                scanned,
                full_end,
                &mut self.events,
            );
            scanned = full_end;
            if eof {
                let mut tail = [b' '; 64];
                let rest = &data[scanned..];
                tail[..rest.len()].copy_from_slice(rest);
                self.state
                    .block(data, scanned, classify(&tail), &mut self.events);
                let end = self.filled;
                let line = self.state.lines + 1;
                self.finish(end, line);
                self.emit(&mut f);
                return Ok(());
            }
            self.emit(&mut f);
            scanned = self.compact(scanned, &mut f);
        }
    }

    /// Reads up to one chunk more; returns true at end of stream.
    fn fill(&mut self) -> io::Result<bool> {
        if self.buf.len() < self.filled + READ_CHUNK {
            self.buf.resize(self.filled + READ_CHUNK, 0);
        }
        let goal = self.filled + READ_CHUNK;
        while self.filled < goal {
            match self.reader.read(&mut self.buf[self.filled..goal]) {
                Ok(0) => return Ok(true),
                Ok(n) => self.filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }

    fn finish(&mut self, end: usize, line: u64) {
        let st = &mut self.state;
        if st.depth > 0 || st.in_string != 0 {
            let at = st.item.map(|(s, _)| s).unwrap_or(st.top_start);
            let start_line = st.item.map(|(_, l)| l).unwrap_or(line);
            self.events.push(Event::Garbage {
                at,
                line: start_line,
                what: "a JSON value cut short (the input ends inside it)",
            });
            st.item = None;
            return;
        }
        let mut ev = Vec::new();
        st.check_gap(&self.buf[..self.filled], end, line, &mut ev);
        self.events.extend(ev);
    }

    fn emit(&mut self, f: &mut impl FnMut(Scanned<'_>)) {
        for ev in self.events.drain(..) {
            match ev {
                Event::Item { start, end, line } => {
                    let span = ItemSpan {
                        start: self.base + start as u64,
                        end: self.base + end as u64,
                        line,
                        index: self.index,
                    };
                    self.index += 1;
                    f(Scanned::Item(span, &self.buf[start..end]));
                }
                Event::Garbage { at, line, what } => {
                    let snippet: String =
                        String::from_utf8_lossy(&self.buf[at..self.filled.min(at + 40)])
                            .chars()
                            .take_while(|c| *c != '\n')
                            .collect();
                    f(Scanned::Malformed(Malformed {
                        line,
                        index: self.index,
                        message: format!("{what}: {snippet:?}"),
                    }));
                    self.index += 1;
                }
                Event::TooLarge { line } => {
                    f(Scanned::Malformed(Malformed {
                        line,
                        index: self.index,
                        message: format!(
                            "a record larger than {} MiB, skipped",
                            MAX_ITEM_BYTES >> 20
                        ),
                    }));
                    self.index += 1;
                }
            }
        }
    }

    /// Drops bytes no longer needed; returns the new scan position.
    fn compact(&mut self, scanned: usize, f: &mut impl FnMut(Scanned<'_>)) -> usize {
        let keep = self.state.keep_from(scanned);
        if scanned - keep > MAX_ITEM_BYTES {
            // The item in progress (or a run of garbage) is too large to keep.
            if let Some((_, line)) = self.state.item.take() {
                self.state.oversized = true;
                self.events.push(Event::TooLarge { line });
            }
            self.state.gap_from = scanned;
            self.emit(f);
            let keep = scanned;
            return self.drop_front(keep, scanned);
        }
        self.drop_front(keep, scanned)
    }

    fn drop_front(&mut self, keep: usize, scanned: usize) -> usize {
        if keep == 0 {
            return scanned;
        }
        self.buf.copy_within(keep..self.filled, 0);
        self.filled -= keep;
        self.base += keep as u64;
        self.state.shift(keep);
        scanned - keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(input: &[u8]) -> (Vec<String>, Vec<Malformed>, Vec<u64>) {
        let mut items = Vec::new();
        let mut bad = Vec::new();
        let mut lines = Vec::new();
        Splitter::new(input)
            .run(|s| match s {
                Scanned::Item(span, bytes) => {
                    assert_eq!((span.end - span.start) as usize, bytes.len());
                    items.push(String::from_utf8(bytes.to_vec()).unwrap());
                    lines.push(span.line);
                }
                Scanned::Malformed(m) => bad.push(m),
            })
            .unwrap();
        (items, bad, lines)
    }

    #[test]
    fn json_lines() {
        let (items, bad, lines) = split(b"{\"a\":1}\n{\"b\":\"}{\"}\n\n{\"c\":[1,{\"d\":2}]}\n");
        assert_eq!(
            items,
            vec![r#"{"a":1}"#, r#"{"b":"}{"}"#, r#"{"c":[1,{"d":2}]}"#]
        );
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(lines, vec![1, 2, 4]);
    }

    #[test]
    fn records_container_is_split() {
        let input = br#"{"Records":[{"eventID":"1","x":{"y":[1]}},{"eventID":"2"}]}"#;
        let (items, bad, _) = split(input);
        assert_eq!(
            items,
            vec![r#"{"eventID":"1","x":{"y":[1]}}"#, r#"{"eventID":"2"}"#]
        );
        assert!(bad.is_empty());
        let pretty = b"{\n  \"Records\" : [\n    {\"a\":1},\n    {\"b\":2}\n  ]\n}\n";
        let (items, bad, lines) = split(pretty);
        assert_eq!(items, vec![r#"{"a":1}"#, r#"{"b":2}"#]);
        assert!(bad.is_empty());
        assert_eq!(lines, vec![3, 4]);
    }

    #[test]
    fn other_objects_stay_whole() {
        let input = br#"{"detail":{"Records":[1]},"source":"aws.signin"} {"Events":[{"a":1}]}"#;
        let (items, bad, _) = split(input);
        assert_eq!(items.len(), 2);
        assert!(items[0].starts_with(r#"{"detail""#));
        assert!(bad.is_empty());
    }

    #[test]
    fn top_level_arrays_are_split() {
        let (items, bad, _) = split(b"[\n {\"a\":1},\n {\"b\":2}\n]\n");
        assert_eq!(items, vec![r#"{"a":1}"#, r#"{"b":2}"#]);
        assert!(bad.is_empty());
    }

    #[test]
    fn escapes_do_not_confuse_strings() {
        let input = br#"{"a":"\"{","b":"\\","c":"\\\"}"}"#;
        let (items, bad, _) = split(input);
        assert_eq!(items.len(), 1, "{items:?} {bad:?}");
        assert!(bad.is_empty());
    }

    #[test]
    fn garbage_and_truncation_are_reported_with_lines() {
        let (items, bad, _) = split(b"{\"a\":1}\nnot json\n{\"b\":2}\n{\"c\":");
        assert_eq!(items, vec![r#"{"a":1}"#, r#"{"b":2}"#]);
        assert_eq!(bad.len(), 2, "{bad:#?}");
        assert_eq!(bad[0].line, 2);
        assert!(bad[0].message.contains("not json"));
        assert_eq!(bad[1].line, 4);
        assert!(bad[1].message.contains("cut short"));
    }

    #[test]
    fn a_line_cut_short_does_not_swallow_the_next_ones() {
        // Cut inside a string, and cut between a comma and the next key.
        let (items, bad, lines) =
            split(b"{\"a\":\"tru\n{\"b\":2}\n{\"c\":{\"d\":1},\n{\"e\":{\"f\":[{}]}}\n");
        assert_eq!(items, vec![r#"{"b":2}"#, r#"{"e":{"f":[{}]}}"#]);
        assert_eq!(lines, vec![2, 4]);
        assert_eq!(
            bad.iter().map(|b| b.line).collect::<Vec<_>>(),
            vec![1, 3],
            "{bad:#?}"
        );
        assert!(bad.iter().all(|b| b.message.contains("cut short")));
    }

    #[test]
    fn pretty_objects_with_nested_values_are_not_cut() {
        let pretty = b"{\n  \"a\": {\n    \"b\": [\n      {\"c\": 1},\n      [2]\n    ]\n  },\n  \"d\":\n    {\"e\": 3}\n}\n";
        let (items, bad, _) = split(pretty);
        assert_eq!(items.len(), 1, "{bad:#?}");
        assert!(bad.is_empty());
    }

    #[test]
    fn stray_close_is_reported() {
        let (items, bad, _) = split(b"}\n{\"a\":1}");
        assert_eq!(items.len(), 1);
        assert_eq!(bad.len(), 1);
    }

    /// A byte-at-a-time reference splitter for JSON Lines of objects.
    fn reference(input: &[u8]) -> Vec<(usize, usize)> {
        let (mut depth, mut in_str, mut esc) = (0i32, false, false);
        let mut start = 0;
        let mut out = Vec::new();
        for (i, &b) in input.iter().enumerate() {
            if in_str {
                if esc {
                    esc = false;
                } else if b == b'\\' {
                    esc = true;
                } else if b == b'"' {
                    in_str = false;
                }
                continue;
            }
            match b {
                b'"' => in_str = true,
                b'{' | b'[' => {
                    if depth == 0 {
                        start = i;
                    }
                    depth += 1;
                }
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        out.push((start, i + 1));
                    }
                }
                _ => {}
            }
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_a_byte_at_a_time_reference(
            values in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::prop_oneof![
                        proptest::strategy::Just("\\\\".to_string()),
                        proptest::strategy::Just("\\\"".to_string()),
                        proptest::strategy::Just("\\n".to_string()),
                        "[a-z {}\\[\\],:]{0,70}",
                    ],
                    0..12,
                ),
                1..40,
            )
        ) {
            // Each value is an object whose string field holds escapes (runs of
            // escaped backslashes, escaped quotes) and brackets, across blocks.
            let mut input = String::new();
            for parts in &values {
                let body: String = parts.concat();
                input.push_str(&format!("{{\"k\":\"{body}\",\"n\":[{{}}]}}\n"));
            }
            let want: Vec<String> = reference(input.as_bytes())
                .into_iter()
                .map(|(s, e)| input[s..e].to_string())
                .collect();
            let (got, bad, _) = split(input.as_bytes());
            proptest::prop_assert!(bad.is_empty(), "{:?}", bad);
            proptest::prop_assert_eq!(got, want);
        }
    }
}
