//! Bulk import: header scanning, row → user mapping, foreign password hashes, and
//! the row reader the import jobs run on (through `dry_run`).
//!
//! Input: the first byte picks the mode (low two bits) and its flags; the rest is
//! the mode's data.
//! - `0` scan: the rest is the start of a file → `scan_fields` (flag 4: JSONL, flag
//!   8: the sample is the whole file). A header is 1..=256 unique non-empty names.
//! - `1` file: a mapping (JSON, one line, else a default mapping), `\n`, then a
//!   UTF-8 file (flag 4: JSONL) → `scan_fields` → `compile` → `dry_run`. Rows are
//!   numbered from 1, their end offsets strictly increase within the file, and a
//!   job resumed at any row's end offset (as the runner does from its checkpoint)
//!   reads exactly the rows after it, at the same offsets; reading the file in small
//!   chunks (as it streams from the store) changes nothing.
//! - `2` row: a mapping line, `\n`, then cells separated by U+001E → `user`.
//!   A failure is `row N: field: reason` and never carries a cell value; a user has
//!   its password in a form the verifier recognises.
//! - `3` hash: hash parameters (JSON) `\n` value `\n` salt → `check_params`, then
//!   `stored_form`, whose result the verifier recognises; `describe` of the value.

#![no_main]

use aegis_core::import::hash::{check_params, stored_form};
use aegis_core::import::mapping::FieldMapping;
use aegis_core::import::{
    dry_run, infer_type, scan_fields, FieldType, HashAlgorithm, HashParams, Mapping, RowInput,
    SourceFormat, Target, MAX_COLUMNS,
};
use aegis_core::password::describe;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::executor::block_on;
use libfuzzer_sys::fuzz_target;

/// Cells of a row in mode 2 are separated by this (a control character: a mapped
/// cell holding one fails anyway).
const CELL_SEPARATOR: char = '\u{1e}';

fn at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).expect("a valid time")
}

/// Every target on a column of its own name; passwords in any recognised form.
fn default_mapping() -> Mapping {
    let field = |column: &str, target| FieldMapping {
        column: column.into(),
        target,
    };
    Mapping {
        fields: vec![
            field("email", Target::Email),
            field("username", Target::Username),
            field("phone", Target::Phone),
            field("verified", Target::Verified),
            field("disabled", Target::Disabled),
            field("password", Target::Password),
            field("first_name", Target::Profile("first_name".into())),
        ],
        password: Some(HashParams::new(HashAlgorithm::Auto)),
    }
}

/// The mapping line and the rest.
fn mapping_and_rest(data: &[u8]) -> (Mapping, &[u8]) {
    match data.iter().position(|b| *b == b'\n') {
        Some(i) => {
            let mapping = serde_json::from_slice(&data[..i]).unwrap_or_else(|_| default_mapping());
            (mapping, &data[i + 1..])
        }
        None => (default_mapping(), data),
    }
}

fn scan(flags: u8, sample: &[u8]) {
    let format = if flags & 4 != 0 {
        SourceFormat::Jsonl
    } else {
        SourceFormat::Csv
    };
    if let Ok(text) = std::str::from_utf8(sample) {
        for value in text.lines() {
            check_type(value);
        }
    }
    let Ok(fields) = block_on(scan_fields(format, sample, flags & 8 != 0)) else {
        return;
    };
    assert!((1..=MAX_COLUMNS).contains(&fields.len()));
    for (i, f) in fields.iter().enumerate() {
        assert!(!f.name.is_empty());
        assert!(fields[..i].iter().all(|g| g.name != f.name), "{fields:?}");
    }
}

