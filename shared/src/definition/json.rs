//! A small JSON reader that remembers where everything is.
//!
//! Definitions need more than a JSON parser gives: the line and column of each object and
//! field for messages, keys that appear twice in one object (the AWS CLI silently keeps
//! the last), and a precise word on the raw control characters that real definitions hold
//! inside strings. The reader is strict RFC 8259 JSON otherwise.

use std::fmt;

use thiserror::Error;

/// A 1-based line and column (in characters) in the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A JSON value and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Json {
    pub position: Position,
    pub value: JsonValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum JsonValue {
    Null,
    Bool(bool),
    /// The number as written, so that `1.50` stays `1.50` when it becomes a field string.
    Number(String),
    String(String),
    Array(Vec<Json>),
    /// Members in source order, duplicates kept.
    Object(Vec<Member>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub key: String,
    pub key_position: Position,
    pub value: Json,
}

impl JsonValue {
    /// The kind of value, for messages: "a string", "an array".
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool(_) => "a boolean",
            Self::Number(_) => "a number",
            Self::String(_) => "a string",
            Self::Array(_) => "an array",
            Self::Object(_) => "an object",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {}, column {}: {message}", position.line, position.column)]
pub struct JsonError {
    pub position: Position,
    pub message: String,
}

/// Deeper nesting than any definition needs; bounds recursion on hostile input.
const MAX_DEPTH: usize = 128;

/// Parses one JSON document.
pub fn parse(text: &str) -> Result<Json, JsonError> {
    let mut reader = Reader {
        text,
        offset: 0,
        line: 1,
        column: 1,
    };
    // A UTF-8 byte order mark is common in files saved by Windows editors.
    if reader.rest().starts_with('\u{feff}') {
        reader.offset += '\u{feff}'.len_utf8();
    }
    reader.skip_whitespace();
    let value = reader.value(0)?;
    reader.skip_whitespace();
    if let Some(character) = reader.peek() {
        return Err(reader.error(format!(
            "unexpected {} after the end of the JSON document",
            describe_character(character)
        )));
    }
    Ok(value)
}

struct Reader<'a> {
    text: &'a str,
    offset: usize,
    line: u32,
    column: u32,
}

impl<'a> Reader<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.offset..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn position(&self) -> Position {
        Position {
            line: self.line,
            column: self.column,
        }
    }

    fn error(&self, message: String) -> JsonError {
        JsonError {
            position: self.position(),
            message,
        }
    }

    fn bump(&mut self) -> Option<char> {
        let character = self.peek()?;
        self.offset += character.len_utf8();
        if character == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(character)
    }

    fn skip_whitespace(&mut self) {
        while let Some(' ' | '\t' | '\n' | '\r') = self.peek() {
            self.bump();
        }
    }

    fn expect_literal(&mut self, word: &str) -> Result<(), JsonError> {
        if self.rest().starts_with(word) {
            for _ in word.chars() {
                self.bump();
            }
            Ok(())
        } else {
            Err(self.unexpected("a JSON value"))
        }
    }

    fn unexpected(&self, wanted: &str) -> JsonError {
        match self.peek() {
            None => self.error(format!(
                "the file ends where {wanted} was expected; is something cut off?"
            )),
            Some(character) => self.error(format!("expected {wanted}, found {}", describe_character(character))),
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.error(format!("nested more than {MAX_DEPTH} levels deep")));
        }
        let position = self.position();
        let value = match self.peek() {
            Some('{') => self.object(depth)?,
            Some('[') => self.array(depth)?,
            Some('"') => JsonValue::String(self.string()?),
            Some('t') => self.expect_literal("true").map(|()| JsonValue::Bool(true))?,
            Some('f') => self.expect_literal("false").map(|()| JsonValue::Bool(false))?,
            Some('n') => self.expect_literal("null").map(|()| JsonValue::Null)?,
            Some('-' | '0'..='9') => JsonValue::Number(self.number()?),
            Some('\'') => return Err(self.error("strings in JSON take double quotes (\"), not single quotes".into())),
            _ => return Err(self.unexpected("a JSON value")),
        };
        Ok(Json { position, value })
    }

    fn object(&mut self, depth: usize) -> Result<JsonValue, JsonError> {
        self.bump();
        let mut members = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some('}') {
            self.bump();
            return Ok(JsonValue::Object(members));
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some('"') {
                return Err(match self.peek() {
                    Some('}') => {
                        self.error("a comma before '}' is not allowed in JSON: remove the trailing comma".into())
                    }
                    _ => self.unexpected("a member name in double quotes"),
                });
            }
            let key_position = self.position();
            let key = self.string()?;
            self.skip_whitespace();
            if self.peek() != Some(':') {
                return Err(self.unexpected(&format!("':' after the member name \"{key}\"")));
            }
            self.bump();
            self.skip_whitespace();
            let value = self.value(depth + 1)?;
            members.push(Member {
                key,
                key_position,
                value,
            });
            self.skip_whitespace();
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some('}') => {
                    self.bump();
                    return Ok(JsonValue::Object(members));
                }
                _ => return Err(self.unexpected("',' or '}' after an object member")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<JsonValue, JsonError> {
        self.bump();
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(']') {
            self.bump();
            return Ok(JsonValue::Array(items));
        }
        loop {
            self.skip_whitespace();
            if self.peek() == Some(']') {
                return Err(self.error("a comma before ']' is not allowed in JSON: remove the trailing comma".into()));
            }
            items.push(self.value(depth + 1)?);
            self.skip_whitespace();
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some(']') => {
                    self.bump();
                    return Ok(JsonValue::Array(items));
                }
                _ => return Err(self.unexpected("',' or ']' after an array element")),
            }
        }
    }

    fn string(&mut self) -> Result<String, JsonError> {
        let start = self.position();
        self.bump();
        let mut result = String::new();
        loop {
            let Some(character) = self.peek() else {
                return Err(JsonError {
                    position: start,
                    message: "this string is never closed: add the closing double quote".into(),
                });
            };
            match character {
                '"' => {
                    self.bump();
                    return Ok(result);
                }
                '\\' => {
                    self.bump();
                    result.push(self.escape()?);
                }
                '\u{0}'..='\u{1f}' => {
                    return Err(self.error(format!(
                        "raw control character {} inside a string (which began at line {}, column {}): JSON needs it escaped; write {} instead",
                        describe_character(character),
                        start.line,
                        start.column,
                        escaped_form(character)
                    )));
                }
                _ => {
                    self.bump();
                    result.push(character);
                }
            }
        }
    }

    fn escape(&mut self) -> Result<char, JsonError> {
        let Some(character) = self.bump() else {
            return Err(self.error("the file ends inside an escape sequence".into()));
        };
        Ok(match character {
            '"' => '"',
            '\\' => '\\',
            '/' => '/',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'u' => {
                let first = self.hex4()?;
                if (0xD800..0xDC00).contains(&first) {
                    // A high surrogate must be followed by an escaped low surrogate.
                    if self.rest().starts_with("\\u") {
                        self.bump();
                        self.bump();
                        let second = self.hex4()?;
                        if (0xDC00..0xE000).contains(&second) {
                            let code = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                            return char::from_u32(code).ok_or_else(|| self.error("invalid surrogate pair".into()));
                        }
                    }
                    return Err(self.error(format!(
                        "\\u{first:04X} is half of a surrogate pair without its other half"
                    )));
                }
                return char::from_u32(first).ok_or_else(|| {
                    self.error(format!(
                        "\\u{first:04X} is half of a surrogate pair without its other half"
                    ))
                });
            }
            other => {
                return Err(self.error(format!(
                    "\\{other} is not a JSON escape: use \\\", \\\\, \\/, \\b, \\f, \\n, \\r, \\t or \\uXXXX (to write a backslash, double it)"
                )));
            }
        })
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut code = 0;
        for _ in 0..4 {
            let digit = self.peek().and_then(|character| character.to_digit(16));
            let Some(digit) = digit else {
                return Err(self.unexpected("four hexadecimal digits after \\u"));
            };
            self.bump();
            code = code * 16 + digit;
        }
        Ok(code)
    }

    fn number(&mut self) -> Result<String, JsonError> {
        let start = self.offset;
        if self.peek() == Some('-') {
            self.bump();
        }
        match self.peek() {
            Some('0') => {
                self.bump();
            }
            Some('1'..='9') => self.digits(),
            _ => return Err(self.unexpected("a digit")),
        }
        if self.peek() == Some('.') {
            self.bump();
            if !matches!(self.peek(), Some('0'..='9')) {
                return Err(self.unexpected("a digit after the decimal point"));
            }
            self.digits();
        }
        if let Some('e' | 'E') = self.peek() {
            self.bump();
            if let Some('+' | '-') = self.peek() {
                self.bump();
            }
            if !matches!(self.peek(), Some('0'..='9')) {
                return Err(self.unexpected("a digit in the exponent"));
            }
            self.digits();
        }
        Ok(self.text[start..self.offset].to_owned())
    }

    fn digits(&mut self) {
        while let Some('0'..='9') = self.peek() {
            self.bump();
        }
    }
}

/// Names a character for a message: `'x'`, or `U+000A (line feed)` for invisible ones.
pub fn describe_character(character: char) -> String {
    let name = match character {
        '\n' => Some("line feed"),
        '\r' => Some("carriage return"),
        '\t' => Some("tab"),
        '\u{0}' => Some("NUL"),
        '\u{8}' => Some("backspace"),
        '\u{c}' => Some("form feed"),
        _ => None,
    };
    match name {
        Some(name) => format!("U+{:04X} ({name})", u32::from(character)),
        None if character.is_control() => format!("U+{:04X}", u32::from(character)),
        None => format!("'{character}'"),
    }
}

fn escaped_form(character: char) -> String {
    match character {
        '\n' => "\\n".into(),
        '\r' => "\\r".into(),
        '\t' => "\\t".into(),
        '\u{8}' => "\\b".into(),
        '\u{c}' => "\\f".into(),
        other => format!("\\u{:04X}", u32::from(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object_members(json: &Json) -> &[Member] {
        match &json.value {
            JsonValue::Object(members) => members,
            other => panic!("expected an object, got {other:?}"),
        }
    }

    #[test]
    fn keeps_positions_order_and_duplicate_keys() {
        // Given an object whose key repeats
        let json = parse("{\n  \"b\": \"1\",\n  \"a\": [true, null],\n  \"b\": 2.50\n}").unwrap();
        // Then every member is kept in order with its position
        let members = object_members(&json);
        let keys: Vec<_> = members.iter().map(|member| member.key.as_str()).collect();
        assert_eq!(keys, ["b", "a", "b"]);
        assert_eq!(members[1].key_position, Position { line: 3, column: 3 });
        assert_eq!(members[1].value.position, Position { line: 3, column: 8 });
        assert_eq!(members[2].value.value, JsonValue::Number("2.50".into()));
    }

    #[test]
    fn decodes_every_escape() {
        let json = parse(r#""a\"b\\c\/d\be\ff\ng\rh\ti\u00e9\ud83d\ude00""#).unwrap();
        assert_eq!(
            json.value,
            JsonValue::String("a\"b\\c/d\u{8}e\u{c}f\ng\rh\ti\u{e9}\u{1F600}".into())
        );
    }

    #[test]
    fn a_raw_newline_inside_a_string_is_located_and_explained() {
        // Given a string broken over two lines, as in two of AWS's own samples
        let error = parse("{\n  \"myComment\": \"one\ntwo\"\n}").unwrap_err();
        // Then the message says where, what, and how to fix it
        assert_eq!(error.position, Position { line: 2, column: 20 });
        assert!(error.message.contains("U+000A (line feed)"), "{error}");
        assert!(error.message.contains("line 2, column 16"), "{error}");
        assert!(error.message.contains("\\n"), "{error}");
    }

    #[test]
    fn common_mistakes_get_specific_messages() {
        let cases = [
            ("{\"a\": \"1\",}", "trailing comma"),
            ("[1, 2,]", "trailing comma"),
            ("{'a': 1}", "member name in double quotes"),
            ("{\"a\": 'x'}", "single quotes"),
            ("{\"a\" \"b\"}", "':' after the member name \"a\""),
            ("{\"a\": \"b\"", "file ends"),
            ("\"abc", "never closed"),
            ("{\"a\": \"\\q\"}", "not a JSON escape"),
            ("{} {}", "after the end"),
            ("", "file ends"),
            ("01", "after the end"),
            ("-", "a digit"),
            ("1.", "decimal point"),
            ("\"\\ud800\"", "surrogate"),
        ];
        for (text, expected) in cases {
            let error = parse(text).unwrap_err();
            assert!(error.to_string().contains(expected), "{text:?} gave {error}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let text = "[".repeat(100_000);
        assert!(parse(&text).unwrap_err().message.contains("nested"));
    }

    #[test]
    fn accepts_a_byte_order_mark() {
        assert_eq!(parse("\u{feff}{}").unwrap().value, JsonValue::Object(Vec::new()));
    }

    #[test]
    fn agrees_with_serde_json_on_valid_documents() {
        let text = r#"{"objects": [{"id": "A", "n": -1.5e3, "l": [1, {"ref": "B"}], "t": true, "z": null}]}"#;
        let ours = parse(text).unwrap();
        let theirs: serde_json::Value = serde_json::from_str(text).unwrap();
        fn same(json: &Json, value: &serde_json::Value) -> bool {
            match (&json.value, value) {
                (JsonValue::Null, serde_json::Value::Null) => true,
                (JsonValue::Bool(a), serde_json::Value::Bool(b)) => a == b,
                (JsonValue::Number(a), serde_json::Value::Number(b)) => a.parse::<f64>().ok() == b.as_f64(),
                (JsonValue::String(a), serde_json::Value::String(b)) => a == b,
                (JsonValue::Array(a), serde_json::Value::Array(b)) => {
                    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
                }
                (JsonValue::Object(a), serde_json::Value::Object(b)) => {
                    a.len() == b.len()
                        && a.iter()
                            .all(|member| b.get(&member.key).is_some_and(|v| same(&member.value, v)))
                }
                _ => false,
            }
        }
        assert!(same(&ours, &theirs));
    }
}
