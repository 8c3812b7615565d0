//! Data formats (reference §2.8) as Sluice reads and writes records: `CSV`, `TSV` and
//! `Custom`. Reading is a push parser fed chunks as they arrive (an S3 body, a file), so
//! memory holds one record at a time whatever the object's size; writing appends a
//! record's bytes to a buffer the caller flushes.
//!
//! The rules, where AWS's pages are thin:
//! - CSV is RFC 4180: a field with a comma, a quote, a newline or leading/trailing space
//!   is quoted, quotes doubled. An empty unquoted field is NULL, `""` the empty string.
//!   `escapeChar` (AWS's "Unix" CSV, e.g. `\`) reads `\,` and `\"` as the character.
//! - TSV escapes with a backslash: `\t`, `\n`, `\r`, `\\`, and `\N` for NULL (Hive's and
//!   PostgreSQL COPY's convention); `columnSeparator` and `recordSeparator` may change the
//!   tab and the newline.
//! - Custom has a separator and no quoting: a value that holds the separator or the record
//!   separator cannot be written, and says so.
//! - RegEx reads a line at a time: `inputRegEx`'s groups are the fields, and a line it does
//!   not match is malformed; it writes through `outputFormat`, whose `%1$s`, `%2$s` ... (Java
//!   formatter references) take the fields.
//!
//! A record is a list of fields, each `None` for NULL.

use thiserror::Error;

/// One record: its fields in column order, `None` for NULL.
pub type Record = Vec<Option<String>>;

