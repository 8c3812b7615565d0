//! Parses a field value into a [`Template`]: literal text and `#{...}` expressions.
//!
//! Grammar, loosest first:
//! ```text
//! sum     = product (("+" | "-") product)*
//! product = power (("*" | "/") power)*
//! power   = unary ("^" power)?                      right-associative
//! unary   = "-" unary | postfix
//! postfix = primary ("." name "(" args ")")*        method form: x.f(a) is f(x, a)
//! primary = number | string | "(" sum ")"
//!         | segment ("." segment)* ["(" args ")"]   a reference, or a call on its last segment
//! segment = name | "@" name | "*" name              "*" is a secret prefix only in operand position
//! ```

use super::{
    ExprError, Reference, Value,
    ast::{BinaryOp, Call, Expr, MAX_DEPTH, Node},
    functions::Function,
    joda,
    lexer::{Lexer, Token, TokenKind},
    template::{Part, Template},
};

/// Parses a whole field value.
pub(super) fn parse_template(text: &str) -> Result<Template, ExprError> {
    let mut parts = Vec::with_capacity(4);
    let mut pos = 0usize;
    let mut column = 0usize;
    while let Some(rest) = text.get(pos..) {
        let Some(found) = find_open(rest) else {
            if !rest.is_empty() {
                parts.push(Part::Text(rest.to_owned()));
            }
            break;
        };
        let before = rest.get(..found).unwrap_or_default();
        if !before.is_empty() {
            parts.push(Part::Text(before.to_owned()));
        }
        column += before.chars().count();
        let open = column;
        let mut parser = Parser::start(Lexer::new(text, pos + found + 2, column + 2), open)?;
        parts.push(Part::Expr(parser.template_expression()?));
        (pos, column) = parser.lexer.position();
    }
    Ok(Template::new(parts))
}

/// The byte index of the first `#{` in `text`.
fn find_open(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut from = 0usize;
    loop {
        let hash = from + bytes.get(from..)?.iter().position(|byte| *byte == b'#')?;
        if bytes.get(hash + 1) == Some(&b'{') {
            return Some(hash);
        }
        from = hash + 1;
    }
}

struct Parser<'a> {
    lexer: Lexer<'a>,
    current: Token,
    /// Where the `#{` being parsed starts, for "never closed" errors.
    open: usize,
    /// Parser recursion, bounded like the tree's depth.
    nesting: usize,
}

impl<'a> Parser<'a> {
    fn start(mut lexer: Lexer<'a>, open: usize) -> Result<Self, ExprError> {
        let current = lexer.next_token()?;
        Ok(Self {
            lexer,
            current,
            open,
            nesting: 0,
        })
    }

    fn advance(&mut self) -> Result<Token, ExprError> {
        let next = self.lexer.next_token()?;
        Ok(std::mem::replace(&mut self.current, next))
    }

    fn unclosed(&self) -> ExprError {
        ExprError::new(self.open, "this #{ is never closed: end the expression with }")
    }

    /// The error for a token that cannot appear here.
    fn unexpected(&self, expected: &str) -> ExprError {
        if self.current.kind == TokenKind::End {
            return self.unclosed();
        }
        ExprError::new(
            self.current.offset,
            format!("expected {expected}, found {}", self.current.kind.describe()),
        )
    }

    fn too_deep(&self, offset: usize) -> ExprError {
        ExprError::new(
            offset,
            format!("this expression nests more than {MAX_DEPTH} levels deep: split it up"),
        )
    }

    /// Runs `parse` one level deeper, refusing to recurse without bound.
    fn nested<T>(&mut self, parse: impl FnOnce(&mut Self) -> Result<T, ExprError>) -> Result<T, ExprError> {
        if self.nesting >= MAX_DEPTH {
            return Err(self.too_deep(self.current.offset));
        }
        self.nesting += 1;
        let result = parse(self);
        self.nesting -= 1;
        result
    }

    fn node(&self, node: Node, offset: usize) -> Result<Expr, ExprError> {
        Expr::new(node, offset).ok_or_else(|| self.too_deep(offset))
    }

