//! Tokens of one `#{...}` expression, read from the field value up to the `}` that closes
//! it. Offsets are 0-based character indexes into the whole field value.

use super::ExprError;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum TokenKind {
    Int(i64),
    Float(f64),
    Str(String),
    /// An identifier as written, with its `@` prefix if any: `input`, `@scheduledStartTime`.
    Name(String),
    Plus,
    Minus,
    Star,
    Slash,
    Caret,
    LeftParen,
    RightParen,
    Comma,
    Dot,
    /// The `}` that closes the expression.
    Close,
    /// The end of the field value.
    End,
}

impl TokenKind {
    /// How the token reads in an error message.
    pub(super) fn describe(&self) -> String {
        match self {
            TokenKind::Int(number) => format!("the number {number}"),
            TokenKind::Float(_) => "a number".to_owned(),
            TokenKind::Str(_) => "a quoted string".to_owned(),
            TokenKind::Name(name) => format!("\"{name}\""),
            TokenKind::Plus => "\"+\"".to_owned(),
            TokenKind::Minus => "\"-\"".to_owned(),
            TokenKind::Star => "\"*\"".to_owned(),
            TokenKind::Slash => "\"/\"".to_owned(),
            TokenKind::Caret => "\"^\"".to_owned(),
            TokenKind::LeftParen => "\"(\"".to_owned(),
            TokenKind::RightParen => "\")\"".to_owned(),
            TokenKind::Comma => "\",\"".to_owned(),
            TokenKind::Dot => "\".\"".to_owned(),
            TokenKind::Close => "\"}\"".to_owned(),
            TokenKind::End => "the end of the value".to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Token {
    pub kind: TokenKind,
    pub offset: usize,
}

pub(super) struct Lexer<'a> {
    text: &'a str,
    /// Byte position in `text`; always on a character boundary.
    pos: usize,
    /// Character offset of `pos`.
    column: usize,
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl<'a> Lexer<'a> {
    pub(super) fn new(text: &'a str, pos: usize, column: usize) -> Self {
        Self { text, pos, column }
    }

    /// Byte and character position of the next unread character.
    pub(super) fn position(&self) -> (usize, usize) {
        (self.pos, self.column)
    }

    fn rest(&self) -> &'a str {
        self.text.get(self.pos..).unwrap_or_default()
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek_second(&self) -> Option<char> {
        self.rest().chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        self.column += 1;
        Some(c)
    }

    /// Consumes identifier characters; the run may be empty.
    fn name_chars(&mut self) -> &'a str {
        let rest = self.rest();
        let length = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
        let name = rest.get(..length).unwrap_or_default();
        // Identifier characters are ASCII: one byte, one column each.
        self.pos += length;
        self.column += length;
        name
    }

    /// Right after a `*` in operand position: the name it makes secret, if one follows
    /// immediately (`*myPassword`).
    pub(super) fn secret_name(&mut self) -> Option<String> {
        let name = self.name_chars();
        (!name.is_empty()).then(|| format!("*{name}"))
    }

    pub(super) fn next_token(&mut self) -> Result<Token, ExprError> {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
        let offset = self.column;
        let Some(c) = self.peek() else {
            return Ok(Token {
                kind: TokenKind::End,
                offset,
            });
        };
        let single = |kind| (kind, true);
        let (kind, consume) = match c {
            '0'..='9' => (self.number(offset)?, false),
            '.' if self.peek_second().is_some_and(|next| next.is_ascii_digit()) => (self.number(offset)?, false),
            '\'' | '"' => (self.string(c, offset)?, false),
            '@' => {
                self.bump();
                let name = self.name_chars();
                if name.is_empty() {
                    return Err(ExprError::new(
                        offset,
                        "\"@\" must be followed by a runtime field name, such as @scheduledStartTime",
                    ));
                }
                let mut prefixed = String::with_capacity(name.len() + 1);
                prefixed.push('@');
                prefixed.push_str(name);
                (TokenKind::Name(prefixed), false)
            }
            c if c.is_ascii_alphabetic() || c == '_' => (TokenKind::Name(self.name_chars().to_owned()), false),
            '+' => single(TokenKind::Plus),
            '-' => single(TokenKind::Minus),
            '*' => single(TokenKind::Star),
            '/' => single(TokenKind::Slash),
            '^' => single(TokenKind::Caret),
            '(' => single(TokenKind::LeftParen),
            ')' => single(TokenKind::RightParen),
            ',' => single(TokenKind::Comma),
            '.' => single(TokenKind::Dot),
            '}' => single(TokenKind::Close),
            other => {
                return Err(ExprError::new(
                    offset,
                    format!(
                        "unexpected character {other:?} in an expression: expressions hold names, numbers, 'quoted text', function calls and + - * / ^"
                    ),
                ));
            }
        };
        if consume {
            self.bump();
        }
        Ok(Token { kind, offset })
    }

    /// `12`, `1.5`, `.5`, `2.5e3`: an integer unless it has a fraction or an exponent.
    fn number(&mut self, offset: usize) -> Result<TokenKind, ExprError> {
        let start = self.pos;
        let digits = |lexer: &mut Self| {
            while lexer.peek().is_some_and(|c| c.is_ascii_digit()) {
                lexer.bump();
            }
        };
        digits(self);
        let mut float = false;
        if self.peek() == Some('.') && self.peek_second().is_some_and(|c| c.is_ascii_digit()) {
            float = true;
            self.bump();
            digits(self);
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let after = self.rest().get(1..).unwrap_or_default();
            let unsigned = after.strip_prefix(['+', '-']).unwrap_or(after);
            if unsigned.starts_with(|c: char| c.is_ascii_digit()) {
                float = true;
                self.bump();
                if matches!(self.peek(), Some('+' | '-')) {
                    self.bump();
                }
                digits(self);
            }
        }
        let text = self.text.get(start..self.pos).unwrap_or_default();
        if float {
            match text.parse::<f64>() {
                Ok(number) if number.is_finite() => Ok(TokenKind::Float(number)),
                _ => Err(ExprError::new(offset, format!("the number {text} is too large"))),
            }
        } else {
            text.parse::<i64>().map(TokenKind::Int).map_err(|_| {
                ExprError::new(
                    offset,
                    format!(
                        "the whole number {text} is too large: the largest is {}; write {text}.0 for a floating-point number",
                        i64::MAX
                    ),
                )
            })
        }
    }

    /// A string in `'` or `"` quotes; `\'`, `\"` and `\\` escape, other backslashes are kept.
    fn string(&mut self, quote: char, offset: usize) -> Result<TokenKind, ExprError> {
        self.bump();
        // Without escapes the string is a slice of the text: copy it in one piece.
        let rest = self.rest();
        if let Some(end) = rest.find([quote, '\\'])
            && rest.get(end..).is_some_and(|tail| tail.starts_with(quote))
        {
            let value = rest.get(..end).unwrap_or_default();
            self.pos += end + quote.len_utf8();
            self.column += value.chars().count() + 1;
            return Ok(TokenKind::Str(value.to_owned()));
        }
        let mut value = String::new();
        loop {
            match self.bump() {
                None => {
                    return Err(ExprError::new(
                        offset,
                        format!("this string has no closing {quote}: end it with {quote} before the closing }}"),
                    ));
                }
                Some(c) if c == quote => return Ok(TokenKind::Str(value)),
                Some('\\') => match self.peek() {
                    Some(escaped @ ('\'' | '"' | '\\')) => {
                        self.bump();
                        value.push(escaped);
                    }
                    _ => value.push('\\'),
                },
                Some(c) => value.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<TokenKind> {
        let mut lexer = Lexer::new(text, 0, 0);
        let mut kinds = Vec::new();
        loop {
            let token = lexer.next_token().unwrap();
            if token.kind == TokenKind::End {
                return kinds;
            }
            kinds.push(token.kind);
        }
    }

    fn name(text: &str) -> TokenKind {
        TokenKind::Name(text.to_owned())
    }

    #[test]
    fn reads_numbers_names_strings_and_operators() {
        assert_eq!(
            kinds("1 + 2.5 * .5 ^ 1e3 - x_1.@id / 'a}' , (\"b\")}"),
            vec![
                TokenKind::Int(1),
                TokenKind::Plus,
                TokenKind::Float(2.5),
                TokenKind::Star,
                TokenKind::Float(0.5),
                TokenKind::Caret,
                TokenKind::Float(1000.0),
                TokenKind::Minus,
                name("x_1"),
                TokenKind::Dot,
                name("@id"),
                TokenKind::Slash,
                TokenKind::Str("a}".into()),
                TokenKind::Comma,
                TokenKind::LeftParen,
                TokenKind::Str("b".into()),
                TokenKind::RightParen,
                TokenKind::Close,
            ]
        );
    }

    #[test]
    fn backslash_escapes_quotes_and_itself_and_keeps_others() {
        assert_eq!(
            kinds(r#"'it\'s' "say \"hi\"" 'a\\b' '\d+'"#),
            vec![
                TokenKind::Str("it's".into()),
                TokenKind::Str("say \"hi\"".into()),
                TokenKind::Str("a\\b".into()),
                TokenKind::Str("\\d+".into()),
            ]
        );
    }

    #[test]
    fn a_dot_between_names_is_a_dot_and_before_digits_a_number() {
        assert_eq!(kinds("a.b"), vec![name("a"), TokenKind::Dot, name("b")]);
        assert_eq!(kinds("1.x"), vec![TokenKind::Int(1), TokenKind::Dot, name("x")]);
        assert_eq!(kinds("2e"), vec![TokenKind::Int(2), name("e")]);
    }

    #[test]
    fn offsets_count_characters_not_bytes() {
        let mut lexer = Lexer::new("'é' x", 0, 0);
        assert_eq!(lexer.next_token().unwrap().offset, 0);
        assert_eq!(lexer.next_token().unwrap().offset, 4);
    }

    #[test]
    fn bad_input_is_an_error_at_its_column() {
        let error = |text: &str| Lexer::new(text, 0, 0).next_token().unwrap_err();
        assert_eq!(error("'abc").offset, 0);
        assert!(error("'abc").message.contains("no closing '"));
        assert!(error("99999999999999999999").message.contains("too large"));
        assert!(error("1e999").message.contains("too large"));
        assert!(error("@").message.contains("runtime field"));
        assert!(error("$x").message.contains("unexpected character '$'"));
    }
}
