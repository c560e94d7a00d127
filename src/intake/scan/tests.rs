use super::*;
use crate::intake::Prefilter;
use proptest::prelude::*;

/// A splitter over `input` reading `chunk` bytes at a time, on the AVX2
/// path where the CPU has it (`avx2`) or on the other.
fn splitter(input: &[u8], avx2: bool, chunk: usize) -> Splitter<&[u8]> {
    let splitter = Splitter::new(input).with_chunk(chunk);
    if avx2 {
        splitter
    } else {
        splitter.without_avx2()
    }
}

fn split(input: &[u8]) -> (Vec<String>, Vec<Malformed>, Vec<u64>) {
    split_with(input, true, READ_CHUNK)
}

/// Splits with the AVX2 path (where the CPU has it) or without, reading
/// `chunk` bytes at a time.
fn split_with(input: &[u8], avx2: bool, chunk: usize) -> (Vec<String>, Vec<Malformed>, Vec<u64>) {
    let mut items = Vec::new();
    let mut bad = Vec::new();
    let mut lines = Vec::new();
    splitter(input, avx2, chunk)
        .run(|s| match s {
            Scanned::Item(span, bytes) => {
                assert_eq!((span.end - span.start) as usize, bytes.len());
                // The fingerprint may mark too much, never too little.
                assert!(
                    span.may_be_candidate || !Prefilter::default().is_candidate(bytes),
                    "a candidate left unmarked: {}",
                    String::from_utf8_lossy(bytes)
                );
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
fn only_elements_of_records_are_known_records() {
    let input = br#"{"Records":[{"detail":{}}]} {"a":1} [{"b":2}]"#;
    let mut kinds = Vec::new();
    Splitter::new(&input[..])
        .run(|s| {
            if let Scanned::Item(span, _) = s {
                kinds.push(span.kind)
            }
        })
        .unwrap();
    assert_eq!(kinds, [ItemKind::Record, ItemKind::Any, ItemKind::Any]);
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
    let input = b"{\"a\":1}\nnot json\n{\"b\":2}\n{\"c\":";
    for chunk in [READ_CHUNK, 1, 4, 9] {
        let (items, bad, _) = split_with(input, true, chunk);
        assert_eq!(items, vec![r#"{"a":1}"#, r#"{"b":2}"#], "chunk: {chunk}");
        assert_eq!(bad.len(), 2, "chunk: {chunk}: {bad:#?}");
        assert_eq!(bad[0].line, 2);
        assert!(
            bad[0].message.contains("not json"),
            "chunk: {chunk}: {bad:#?}"
        );
        assert_eq!(bad[1].line, 4);
        assert!(bad[1].message.contains("cut short"));
    }
}

#[test]
fn a_line_cut_short_does_not_swallow_the_next_ones() {
    // Cut inside a string, and cut between a comma and the next key.
    let input = b"{\"a\":\"tru\n{\"b\":2}\n{\"c\":{\"d\":1},\n{\"e\":{\"f\":[{}]}}\n";
    for chunk in [READ_CHUNK, 1, 4, 9] {
        let (items, bad, lines) = split_with(input, true, chunk);
        assert_eq!(
            items,
            vec![r#"{"b":2}"#, r#"{"e":{"f":[{}]}}"#],
            "chunk: {chunk}"
        );
        assert_eq!(lines, vec![2, 4]);
        assert_eq!(
            bad.iter().map(|b| b.line).collect::<Vec<_>>(),
            vec![1, 3],
            "chunk: {chunk}: {bad:#?}"
        );
        assert!(bad.iter().all(|b| b.message.contains("cut short")));
    }
}

#[test]
fn a_cut_is_found_where_the_brackets_around_it_were_counted_in_bulk() {
    // The AVX2 loop counts the brackets of most blocks without noting their
    // kinds; where a cut needs them, they are read again. The padding puts
    // `"a":{` and `"a":[` in such blocks, after a sibling of the other
    // kind, and the bracket after the line break in a block of its own.
    // The indent fills at least one block with blanks.
    let (pad, indent) = ("x".repeat(70), " ".repeat(140));
    let cut = format!(
        "{{\"p\":[1],\"r\":\"{pad}\",\"a\":{{\"b\":\"{pad}\",\"c\":1,\n{indent}{{\"e\":\"{pad}\"}}\n"
    );
    let array = format!(
        "{{\"p\":{{\"q\":1}},\"r\":\"{pad}\",\"a\":[{indent}\n{{\"b\":1}},\n{indent}{{\"c\":\"{pad}\"}}]}}\n"
    );
    for avx2 in [false, true] {
        let (items, bad, lines) = split_with(cut.as_bytes(), avx2, READ_CHUNK);
        assert_eq!(items, vec![format!("{{\"e\":\"{pad}\"}}")], "avx2: {avx2}");
        assert_eq!(lines, vec![2]);
        assert_eq!(bad.len(), 1, "{bad:#?}");
        assert!(bad[0].message.contains("cut short"), "{bad:#?}");
        let (items, bad, _) = split_with(array.as_bytes(), avx2, READ_CHUNK);
        assert_eq!(items, vec![array.trim_end()], "avx2: {avx2}");
        assert!(bad.is_empty(), "{bad:#?}");
    }
}

#[test]
fn kinds_read_again_twice_in_one_item() {
    // `"a":[` and `"c":{` are both opened in blocks counted in bulk; the
    // second reading starts where the first stopped, and still finds
    // that `{` opened "c": the line after it starts a new value.
    let (pad, indent) = ("x".repeat(70), " ".repeat(140));
    let input = format!(
        "{{\"p\":{{\"q\":1}},\"r\":\"{pad}\",\"a\":[{indent}\n{{\"b\":1}}],\"s\":\"{pad}\",\"c\":{{\"t\":\"{pad}\",\"u\":1,\n{indent}{{\"e\":\"{pad}\"}}\n"
    );
    for avx2 in [false, true] {
        let (items, bad, lines) = split_with(input.as_bytes(), avx2, READ_CHUNK);
        assert_eq!(items, vec![format!("{{\"e\":\"{pad}\"}}")], "avx2: {avx2}");
        assert_eq!(lines, vec![3]);
        assert_eq!(bad.len(), 1, "{bad:#?}");
        assert_eq!(bad[0].line, 1);
        assert!(bad[0].message.contains("cut short"), "{bad:#?}");
    }
}

#[test]
fn a_bracket_inside_a_line_is_a_syntax_error_not_a_cut() {
    // A line cut short ends in a line break: a misplaced bracket that does
    // not start a line is a syntax error in the record, which stays whole
    // and is reported when parsed.
    let pad = "x".repeat(70);
    let input = format!("{{\"r\":\"{pad}\",\"a\":1,{{\"b\":2}}}}\n{{\"c\":3}}\n");
    for avx2 in [false, true] {
        let (items, bad, _) = split_with(input.as_bytes(), avx2, READ_CHUNK);
        assert_eq!(items.len(), 2, "avx2: {avx2}: {items:?}");
        assert!(items[0].ends_with(r#""a":1,{"b":2}}"#));
        assert!(bad.is_empty(), "{bad:#?}");
    }
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

/// Which items the splitter marks as possible candidates.
fn marked(input: &[u8], avx2: bool, chunk: usize) -> Vec<bool> {
    let mut out = Vec::new();
    splitter(input, avx2, chunk)
        .run(|s| {
            if let Scanned::Item(span, _) = s {
                out.push(span.may_be_candidate)
            }
        })
        .unwrap();
    out
}

#[test]
fn only_items_with_a_fingerprint_are_marked() {
    // Needles at every offset, so across 64-byte blocks too. Each needle
    // sits over 64 bytes after the item before it ends: a block where one
    // item ends and a fingerprint follows marks that item too (harmless,
    // and CloudTrail records are far longer than a block).
    let (mut input, mut want) = (String::new(), Vec::new());
    for pad in 64..134 {
        let x = "x".repeat(pad);
        for (text, marked) in [
            ("MFAUsed", true),
            ("signin.amazonaws.com", true),
            ("kms.amazonaws.com", false),
        ] {
            input.push_str(&format!("{{\"a\":\"{x}{text}\"}}\n"));
            want.push(marked);
        }
    }
    // A false alarm, which the prefilter proper clears.
    input.push_str(&format!("{{\"d\":\"{}MxA\"}}\n", "x".repeat(64)));
    want.push(true);
    // Read whole, and a few bytes at a time: a fingerprint's two bytes
    // may come in different reads.
    for avx2 in [false, true] {
        for chunk in [READ_CHUNK, 1, 2, 3, 65, 66, 67, 190] {
            let got = marked(input.as_bytes(), avx2, chunk);
            assert_eq!(got, want, "avx2: {avx2}, chunk: {chunk}");
        }
    }
}

fn string_part() -> impl proptest::strategy::Strategy<Value = String> {
    proptest::prop_oneof![
        proptest::strategy::Just("\\\\".to_string()),
        proptest::strategy::Just("\\\"".to_string()),
        proptest::strategy::Just("\\n".to_string()),
        proptest::strategy::Just("MFAUsed".to_string()),
        proptest::strategy::Just("signin.amazonaws.com".to_string()),
        "[a-zA-Mg {}\\[\\],:]{0,70}",
    ]
}

/// Nested JSON values whose strings hold brackets, escapes and needles.
fn nested_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
    use proptest::prelude::*;
    use serde_json::Value;
    let leaf = prop_oneof![
        proptest::collection::vec(string_part(), 0..4).prop_map(|p| Value::String(p.concat())),
        any::<u32>().prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 64, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::vec(("[a-zA-Z]{1,12}", inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Writes `objects` as JSON Lines or as one CloudTrail S3 log file (its
/// elements joined by `joiner`) and splits it on both paths: the items
/// must be the objects, as the byte-at-a-time reference finds them.
fn splits_like_the_reference(
    objects: &[String],
    records_file: bool,
    joiner: &str,
    chunk: usize,
) -> Result<(), proptest::test_runner::TestCaseError> {
    let input = if records_file {
        format!("{{\"Records\":[{}]}}", objects.join(joiner))
    } else {
        objects.iter().map(|o| format!("{o}\n")).collect()
    };
    let inner = if records_file {
        &input[12..input.len() - 2]
    } else {
        &input[..]
    };
    let reference = reference::split(inner.as_bytes());
    proptest::prop_assert!(reference.cut_lines.is_empty(), "{:?}", reference);
    let want: Vec<String> = reference
        .items
        .into_iter()
        .map(|(s, e)| inner[s..e].to_string())
        .collect();
    proptest::prop_assert_eq!(&want, objects);
    // Whole, and read `chunk` bytes at a time: items and blocks cut
    // across reads anywhere.
    for avx2 in [false, true] {
        for chunk in [READ_CHUNK, chunk] {
            let (got, bad, _) = split_with(input.as_bytes(), avx2, chunk);
            proptest::prop_assert!(bad.is_empty(), "{:?}", bad);
            proptest::prop_assert_eq!(&got, &want);
        }
    }
    Ok(())
}

proptest::proptest! {
    #[test]
    fn agrees_with_a_byte_at_a_time_reference(
        values in proptest::collection::vec(
            proptest::collection::vec(string_part(), 0..12),
            1..40,
        ),
        records_file in proptest::bool::ANY,
        chunk in 1usize..300,
    ) {
        // Each value is an object whose string field holds escapes (runs of
        // escaped backslashes, escaped quotes), brackets and needles,
        // across blocks; as JSON Lines or as one CloudTrail S3 log file.
        let objects: Vec<String> = values
            .iter()
            .map(|parts| format!("{{\"k\":\"{}\",\"n\":[{{}},[]]}}", parts.concat()))
            .collect();
        splits_like_the_reference(&objects, records_file, ",", chunk)?;
    }

    #[test]
    fn splits_nested_records_like_the_reference(
        values in proptest::collection::vec(nested_value(), 1..24),
        records_file in proptest::bool::ANY,
        pretty in proptest::bool::ANY,
        chunk in 1usize..300,
    ) {
        // Nested objects and arrays, compact (where most blocks are
        // counted in bulk) or pretty-printed (where a bracket that starts
        // a line needs its container's kind).
        let objects: Vec<String> = values
            .into_iter()
            .map(|v| {
                let record = serde_json::json!({ "eventVersion": "1.09", "v": v });
                if pretty {
                    serde_json::to_string_pretty(&record)
                } else {
                    serde_json::to_string(&record)
                }
                .unwrap()
            })
            .collect();
        splits_like_the_reference(&objects, records_file, ",\n", chunk)?;
    }
}

/// The sample failed-MFA sign-in as one line starting at stream offset
/// `start`, its `userAgent` first and holding an escaped quote whose
/// backslash lands at `block_offset` of its 64-byte block.
fn failed_mfa_line(start: usize, block_offset: usize) -> String {
    let mut detail = crate::test_support::sample_detail("rule1-failed-mfa-iam-user.json");
    detail.as_object_mut().unwrap().remove("userAgent");
    let rest = detail.to_string();
    let prefix = "{\"userAgent\":\"";
    let pad = (block_offset + 64 - (start + prefix.len()) % 64) % 64;
    format!(
        "{prefix}{}\\\"quoted\\\" agent\",{}",
        "x".repeat(pad),
        &rest[1..]
    )
}

#[test]
fn a_cut_keeps_the_escape_at_the_end_of_its_block() {
    // Line 1 is cut inside a string; line 2 is a whole failed-MFA sign-in
    // whose escaped quote has its backslash at byte 63 of the block where
    // line 1 is cut. The escape belongs to line 2 and must survive the cut.
    let cut = "{\"a\":\"tru\n";
    let record = failed_mfa_line(cut.len(), 63);
    let input = format!("{cut}{record}\n");
    assert_eq!(
        input.find('\\'),
        Some(63),
        "the premise: the backslash is the last byte of the block where the cut is made"
    );
    for avx2 in [false, true] {
        for chunk in [READ_CHUNK, 1, 7, 64, 65, 130] {
            let (items, bad, lines) = split_with(input.as_bytes(), avx2, chunk);
            assert_eq!(
                items,
                [record.as_str()],
                "avx2: {avx2}, chunk: {chunk}: {bad:#?}"
            );
            assert_eq!(lines, [2]);
            assert_eq!(bad.len(), 1, "{bad:#?}");
            assert_eq!(bad[0].line, 1);
            assert!(bad[0].message.contains("cut short"), "{bad:#?}");
        }
    }
    let parsed: crate::domain::record::CloudTrailRecord = serde_json::from_str(&record).unwrap();
    assert_eq!(parsed.event_name(), Some("ConsoleLogin"));
    assert_eq!(
        parsed
            .user_agent
            .as_deref()
            .map(|a| a.ends_with("\"quoted\" agent")),
        Some(true)
    );
}

/// A line for [`lines_with_escapes_at_block_edges`]: which block offset
/// (0..4) and which escape (0..3), the text after it, and where to cut the
/// line (just after the backslash, or anywhere), if at all.
type EdgeLine = (usize, usize, String, Option<(bool, usize)>);

/// Writes JSON Lines of objects, each holding an escape (`\"`, `\\` or
/// `\n`) whose backslash sits at offset 61, 62, 63 or 0 of its block, some
/// lines cut short (anywhere, or just after that backslash).
fn lines_with_escapes_at_block_edges(lines: &[EdgeLine]) -> String {
    let mut out = String::new();
    for (edge, escape, text, cut) in lines {
        let prefix = "{\"k\":\"";
        let target = [61, 62, 63, 0][*edge];
        let pad = (target + 64 - (out.len() + prefix.len()) % 64) % 64;
        let escape = ["\\\"", "\\\\", "\\n"][*escape];
        let mut line = format!(
            "{prefix}{}{escape}{text}\",\"n\":[{{}},[]]}}",
            "x".repeat(pad)
        );
        match cut {
            Some((true, _)) => line.truncate(prefix.len() + pad + 1),
            Some((false, at)) => line.truncate(1 + at % (line.len() - 1)),
            None => {}
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

proptest::proptest! {
    #[test]
    fn cut_lines_next_to_escapes_at_block_edges_split_like_the_reference(
        lines in proptest::collection::vec(
            (
                0usize..4,
                0usize..3,
                proptest::collection::vec(string_part(), 0..4).prop_map(|p| p.concat()),
                proptest::option::weighted(0.4, (proptest::bool::ANY, 0usize..400)),
            ),
            1..24,
        ),
        chunk in 1usize..300,
    ) {

        let input = lines_with_escapes_at_block_edges(&lines);
        let reference = reference::split(input.as_bytes());
        let want: Vec<&str> = reference.items.iter().map(|&(s, e)| &input[s..e]).collect();
        for avx2 in [false, true] {
            for chunk in [READ_CHUNK, chunk] {
                let (got, bad, _) = split_with(input.as_bytes(), avx2, chunk);
                prop_assert_eq!(&got, &want, "avx2: {}, chunk: {}", avx2, chunk);
                let bad_lines: Vec<u64> = bad.iter().map(|b| b.line).collect();
                prop_assert_eq!(&bad_lines, &reference.cut_lines, "{:#?}", bad);
                prop_assert!(bad.iter().all(|b| b.message.contains("cut short")), "{:#?}", bad);
            }
        }
    }
}

/// Found by fuzzing: after blocks counted in bulk (the kinds of their
/// brackets unrecorded), a line-start `{` relearns the kinds by reading the
/// item again. That reading honoured backslashes inside strings only, the
/// scan everywhere; with a `\"` outside a string they disagreed on the
/// depth, the kinds stayed unknown and the AVX2 path missed the cut the
/// portable path reported.
#[test]
fn relearned_kinds_follow_the_scans_escapes() {
    let input =
        include_bytes!("../../../fuzz/regressions/splitter/relearn-backslash-outside-string");
    let (items, bad, _) = split_with(input, false, READ_CHUNK);
    let lines: Vec<u64> = bad.iter().map(|b| b.line).collect();
    assert_eq!(
        lines,
        [1, 13],
        "the cut at line 13's bracket, and the value it starts"
    );
    for chunk in [READ_CHUNK, 64, 7, 1] {
        let (i, b, _) = split_with(input, true, chunk);
        assert_eq!((&i, &b), (&items, &bad), "AVX2, reads of {chunk}");
    }
}