    /// The expression between `#{` and `}`, and the `}`.
    fn template_expression(&mut self) -> Result<Expr, ExprError> {
        match self.current.kind {
            TokenKind::Close => {
                return Err(ExprError::new(
                    self.open,
                    "empty expression #{}: put a field name, a value or a function call between #{ and }",
                ));
            }
            TokenKind::End => return Err(self.unclosed()),
            _ => {}
        }
        let expr = self.sum()?;
        if self.current.kind != TokenKind::Close {
            return Err(self.unexpected("an operator (+ - * / ^), \".\" or the closing }"));
        }
        Ok(expr)
    }

    fn sum(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.product()?;
        loop {
            let op = match self.current.kind {
                TokenKind::Plus => BinaryOp::Add,
                TokenKind::Minus => BinaryOp::Subtract,
                _ => return Ok(left),
            };
            let offset = self.advance()?.offset;
            let right = self.product()?;
            left = self.node(Node::Binary(op, Box::new(left), Box::new(right)), offset)?;
        }
    }

    fn product(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.power()?;
        loop {
            let op = match self.current.kind {
                TokenKind::Star => BinaryOp::Multiply,
                TokenKind::Slash => BinaryOp::Divide,
                _ => return Ok(left),
            };
            let offset = self.advance()?.offset;
            let right = self.power()?;
            left = self.node(Node::Binary(op, Box::new(left), Box::new(right)), offset)?;
        }
    }

    fn power(&mut self) -> Result<Expr, ExprError> {
        let base = self.unary()?;
        if self.current.kind != TokenKind::Caret {
            return Ok(base);
        }
        let offset = self.advance()?.offset;
        let exponent = self.nested(Self::power)?;
        self.node(
            Node::Binary(BinaryOp::Power, Box::new(base), Box::new(exponent)),
            offset,
        )
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        if self.current.kind != TokenKind::Minus {
            return self.postfix();
        }
        let offset = self.advance()?.offset;
        let operand = self.nested(Self::unary)?;
        self.node(Node::Negate(Box::new(operand)), offset)
    }

    fn postfix(&mut self) -> Result<Expr, ExprError> {
        let mut expr = self.primary()?;
        while self.current.kind == TokenKind::Dot {
            self.advance()?;
            if !matches!(self.current.kind, TokenKind::Name(_)) {
                return Err(self.unexpected("a function name after \".\", as in .format('YYYY-MM-dd')"));
            }
            let Token { kind, offset } = self.advance()?;
            let TokenKind::Name(name) = kind else {
                return Err(ExprError::new(offset, "expected a function name after \".\""));
            };
            if self.current.kind != TokenKind::LeftParen {
                return Err(ExprError::new(
                    offset,
                    format!(
                        "\"{name}\" follows a computed value, so it must be a function call such as .{name}(...); fields can only be read from names, as in input.{name}"
                    ),
                ));
            }
            expr = self.call(&name, offset, Some(expr))?;
        }
        Ok(expr)
    }

    fn primary(&mut self) -> Result<Expr, ExprError> {
        let offset = self.current.offset;
        match self.current.kind {
            TokenKind::Int(_) | TokenKind::Float(_) | TokenKind::Str(_) | TokenKind::Name(_) => {
                let value = match self.advance()?.kind {
                    TokenKind::Int(number) => Value::Int(number),
                    TokenKind::Float(number) => Value::Float(number),
                    TokenKind::Str(text) => Value::Str(text),
                    TokenKind::Name(first) => return self.reference_or_call(first, offset),
                    other => {
                        return Err(ExprError::new(
                            offset,
                            format!("expected a value, found {}", other.describe()),
                        ));
                    }
                };
                self.node(Node::Literal(value), offset)
            }
            TokenKind::LeftParen => {
                self.advance()?;
                let inner = self.nested(Self::sum)?;
                if self.current.kind != TokenKind::RightParen {
                    return Err(self.unexpected(&format!("\")\" to close the \"(\" at column {}", offset + 1)));
                }
                self.advance()?;
                Ok(inner)
            }
            TokenKind::Star => match self.lexer.secret_name() {
                Some(first) => {
                    self.advance()?;
                    self.reference_or_call(first, offset)
                }
                None => Err(self.unexpected("a value before \"*\"")),
            },
            _ => Err(self.unexpected("a value: a field name, a number, 'quoted text', a function call or \"(\"")),
        }
    }

