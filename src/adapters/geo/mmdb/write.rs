//! A small MaxMind DB writer for the tests: one IPv4 network, one record,
//! in the format's own encoding (MaxMind DB File Format Specification 2.0),
//! so that the reader is tested on files the tests write themselves.

/// A value of the data section.
pub enum Value {
    Text(String),
    U32(u32),
    U16(u16),
    U64(u64),
    Double(f64),
    Map(Vec<(String, Value)>),
    Array(Vec<Value>),
}

fn control(kind: u8, size: usize, out: &mut Vec<u8>) {
    assert!(size < 29 + 256, "values up to 284 bytes only");
    // Sizes from 29 take the marker 29 and one more byte after the type.
    let (marker, extra) = if size < 29 {
        (size as u8, None)
    } else {
        (29, Some((size - 29) as u8))
    };
    if kind <= 7 {
        out.push((kind << 5) | marker);
    } else {
        // Extended types: type 0 in the control byte, then the type - 7.
        out.push(marker);
        out.push(kind - 7);
    }
    out.extend(extra);
}

fn unsigned(kind: u8, bytes: &[u8], out: &mut Vec<u8>) {
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    control(kind, bytes.len() - skip, out);
    out.extend_from_slice(&bytes[skip..]);
}

fn encode(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Text(s) => {
            control(2, s.len(), out);
            out.extend_from_slice(s.as_bytes());
        }
        Value::Double(d) => {
            control(3, 8, out);
            out.extend_from_slice(&d.to_be_bytes());
        }
        Value::U16(n) => unsigned(5, &n.to_be_bytes(), out),
        Value::U32(n) => unsigned(6, &n.to_be_bytes(), out),
        Value::U64(n) => unsigned(9, &n.to_be_bytes(), out),
        Value::Map(pairs) => {
            control(7, pairs.len(), out);
            for (k, v) in pairs {
                encode(&Value::Text(k.clone()), out);
                encode(v, out);
            }
        }
        Value::Array(items) => {
            control(11, items.len(), out);
            for v in items {
                encode(v, out);
            }
        }
    }
}

/// An IPv4 database of type `kind` in which `network/len` holds `record`.
pub fn database(kind: &str, network: [u8; 4], len: u32, record: &Value) -> Vec<u8> {
    let addr = u32::from_be_bytes(network);
    let nodes = len;
    let data_pointer = nodes + 16;
    let mut out = Vec::new();
    for depth in 0..len {
        let bit = (addr >> (31 - depth)) & 1;
        let next = if depth + 1 < len {
            depth + 1
        } else {
            data_pointer
        };
        let (left, right) = if bit == 0 {
            (next, nodes)
        } else {
            (nodes, next)
        };
        out.extend_from_slice(&left.to_be_bytes()[1..]);
        out.extend_from_slice(&right.to_be_bytes()[1..]);
    }
    out.extend_from_slice(&[0u8; 16]);
    encode(record, &mut out);
    out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
    let metadata = Value::Map(vec![
        ("node_count".into(), Value::U32(nodes)),
        ("record_size".into(), Value::U16(24)),
        ("ip_version".into(), Value::U16(4)),
        ("database_type".into(), Value::Text(kind.into())),
        (
            "languages".into(),
            Value::Array(vec![Value::Text("en".into())]),
        ),
        ("binary_format_major_version".into(), Value::U16(2)),
        ("binary_format_minor_version".into(), Value::U16(0)),
        ("build_epoch".into(), Value::U64(1_764_547_200)),
        (
            "description".into(),
            Value::Map(vec![("en".into(), Value::Text("test".into()))]),
        ),
    ]);
    encode(&metadata, &mut out);
    out
}
