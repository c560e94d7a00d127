//! Text chosen by whoever signs in (user names, user agents, federated
//! names), made safe for one line of a message, a subject or an attribute.

use std::borrow::Cow;

/// SNS wants a subject of fewer than 100 characters.
pub const MAX_SUBJECT_CHARS: usize = 99;

/// Attacker-chosen text made safe for one line of a message: control
/// characters, line and paragraph separators and bidirectional overrides
/// removed, and at most `max` characters (an ellipsis marks a cut).
pub fn clean_line(text: &str, max: usize) -> String {
    let is_hidden = |c: char| {
        c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
    };
    let cleaned: Cow<str> = if text.chars().any(is_hidden) {
        Cow::Owned(text.chars().filter(|c| !is_hidden(*c)).collect())
    } else {
        Cow::Borrowed(text)
    };
    truncate_chars(&cleaned, max, "…")
}

fn truncate_chars(text: &str, max: usize, mark: &str) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let keep = max.saturating_sub(mark.chars().count());
    let mut out: String = text.chars().take(keep).collect();
    out.push_str(mark);
    out
}

/// Printable ASCII only (others become `?`), at most `max` characters,
/// never empty, starting with a printable non-space character.
pub fn ascii_subject(text: &str, max: usize) -> String {
    let ascii: String = text
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .collect();
    let trimmed = ascii.trim();
    let out = truncate_chars(
        if trimmed.is_empty() {
            "signin-watch finding"
        } else {
            trimmed
        },
        max,
        "...",
    );
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn clean_line_strips_breaks_and_bidi() {
        assert_eq!(clean_line("ali\nce\r\t\u{202e}x\u{2028}", 100), "alicex");
        assert_eq!(clean_line("abcdef", 4), "abc…");
        assert_eq!(clean_line("abcd", 4), "abcd");
    }

    proptest! {
        #[test]
        fn subjects_are_short_printable_ascii(s in "\\PC{0,300}", ctl in "[\\x00-\\x1f\\x7f]{0,5}") {
            let subject = ascii_subject(&format!("{ctl}{s}{ctl}"), MAX_SUBJECT_CHARS);
            prop_assert!(!subject.is_empty());
            prop_assert!(subject.chars().count() <= MAX_SUBJECT_CHARS);
            prop_assert!(subject.chars().all(|c| (' '..='~').contains(&c)), "{subject:?}");
            prop_assert!(!subject.starts_with(' '));
        }

        #[test]
        fn clean_lines_have_no_control_characters(s in "\\PC{0,600}", ctl in "[\\x00-\\x1f]{0,5}") {
            let out = clean_line(&format!("{s}{ctl}{s}"), 128);
            prop_assert!(out.chars().count() <= 128);
            prop_assert!(!out.chars().any(|c| c.is_control()));
        }
    }
}