    /// A dotted reference starting with `first`, or a call when a segment is followed by `(`.
    fn reference_or_call(&mut self, first: String, offset: usize) -> Result<Expr, ExprError> {
        let mut path = Vec::with_capacity(2);
        path.push(first);
        let mut last_offset = offset;
        loop {
            match self.current.kind {
                TokenKind::LeftParen => {
                    let name = path.pop().unwrap_or_default();
                    let receiver = if path.is_empty() {
                        None
                    } else {
                        Some(self.node(Node::Reference(Reference { path }), offset)?)
                    };
                    return self.call(&name, last_offset, receiver);
                }
                TokenKind::Dot => {
                    self.advance()?;
                    last_offset = self.current.offset;
                    let segment = match self.current.kind {
                        TokenKind::Name(_) => match self.advance()?.kind {
                            TokenKind::Name(name) => name,
                            _ => return Err(self.unexpected("a field name after \".\"")),
                        },
                        TokenKind::Star => match self.lexer.secret_name() {
                            Some(name) => {
                                self.advance()?;
                                name
                            }
                            None => return Err(self.unexpected("a field name after \".\"")),
                        },
                        _ => return Err(self.unexpected("a field name after \".\"")),
                    };
                    path.push(segment);
                }
                _ => return self.node(Node::Reference(Reference { path }), offset),
            }
        }
    }

