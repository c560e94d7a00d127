//! A byte-at-a-time reference splitter for JSON Lines of objects, written
//! from the rules the README states, not from the block code: the tests
//! check the splitter against it, whatever the read size and the CPU path.

/// What the reference finds: items as byte ranges, and the lines where
/// values that were cut short start, in stream order.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Split {
    pub(crate) items: Vec<(usize, usize)>,
    pub(crate) cut_lines: Vec<u64>,
}

/// Splits JSON Lines of objects, with the splitter's rules for lines cut
/// short: a raw line break inside a string cuts the value it is in; a `{` or
/// `[` that starts a line while an object is innermost, with no `:` before
/// it, cuts the open value and starts a new one.
pub(crate) fn split(input: &[u8]) -> Split {
    let mut out = Split::default();
    let mut open: Vec<u8> = Vec::new();
    let (mut in_string, mut escaped) = (false, false);
    let (mut line, mut item_start, mut item_line) = (1u64, 0usize, 1u64);
    // The last byte that is not ASCII whitespace, and whether only blanks
    // stand between the last line break and here.
    let (mut last_solid, mut at_line_start) = (0u8, false);
    for (i, &b) in input.iter().enumerate() {
        if in_string {
            if b == b'\n' {
                out.cut_lines.push(item_line);
                open.clear();
                (in_string, escaped) = (false, false);
            } else if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else {
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => {
                    if open.last() == Some(&b'{') && at_line_start && last_solid != b':' {
                        out.cut_lines.push(item_line);
                        open.clear();
                    }
                    if open.is_empty() {
                        (item_start, item_line) = (i, line);
                    }
                    open.push(b);
                }
                b'}' | b']' => {
                    open.pop();
                    if open.is_empty() {
                        out.items.push((item_start, i + 1));
                    }
                }
                _ => {}
            }
        }
        if b == b'\n' {
            line += 1;
            at_line_start = true;
        } else if !matches!(b, b' ' | b'\t' | b'\r') {
            at_line_start = false;
        }
        if !b.is_ascii_whitespace() {
            last_solid = b;
        }
    }
    if !open.is_empty() || in_string {
        out.cut_lines.push(item_line);
    }
    out
}