/// A format as a data node's `dataFormat` defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    Csv {
        escape: Option<char>,
    },
    Tsv {
        separator: String,
        record: String,
    },
    Custom {
        separator: String,
        record: String,
    },
    RegEx {
        input: Option<String>,
        output: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FormatError {
    /// The data does not follow the format: names the record (1-based) and why.
    #[error("record {record}: {problem}")]
    Malformed { record: u64, problem: String },
    /// The definition's format cannot be used as written.
    #[error("data format \"{object}\": {problem}")]
    Definition { object: String, problem: String },
    /// A value this format cannot hold.
    #[error("record {record}, field {field}: {problem}")]
    Unwritable { record: u64, field: usize, problem: String },
}

/// `\t`, `\n` and the like as the characters they name (how definitions write separators).
fn unescaped(text: &str) -> String {
    text.replace("\\t", "\t")
        .replace("\\n", "\n")
        .replace("\\r", "\r")
        .replace("\\\\", "\\")
}

impl Format {
    /// The format of an object's evaluated fields (`type` CSV, TSV or Custom).
    pub fn from_fields(object_id: &str, field: impl Fn(&str) -> Option<String>) -> Result<Self, FormatError> {
        let problem = |problem: String| FormatError::Definition {
            object: object_id.to_owned(),
            problem,
        };
        let type_name = field("type").unwrap_or_default();
        match type_name.as_str() {
            "CSV" => {
                let escape = field("escapeChar").map(|text| unescaped(&text));
                let escape = match escape
                    .as_deref()
                    .map(|text| (text.chars().count(), text.chars().next()))
                {
                    None => None,
                    Some((1, Some(char))) => Some(char),
                    Some(_) => return Err(problem("escapeChar must be one character".to_owned())),
                };
                Ok(Self::Csv { escape })
            }
            "TSV" => Ok(Self::Tsv {
                separator: field("columnSeparator").map_or_else(|| "\t".to_owned(), |text| unescaped(&text)),
                record: field("recordSeparator").map_or_else(|| "\n".to_owned(), |text| unescaped(&text)),
            }),
            "Custom" => {
                let separator = field("columnSeparator")
                    .map(|text| unescaped(&text))
                    .filter(|text| !text.is_empty())
                    .ok_or_else(|| problem("a Custom format needs a columnSeparator".to_owned()))?;
                Ok(Self::Custom {
                    separator,
                    record: field("recordSeparator").map_or_else(|| "\n".to_owned(), |text| unescaped(&text)),
                })
            }
            "RegEx" => {
                let input = field("inputRegEx");
                if let Some(pattern) = &input {
                    regex_lite::Regex::new(pattern)
                        .map_err(|error| problem(format!("inputRegEx is not a regular expression: {error}")))?;
                }
                Ok(Self::RegEx {
                    input,
                    output: field("outputFormat"),
                })
            }
            other => Err(problem(format!(
                "{other} data is not read or written by this Sluice yet (CSV, TSV, Custom and RegEx are)"
            ))),
        }
    }

    /// A parser for data in this format.
    pub fn parser(&self) -> Parser {
        let regex = match self {
            Self::RegEx {
                input: Some(pattern), ..
            } => regex_lite::Regex::new(pattern).ok(),
            _ => None,
        };
        Parser {
            format: self.clone(),
            regex,
            pending: Vec::new(),
            record: 0,
        }
    }

    /// Appends `record` to `out` in this format; `number` (1-based) names it in errors.
    pub fn write(&self, record: &[Option<String>], number: u64, out: &mut Vec<u8>) -> Result<(), FormatError> {
        match self {
            Self::Csv { escape } => {
                for (index, field) in record.iter().enumerate() {
                    if index > 0 {
                        out.push(b',');
                    }
                    match field {
                        None => {}
                        Some(value) => write_csv_field(value, *escape, out),
                    }
                }
                out.push(b'\n');
            }
            Self::Tsv { separator, record: end } => {
                for (index, field) in record.iter().enumerate() {
                    if index > 0 {
                        out.extend_from_slice(separator.as_bytes());
                    }
                    match field {
                        None => out.extend_from_slice(b"\\N"),
                        Some(value) => {
                            for char in value.chars() {
                                match char {
                                    '\\' => out.extend_from_slice(b"\\\\"),
                                    '\t' => out.extend_from_slice(b"\\t"),
                                    '\n' => out.extend_from_slice(b"\\n"),
                                    '\r' => out.extend_from_slice(b"\\r"),
                                    char => {
                                        let mut buffer = [0; 4];
                                        out.extend_from_slice(char.encode_utf8(&mut buffer).as_bytes());
                                    }
                                }
                            }
                        }
                    }
                }
                out.extend_from_slice(end.as_bytes());
            }
            Self::RegEx { output, .. } => {
                let template = output.as_deref().ok_or_else(|| FormatError::Unwritable {
                    record: number,
                    field: 1,
                    problem: "a RegEx format writes through its outputFormat, and this one has none".to_owned(),
                })?;
                out.extend_from_slice(java_format(template, record).as_bytes());
                out.push(b'\n');
            }
            Self::Custom { separator, record: end } => {
                for (index, field) in record.iter().enumerate() {
                    if index > 0 {
                        out.extend_from_slice(separator.as_bytes());
                    }
                    let value = field.as_deref().unwrap_or_default();
                    if value.contains(separator.as_str()) || value.contains(end.as_str()) {
                        return Err(FormatError::Unwritable {
                            record: number,
                            field: index + 1,
                            problem: format!(
                                "the value holds the format's separator ({separator:?} or {end:?}), which a Custom \
                                 format cannot quote; use CSV or TSV"
                            ),
                        });
                    }
                    out.extend_from_slice(value.as_bytes());
                }
                out.extend_from_slice(end.as_bytes());
            }
        }
        Ok(())
    }
}

fn write_csv_field(value: &str, escape: Option<char>, out: &mut Vec<u8>) {
    if let Some(escape) = escape {
        for char in value.chars() {
            if char == ',' || char == '"' || char == '\n' || char == '\r' || char == escape {
                let mut buffer = [0; 4];
                out.extend_from_slice(escape.encode_utf8(&mut buffer).as_bytes());
            }
            let mut buffer = [0; 4];
            out.extend_from_slice(char.encode_utf8(&mut buffer).as_bytes());
        }
        if value.is_empty() {
            out.extend_from_slice(b"\"\"");
        }
        return;
    }
    let quote = value.is_empty()
        || value.contains([',', '"', '\n', '\r'])
        || value.starts_with(char::is_whitespace)
        || value.ends_with(char::is_whitespace);
    if quote {
        out.push(b'"');
        out.extend_from_slice(value.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(value.as_bytes());
    }
}

/// Reads records from chunks of bytes as they come.
#[derive(Debug)]
pub struct Parser {
    format: Format,
    /// A RegEx format's `inputRegEx`, compiled.
    regex: Option<regex_lite::Regex>,
    /// Bytes of a record not yet complete.
    pending: Vec<u8>,
    /// Records read so far.
    record: u64,
}

impl Parser {
    /// Feeds a chunk; every record it completes goes to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<Record>) -> Result<(), FormatError> {
        self.pending.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(end) = self.record_end(start) {
            let (body, next) = end;
            self.record += 1;
            let bytes = self.pending[start..body].to_vec();
            out.push(self.parse(&bytes)?);
            start = next;
        }
        self.pending.drain(..start);
        Ok(())
    }

    /// The end of the data: a last record without its separator counts.
    pub fn finish(mut self, out: &mut Vec<Record>) -> Result<(), FormatError> {
        if self.pending.iter().all(|byte| *byte == b'\r') {
            return Ok(());
        }
        if let Format::Csv { escape: None } = self.format
            && csv_open_quote(&self.pending)
        {
            return Err(FormatError::Malformed {
                record: self.record + 1,
                problem: "a quoted field is never closed".to_owned(),
            });
        }
        self.record += 1;
        let bytes = std::mem::take(&mut self.pending);
        out.push(self.parse(&bytes)?);
        Ok(())
    }

    /// Where the next record from `start` ends: its last byte (exclusive) and where the
    /// one after begins.
    fn record_end(&self, start: usize) -> Option<(usize, usize)> {
        let data = &self.pending[start..];
        match &self.format {
            Format::Csv { escape } => {
                let mut quoted = false;
                let mut index = 0;
                // Where the last escaped character ends: an escaped \r is data, not CRLF.
                let mut escaped_until = 0;
                while index < data.len() {
                    let byte = data[index];
                    if escape.is_some_and(|escape| u32::from(byte) == u32::from(escape)) && !quoted {
                        index += 2;
                        escaped_until = index;
                        continue;
                    }
                    match byte {
                        b'"' => quoted = !quoted,
                        b'\n' if !quoted => {
                            let crlf = index > 0 && data[index - 1] == b'\r' && escaped_until != index;
                            let body = if crlf { index - 1 } else { index };
                            return Some((start + body, start + index + 1));
                        }
                        _ => {}
                    }
                    index += 1;
                }
                None
            }
            Format::RegEx { .. } => data.iter().position(|byte| *byte == b'\n').map(|at| {
                let body = if at > 0 && data[at - 1] == b'\r' { at - 1 } else { at };
                (start + body, start + at + 1)
            }),
            Format::Tsv { record, .. } | Format::Custom { record, .. } => {
                let separator = record.as_bytes();
                data.windows(separator.len())
                    .position(|window| window == separator)
                    .map(|at| (start + at, start + at + separator.len()))
            }
        }
    }

    fn parse(&self, bytes: &[u8]) -> Result<Record, FormatError> {
        let malformed = |problem: String| FormatError::Malformed {
            record: self.record,
            problem,
        };
        let text = std::str::from_utf8(bytes).map_err(|error| malformed(format!("not UTF-8 text ({error})")))?;
        match &self.format {
            Format::Csv { escape } => parse_csv(text, *escape).map_err(malformed),
            Format::Tsv { separator, .. } => text
                .split(separator.as_str())
                .map(|field| parse_tsv_field(field).map_err(&malformed))
                .collect(),
            Format::Custom { separator, .. } => Ok(text
                .split(separator.as_str())
                .map(|field| Some(field.to_owned()))
                .collect()),
            Format::RegEx { .. } => {
                let Some(regex) = &self.regex else {
                    return Err(malformed(
                        "a RegEx format reads with its inputRegEx, and this one has none".to_owned(),
                    ));
                };
                let captures = regex
                    .captures(text)
                    .ok_or_else(|| malformed(format!("the line does not match inputRegEx {}", regex.as_str())))?;
                Ok(captures
                    .iter()
                    .skip(1)
                    .map(|group| group.map(|group| group.as_str().to_owned()))
                    .collect())
            }
        }
    }
}

/// A Java formatter string (`%1$s`, `%s`, `%%`, `%n`) filled with a record's fields; NULL
/// is written as `null`, as Java's formatter does.
fn java_format(template: &str, record: &[Option<String>]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut chars = template.chars().peekable();
    let mut next_plain = 0;
    let field = |index: usize| {
        record
            .get(index)
            .map(|value| value.clone().unwrap_or_else(|| "null".to_owned()))
            .unwrap_or_default()
    };
    while let Some(char) = chars.next() {
        if char != '%' {
            out.push(char);
            continue;
        }
        let mut digits = String::new();
        while let Some(digit) = chars.peek().filter(|c| c.is_ascii_digit()) {
            digits.push(*digit);
            chars.next();
        }
        match chars.next() {
            Some('$') => {
                // %<n>$s
                chars.next();
                let index: usize = digits.parse().unwrap_or(1);
                out.push_str(&field(index.saturating_sub(1)));
            }
            Some('s') if digits.is_empty() => {
                out.push_str(&field(next_plain));
                next_plain += 1;
            }
            Some('%') => out.push('%'),
            Some('n') => out.push('\n'),
            Some(other) => {
                out.push('%');
                out.push_str(&digits);
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// Whether CSV bytes end inside a quoted field.
fn csv_open_quote(bytes: &[u8]) -> bool {
    bytes.iter().filter(|byte| **byte == b'"').count() % 2 == 1
}

fn parse_csv(text: &str, escape: Option<char>) -> Result<Record, String> {
    let mut fields = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        let mut value = String::new();
        let mut quoted = false;
        let mut escaped_any = false;
        if chars.peek() == Some(&'"') {
            quoted = true;
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        value.push('"');
                    }
                    Some('"') => break,
                    Some(char) => value.push(char),
                    None => return Err(format!("field {} opens a quote it never closes", fields.len() + 1)),
                }
            }
            match chars.peek() {
                None | Some(',') => {}
                Some(other) => {
                    return Err(format!(
                        "field {} has {other:?} after its closing quote",
                        fields.len() + 1
                    ));
                }
            }
        } else {
            while let Some(&char) = chars.peek() {
                if char == ',' {
                    break;
                }
                chars.next();
                if Some(char) == escape {
                    if let Some(next) = chars.next() {
                        value.push(next);
                        escaped_any = true;
                    }
                    continue;
                }
                if char == '"' && value.is_empty() && escape.is_some() {
                    // `""` as a whole field is the empty string in the escaped variant.
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        quoted = true;
                        continue;
                    }
                }
                value.push(char);
            }
        }
        fields.push(if value.is_empty() && !quoted && !escaped_any {
            None
        } else {
            Some(value)
        });
        match chars.next() {
            Some(',') => {}
            None => return Ok(fields),
            Some(other) => return Err(format!("unexpected {other:?}")),
        }
    }
}