    /// `name(args)` with the current token on `(`; `receiver` is the value before
    /// `.name(` in method form.
    fn call(&mut self, name: &str, offset: usize, receiver: Option<Expr>) -> Result<Expr, ExprError> {
        if name.starts_with(['@', '*']) {
            return Err(ExprError::new(
                offset,
                format!("\"{name}\" is a field, not a function, so it cannot be called with (...)"),
            ));
        }
        let function = Function::lookup(name).ok_or_else(|| ExprError::new(offset, Function::unknown(name)))?;
        let method = receiver.is_some();
        let mut args: Vec<Expr> = Vec::with_capacity(function.arity());
        args.extend(receiver);
        self.advance()?;
        if self.current.kind != TokenKind::RightParen {
            loop {
                args.push(self.nested(Self::sum)?);
                match self.current.kind {
                    TokenKind::Comma => {
                        self.advance()?;
                    }
                    TokenKind::RightParen => break,
                    _ => return Err(self.unexpected(&format!("\",\" or \")\" in the arguments of {name}"))),
                }
            }
        }
        self.advance()?;
        if args.len() != function.arity() {
            let counted = if method {
                format!(" (the value before .{name} counts as the first)")
            } else {
                String::new()
            };
            return Err(ExprError::new(
                offset,
                format!(
                    "{name} takes {} argument{}, {}, but got {}{counted}",
                    function.arity(),
                    if function.arity() == 1 { "" } else { "s" },
                    function.signature(),
                    args.len()
                ),
            ));
        }
        let pattern = match (function, args.get(1)) {
            (
                Function::Format,
                Some(Expr {
                    node: Node::Literal(Value::Str(pattern)),
                    offset: at,
                    ..
                }),
            ) => Some(
                joda::Pattern::compile(pattern)
                    .map_err(|message| ExprError::new(*at, format!("format: invalid Joda-Time pattern: {message}")))?,
            ),
            _ => None,
        };
        let call = Call {
            function,
            args,
            pattern,
        };
        self.node(Node::Call(Box::new(call)), offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::{
        parse,
        tests::{MapContext, one},
    };

    fn parse_error(text: &str) -> ExprError {
        match parse(text) {
            Err(error) => error,
            Ok(template) => panic!("{text}: expected a parse error, got {template:?}"),
        }
    }

    fn references(text: &str) -> Vec<(String, usize)> {
        parse(text)
            .unwrap()
            .references()
            .into_iter()
            .map(|(reference, offset)| (reference.dotted(), offset))
            .collect()
    }

    #[test]
    fn text_without_expressions_is_literal_including_lone_hashes_and_braces() {
        for text in ["", "plain", "a # b { c } d", "#", "{", "}", "# {x}", "{#}", "##"] {
            let template = parse(text).unwrap();
            assert!(template.is_literal(), "{text}");
            assert_eq!(one(text), text);
        }
    }

    #[test]
    fn expressions_mix_with_text_any_number_of_times() {
        let template = parse("a#{1}b#{2}#{3}c").unwrap();
        assert!(!template.is_literal());
        assert_eq!(one("a#{1}b#{2}#{3}c"), "a1b23c");
        assert_eq!(one("##{1}#"), "#1#");
        assert_eq!(one("#{ 1 + 2 }"), "3");
    }

    #[test]
    fn a_brace_inside_quotes_does_not_close_the_expression() {
        assert_eq!(one("#{'}'}"), "}");
        assert_eq!(one("#{\"a}b\" + '#{'}!"), "a}b#{!");
        assert_eq!(one("#{format(@scheduledStartTime,'dd}')}"), "24}");
    }

    #[test]
    fn an_unclosed_expression_is_an_error_at_its_hash() {
        for (text, offset) in [
            ("ab #{myName", 3),
            ("#{", 0),
            ("x#{1 +", 1),
            ("#{day(@scheduledStartTime", 0),
            ("#{1}#{(", 4),
        ] {
            let error = parse_error(text);
            assert_eq!(error.offset, offset, "{text}");
            assert!(error.message.contains("never closed"), "{text}: {error}");
        }
    }

    #[test]
    fn an_unterminated_string_is_an_error_at_its_quote() {
        let error = parse_error("#{format(x, 'YYYY}");
        assert_eq!(error.offset, 12);
        assert!(error.message.contains("no closing '"));
    }

    #[test]
    fn an_empty_expression_is_an_error() {
        for text in ["#{}", "abc #{  }"] {
            let error = parse_error(text);
            assert!(error.message.starts_with("empty expression"), "{text}");
        }
        assert_eq!(parse_error("abc #{  }").column(), 5);
    }

    #[test]
    fn references_keep_their_prefixes_and_report_where_they_start() {
        assert_eq!(
            references(
                "s3://#{input.directoryPath}/#{node.@scheduledStartTime} #{parent.@id}#{node.output.directoryPath}"
            ),
            vec![
                ("input.directoryPath".to_owned(), 7),
                ("node.@scheduledStartTime".to_owned(), 30),
                ("parent.@id".to_owned(), 58),
                ("node.output.directoryPath".to_owned(), 71),
            ]
        );
        let template = parse("#{@scheduledStartTime}").unwrap();
        let (reference, _) = template.references()[0];
        assert_eq!(reference.path, vec!["@scheduledStartTime".to_owned()]);
    }

    #[test]
    fn a_star_before_a_name_is_a_secret_reference_and_between_values_multiplication() {
        assert_eq!(
            references("#{*myRedshiftPassword} #{*password} #{a * b} #{a*b} #{a * *b} #{node.*myKey}"),
            vec![
                ("*myRedshiftPassword".to_owned(), 2),
                ("*password".to_owned(), 25),
                ("a".to_owned(), 38),
                ("b".to_owned(), 42),
                ("a".to_owned(), 47),
                ("b".to_owned(), 49),
                ("a".to_owned(), 54),
                ("*b".to_owned(), 58),
                ("node.*myKey".to_owned(), 64),
            ]
        );
        assert_eq!(one("#{2*3}"), "6");
        assert_eq!(one("#{myCount * 2}"), "6");
        assert_eq!(parse_error("#{* 2}").offset, 2);
    }

    #[test]
    fn method_form_means_the_function_with_the_value_first() {
        let method = parse("#{@scheduledStartTime.plusDays(1).format('dd')}").unwrap();
        let function = parse("#{format(plusDays(@scheduledStartTime, 1), 'dd')}").unwrap();
        assert_eq!(one("#{@scheduledStartTime.plusDays(1).format('dd')}"), "25");
        assert_eq!(
            method.evaluate(&MapContext::new()),
            function.evaluate(&MapContext::new())
        );
        assert_eq!(one("#{('2011-05-24T17:10:00').day()}"), "24");
        assert_eq!(
            references("#{node.@scheduledStartTime.format('YYYY')}"),
            vec![("node.@scheduledStartTime".to_owned(), 2)]
        );
    }

    #[test]
    fn unknown_functions_are_parse_errors_with_a_suggestion() {
        let error = parse_error("x #{formatt(@scheduledStartTime, 'YYYY')}");
        assert_eq!(error.offset, 4);
        assert_eq!(error.message, "unknown function \"formatt\": did you mean \"format\"?");
        let method = parse_error("#{@scheduledStartTime.PlusDays(1)}");
        assert_eq!(method.offset, 22);
        assert_eq!(
            method.message,
            "unknown function \"PlusDays\": did you mean \"plusDays\"?"
        );
        assert!(
            parse_error("#{frobnicate(1)}")
                .message
                .contains("the functions are day, dayOfYear")
        );
    }

    #[test]
    fn wrong_argument_counts_are_parse_errors_with_the_signature() {
        let error = parse_error("#{plusDays(@scheduledStartTime)}");
        assert_eq!(error.offset, 2);
        assert_eq!(
            error.message,
            "plusDays takes 2 arguments, plusDays(DateTime, int days), but got 1"
        );
        let method = parse_error("#{@scheduledStartTime.day(1)}");
        assert_eq!(method.offset, 22);
        assert_eq!(
            method.message,
            "day takes 1 argument, day(DateTime), but got 2 (the value before .day counts as the first)"
        );
        assert!(parse_error("#{makeDate()}").message.contains("but got 0"));
    }

    #[test]
    fn a_literal_format_pattern_is_checked_when_parsed() {
        let error = parse_error("#{format(@scheduledStartTime, 'YYYY-qq')}");
        assert_eq!(error.offset, 30);
        assert_eq!(
            error.message,
            "format: invalid Joda-Time pattern: Illegal pattern component: qq"
        );
        assert!(
            parse_error("#{@scheduledStartTime.format('T')}")
                .message
                .contains("Illegal pattern component: T")
        );
    }

    #[test]
    fn malformed_expressions_are_errors_at_the_offending_token() {
        let cases = [
            ("#{a b}", 4, "expected an operator"),
            ("#{1 +}", 5, "expected a value"),
            ("#{(1}", 4, "\")\" to close the \"(\" at column 3"),
            ("#{x.}", 4, "expected a field name after \".\""),
            ("#{x.1}", 3, "expected an operator"),
            ("#{day(@scheduledStartTime;)}", 25, "unexpected character ';'"),
            (
                "#{day(@scheduledStartTime x)}",
                26,
                "\",\" or \")\" in the arguments of day",
            ),
            ("#{@scheduledStartTime(1)}", 2, "is a field, not a function"),
            ("#{plusDays(x, 1).day}", 17, "must be a function call"),
            ("#{@}", 2, "runtime field"),
            ("#{1 {}", 4, "unexpected character '{'"),
            ("#{99999999999999999999}", 2, "too large"),
        ];
        for (text, offset, message) in cases {
            let error = parse_error(text);
            assert_eq!(error.offset, offset, "{text}: {error}");
            assert!(error.message.contains(message), "{text}: {error}");
        }
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let error = parse_error("é€ #{formatt(x)}");
        assert_eq!(error.offset, 5);
        assert_eq!(references("日本 #{myName}"), vec![("myName".to_owned(), 5)]);
    }
}
