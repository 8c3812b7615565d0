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
    let mut parts = Vec::new();
    let mut pos = 0usize;
    let mut column = 0usize;
    while let Some(rest) = text.get(pos..) {
        let Some(found) = rest.find("#{") else {
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
            let Token {
                kind: TokenKind::Name(name),
                offset,
            } = self.current.clone()
            else {
                return Err(self.unexpected("a function name after \".\", as in .format('YYYY-MM-dd')"));
            };
            self.advance()?;
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
        match self.current.kind.clone() {
            TokenKind::Int(number) => {
                self.advance()?;
                self.node(Node::Literal(Value::Int(number)), offset)
            }
            TokenKind::Float(number) => {
                self.advance()?;
                self.node(Node::Literal(Value::Float(number)), offset)
            }
            TokenKind::Str(text) => {
                self.advance()?;
                self.node(Node::Literal(Value::Str(text)), offset)
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
            TokenKind::Name(first) => {
                self.advance()?;
                self.reference_or_call(first, offset)
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
        let mut path = vec![first];
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
                    let segment = match self.current.kind.clone() {
                        TokenKind::Name(name) => name,
                        TokenKind::Star => match self.lexer.secret_name() {
                            Some(name) => name,
                            None => return Err(self.unexpected("a field name after \".\"")),
                        },
                        _ => return Err(self.unexpected("a field name after \".\"")),
                    };
                    last_offset = self.current.offset;
                    path.push(segment);
                    self.advance()?;
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
        let mut args: Vec<Expr> = receiver.into_iter().collect();
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