fn parse_tsv_field(field: &str) -> Result<Option<String>, String> {
    if field == "\\N" {
        return Ok(None);
    }
    let mut value = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(char) = chars.next() {
        if char != '\\' {
            value.push(char);
            continue;
        }
        match chars.next() {
            Some('t') => value.push('\t'),
            Some('n') => value.push('\n'),
            Some('r') => value.push('\r'),
            Some('\\') => value.push('\\'),
            Some(other) => value.push(other),
            None => return Err("a field ends in a lone backslash".to_owned()),
        }
    }
    Ok(Some(value))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn csv() -> Format {
        Format::Csv { escape: None }
    }

    fn tsv() -> Format {
        Format::Tsv {
            separator: "\t".to_owned(),
            record: "\n".to_owned(),
        }
    }

    fn read_all(format: &Format, data: &[u8], chunk: usize) -> Result<Vec<Record>, FormatError> {
        let mut parser = format.parser();
        let mut out = Vec::new();
        for piece in data.chunks(chunk.max(1)) {
            parser.feed(piece, &mut out)?;
        }
        parser.finish(&mut out)?;
        Ok(out)
    }

    fn write_all(format: &Format, records: &[Record]) -> Vec<u8> {
        let mut out = Vec::new();
        for (index, record) in records.iter().enumerate() {
            format.write(record, index as u64 + 1, &mut out).unwrap();
        }
        out
    }

    fn some(values: &[&str]) -> Record {
        values.iter().map(|value| Some((*value).to_owned())).collect()
    }

    #[test]
    fn csv_quotes_separators_quotes_newlines_and_tells_null_from_empty() {
        let records = vec![
            some(&["plain", "a,b", "say \"hi\"", "two\nlines", " padded ", "ünïcödé ✓"]),
            vec![None, Some(String::new()), Some("x".to_owned())],
        ];
        let written = write_all(&csv(), &records);
        assert_eq!(
            String::from_utf8(written.clone()).unwrap(),
            "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\" padded \",ünïcödé ✓\n,\"\",x\n"
        );
        for chunk in [1, 2, 3, 7, 1000] {
            assert_eq!(read_all(&csv(), &written, chunk).unwrap(), records, "chunks of {chunk}");
        }
        // CRLF records and a last record without a newline
        assert_eq!(
            read_all(&csv(), b"a,b\r\nc,d", 4).unwrap(),
            [some(&["a", "b"]), some(&["c", "d"])]
        );
    }

    #[test]
    fn unix_csv_reads_and_writes_escapes() {
        let format = Format::Csv { escape: Some('\\') };
        let records = vec![some(&["a,b", "back\\slash", "q\"uote", ""])];
        let written = write_all(&format, &records);
        assert_eq!(
            String::from_utf8(written.clone()).unwrap(),
            "a\\,b,back\\\\slash,q\\\"uote,\"\"\n"
        );
        assert_eq!(read_all(&format, &written, 3).unwrap(), records);
    }

    #[test]
    fn tsv_escapes_tabs_newlines_backslashes_and_writes_null_as_backslash_n() {
        let records = vec![vec![
            Some("a\tb".to_owned()),
            None,
            Some("line\nbreak\\".to_owned()),
            Some(String::new()),
        ]];
        let written = write_all(&tsv(), &records);
        assert_eq!(
            String::from_utf8(written.clone()).unwrap(),
            "a\\tb\t\\N\tline\\nbreak\\\\\t\n"
        );
        assert_eq!(read_all(&tsv(), &written, 2).unwrap(), records);
        let piped = Format::Tsv {
            separator: "|".to_owned(),
            record: "\n".to_owned(),
        };
        assert_eq!(
            read_all(&piped, b"a|b\nc|d\n", 3).unwrap(),
            [some(&["a", "b"]), some(&["c", "d"])]
        );
    }

    #[test]
    fn custom_formats_split_on_their_separator_and_refuse_values_that_hold_it() {
        let format = Format::Custom {
            separator: "*".to_owned(),
            record: "\n".to_owned(),
        };
        assert_eq!(read_all(&format, b"a*b*c\n", 2).unwrap(), [some(&["a", "b", "c"])]);
        let error = format.write(&some(&["ok", "a*b"]), 4, &mut Vec::new()).unwrap_err();
        assert_eq!(
            error.to_string().split(':').next(),
            Some("record 4, field 2"),
            "{error}"
        );
    }

    #[test]
    fn malformed_csv_names_the_record() {
        let error = read_all(&csv(), b"ok,1\n\"open,2\n", 100).unwrap_err();
        assert!(error.to_string().starts_with("record 2:"), "{error}");
        let error = read_all(&csv(), b"ok\n\"a\"b,c\n", 100).unwrap_err();
        assert_eq!(
            error,
            FormatError::Malformed {
                record: 2,
                problem: "field 1 has 'b' after its closing quote".to_owned()
            }
        );
        let error = read_all(&tsv(), b"a\\", 100).unwrap_err();
        assert!(error.to_string().contains("lone backslash"), "{error}");
        let error = read_all(&csv(), &[b'a', 0xff, b'\n'], 100).unwrap_err();
        assert!(error.to_string().contains("record 1: not UTF-8"), "{error}");
    }

    /// An object's fields as `Format::from_fields` reads them.
    fn fields(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |key: &str| {
            pairs
                .iter()
                .find(|(name, _)| *name == key)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    #[test]
    fn formats_come_from_their_objects() {
        assert_eq!(
            Format::from_fields("F", fields(&[("type", "TSV"), ("columnSeparator", "|")])).unwrap(),
            Format::Tsv {
                separator: "|".to_owned(),
                record: "\n".to_owned()
            }
        );
        assert_eq!(
            Format::from_fields("F", fields(&[("type", "CSV"), ("escapeChar", "\\\\")])).unwrap(),
            Format::Csv { escape: Some('\\') }
        );
        let error = Format::from_fields("F", fields(&[("type", "Custom")])).unwrap_err();
        assert!(error.to_string().contains("needs a columnSeparator"), "{error}");
        let error = Format::from_fields("F", fields(&[("type", "DynamoDBDataFormat")])).unwrap_err();
        assert!(
            error.to_string().contains("DynamoDBDataFormat data is not read"),
            "{error}"
        );
    }

    #[test]
    fn regex_formats_read_groups_and_write_through_their_output_format() {
        let format = Format::RegEx {
            input: Some(r"^(\S+) (\S+) \[(\d+)\]$".to_owned()),
            output: Some("%2$s wrote %1$s (%3$s%%), then %s".to_owned()),
        };
        let records = read_all(&format, b"GET /index.html [200]\r\nPOST /form [201]", 5).unwrap();
        assert_eq!(
            records,
            [some(&["GET", "/index.html", "200"]), some(&["POST", "/form", "201"])]
        );
        let mut out = Vec::new();
        format.write(&records[0], 1, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "/index.html wrote GET (200%), then GET\n"
        );
        let error = read_all(&format, b"GET /x [200]\nnot a log line\n", 100).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("record 2: the line does not match inputRegEx"),
            "{error}"
        );
        let error = Format::from_fields("R", fields(&[("type", "RegEx"), ("inputRegEx", "(unclosed")])).unwrap_err();
        assert!(
            error.to_string().contains("inputRegEx is not a regular expression"),
            "{error}"
        );
        let unwritable = Format::RegEx {
            input: None,
            output: None,
        };
        assert!(unwritable.write(&some(&["a"]), 3, &mut Vec::new()).is_err());
    }

    fn field() -> impl Strategy<Value = Option<String>> {
        prop_oneof![Just(None), "[ -~\\t\\n\\r,\"\\\\üé✓]{0,12}".prop_map(Some)]
    }

    proptest! {
        #[test]
        fn what_is_written_reads_back_the_same_in_any_chunks(
            records in proptest::collection::vec(proptest::collection::vec(field(), 1..5), 1..6),
            chunk in 1usize..9,
        ) {
            for format in [csv(), tsv(), Format::Csv { escape: Some('\\') }] {
                // A record of one NULL field is an empty line, which CSV cannot tell from
                // no record; real tables have more than one column or a value.
                if matches!(format, Format::Csv { .. }) && records.iter().any(|record| record.len() == 1 && record[0].is_none()) {
                    continue;
                }
                let written = write_all(&format, &records);
                prop_assert_eq!(read_all(&format, &written, chunk).unwrap(), records.clone());
            }
        }
    }
}