/// `infer_type` of one value against its documented grammar.
fn check_type(value: &str) {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match infer_type(std::iter::once(value)) {
        FieldType::Bool => {
            assert!(value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false"))
        }
        FieldType::Int => assert!(value.parse::<i64>().is_ok()),
        FieldType::Float => assert!(value.parse::<f64>().is_ok_and(f64::is_finite)),
        // RFC 3339 full-date: YYYY-MM-DD.
        FieldType::Date => {
            let parts: Vec<&str> = value.split('-').collect();
            assert!(
                matches!(parts[..], [y, m, d] if y.len() == 4 && m.len() == 2 && d.len() == 2 && digits(y) && digits(m) && digits(d)),
                "{value:?} is not a full-date"
            );
        }
        FieldType::Datetime => assert!(DateTime::parse_from_rfc3339(value).is_ok()),
        FieldType::String => {}
    }
}

/// A row's outcome without its row number and random id, to compare runs.
fn outcome(input: &RowInput) -> String {
    match input {
        RowInput::Create(u) => format!(
            "create {:?} {:?} {:?} {:?} {:?} {} {}",
            u.email.as_ref().map(|e| e.as_str()),
            u.username.as_str(),
            u.password_hash,
            u.profile,
            u.phone,
            u.active,
            u.verified
        ),
        RowInput::Failed(m) => {
            let (_, rest) = m.split_once(": ").expect("a failure starts with `row N: `");
            format!("failed {rest}")
        }
    }
}

/// `(row, outcome, end offset)` of every row `dry_run` reads from `chunks`.
fn rows(
    format: SourceFormat,
    chunks: Vec<Bytes>,
    header: &[String],
    mapping: &Mapping,
) -> Option<Vec<(u64, String, u64)>> {
    let compiled = mapping.compile(header).ok()?;
    let rdr = tokio_util::io::StreamReader::new(futures::stream::iter(
        chunks.into_iter().map(Ok::<_, std::io::Error>),
    ));
    let mut out = Vec::new();
    let counters = block_on(dry_run(
        format,
        rdr,
        header.to_vec(),
        compiled,
        at(),
        |row, input, offset| out.push((row, outcome(input), offset)),
    ))
    .ok()?;
    assert_eq!(counters.total, out.len() as u64);
    assert_eq!(counters.successful + counters.failed, counters.total);
    Some(out)
}

fn file(flags: u8, data: &[u8]) {
    let (mapping, file) = mapping_and_rest(data);
    // Uploads are checked to be UTF-8 before anything reads them.
    if std::str::from_utf8(file).is_err() {
        return;
    }
    let format = if flags & 4 != 0 {
        SourceFormat::Jsonl
    } else {
        SourceFormat::Csv
    };
    let Ok(fields) = block_on(scan_fields(format, file, true)) else {
        return;
    };
    let header: Vec<String> = fields.into_iter().map(|f| f.name).collect();
    let whole = vec![Bytes::copy_from_slice(file)];
    let Some(all) = rows(format, whole, &header, &mapping) else {
        return;
    };
    let mut last = 0;
    for (i, (row, _, end)) in all.iter().enumerate() {
        assert_eq!(*row, i as u64 + 1);
        assert!(*end > last && *end <= file.len() as u64, "{all:?}");
        last = *end;
    }

    // The same file arriving in small chunks.
    let size = usize::from(flags >> 4) + 1;
    let chunks = file.chunks(size).map(Bytes::copy_from_slice).collect();
    let chunked = rows(format, chunks, &header, &mapping);
    assert_eq!(chunked.as_ref(), Some(&all), "chunks of {size} bytes");

    // Resumed after a row, as from a checkpoint: the rest, at the same offsets.
    let mut picks = vec![0, all.len() / 2, all.len().saturating_sub(1)];
    picks.dedup();
    for k in picks.into_iter().filter(|k| *k < all.len()) {
        let from = all[k].2 as usize;
        let (prefix, skipped) = match format {
            // The reader skips a header first: give it the file's own.
            SourceFormat::Csv => {
                let h = header_end(file);
                (file[..h].to_vec(), h)
            }
            SourceFormat::Jsonl => (Vec::new(), 0),
        };
        let resumed_file = [prefix.as_slice(), &file[from..]].concat();
        let resumed = rows(format, vec![Bytes::from(resumed_file)], &header, &mapping)
            .expect("a resumed job reads as far as the whole did");
        let shifted: Vec<(u64, String, u64)> = resumed
            .into_iter()
            .map(|(row, o, end)| (row + k as u64 + 1, o, end - skipped as u64 + from as u64))
            .collect();
        assert_eq!(shifted, all[k + 1..], "resumed after row {}", k + 1);
    }
}

/// Where the CSV header record ends, read as the importer's reader reads it.
fn header_end(file: &[u8]) -> usize {
    let mut reader = csv_async::AsyncReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .create_reader(file);
    let mut record = csv_async::StringRecord::new();
    block_on(reader.read_record(&mut record)).expect("the header was read before");
    reader.position().byte() as usize
}

/// Whether a cell value is distinctive enough that finding it in a message means
/// the message carries it (and not a coincidence with the fixed text).
fn distinctive(v: &str) -> bool {
    v.chars().count() >= 3
        && v.chars()
            .any(|c| !c.is_ascii() || "#$%&!~^`{}[]<>|\\;".contains(c))
}

fn row(flags: u8, data: &[u8]) {
    let (mapping, rest) = mapping_and_rest(data);
    let Ok(rest) = std::str::from_utf8(rest) else {
        return;
    };
    let mut header: Vec<String> = Vec::new();
    for f in &mapping.fields {
        if !header.contains(&f.column) {
            header.push(f.column.clone());
        }
    }
    let Ok(compiled) = mapping.compile(&header) else {
        return;
    };
    let cells: Vec<&str> = rest.split(CELL_SEPARATOR).collect();
    let n = u64::from(flags >> 2);
    match compiled.user(n, &cells, uuid::Uuid::nil(), at()) {
        Ok(user) => {
            assert!(user.email.is_some());
            let password = mapping
                .fields
                .iter()
                .position(|f| f.target == Target::Password)
                .and_then(|i| header.iter().position(|h| *h == mapping.fields[i].column))
                .map(|c| cells[c])
                .filter(|v| !v.is_empty());
            assert_eq!(password.is_some(), user.password_hash.is_some());
            if let Some(hash) = &user.password_hash {
                assert!(describe(hash).is_some(), "stored an unrecognised hash");
            }
        }
        Err(message) => {
            assert!(message.starts_with(&format!("row {n}: ")), "{message}");
            for cell in cells.iter().filter(|c| distinctive(c)) {
                assert!(
                    !message.contains(cell),
                    "the message {message:?} carries a cell value"
                );
            }
        }
    }
}

fn hash(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.splitn(3, '\n');
    let params = parts.next().unwrap_or_default();
    let value = parts.next().unwrap_or_default();
    let salt = parts.next();
    let _ = describe(value);
    let Ok(params) = serde_json::from_str::<HashParams>(params) else {
        return;
    };
    if check_params(&params).is_err() {
        return;
    }
    match stored_form(&params, value, salt) {
        Ok(stored) => assert!(describe(&stored).is_some()),
        Err(reason) => {
            if distinctive(value) {
                assert!(!reason.contains(value), "the reason carries the value");
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    match flags & 3 {
        0 => scan(flags, rest),
        1 => file(flags, rest),
        2 => row(flags, rest),
        _ => hash(rest),
    }
});
