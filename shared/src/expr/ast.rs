//! The parsed form of one `#{...}` expression.

use super::{Reference, Value, functions::Function, joda};

/// How deep an expression may nest (parentheses, operators, calls) before parsing refuses
/// it: far beyond any real field value, and well inside the stack.
pub(super) const MAX_DEPTH: usize = 100;

/// An expression node and where it starts: for an operator, the operator itself; for a
/// call, the function's name.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Expr {
    pub node: Node,
    pub offset: usize,
    /// Where the whole sub-expression starts: for `a + b`, where `a` starts.
    pub start: usize,
    /// Levels of nesting below and including this node.
    pub depth: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    Literal(Value),
    Reference(Reference),
    Negate(Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    Call(Box<Call>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BinaryOp {
    Add,
    Subtract,
    Multiply,
    Divide,
    Power,
}

impl BinaryOp {
    pub(super) fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Subtract => "-",
            BinaryOp::Multiply => "*",
            BinaryOp::Divide => "/",
            BinaryOp::Power => "^",
        }
    }
}

/// A function call; `x.f(a)` is stored as `f(x, a)`. A literal `format` pattern is
/// compiled once, at parse time.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Call {
    pub function: Function,
    pub args: Vec<Expr>,
    pub pattern: Option<joda::Pattern>,
}

impl Expr {
    /// A node, or `None` when it would nest deeper than [`MAX_DEPTH`].
    pub(super) fn new(node: Node, offset: usize) -> Option<Self> {
        // (deepest child, earliest child start)
        let (below, first) = match &node {
            Node::Literal(_) | Node::Reference(_) => (0, offset),
            Node::Negate(inner) => (inner.depth, inner.start),
            Node::Binary(_, left, right) => (left.depth.max(right.depth), left.start),
            Node::Call(call) => call.args.iter().fold((0, offset), |(depth, start), arg| {
                (depth.max(arg.depth), start.min(arg.start))
            }),
        };
        let depth = below.checked_add(1).filter(|depth| *depth <= MAX_DEPTH)?;
        Some(Self {
            node,
            offset,
            start: first.min(offset),
            depth,
        })
    }

    /// Every reference below this node, in the order they are written.
    pub(super) fn collect_references<'a>(&'a self, into: &mut Vec<(&'a Reference, usize)>) {
        match &self.node {
            Node::Literal(_) => {}
            Node::Reference(reference) => into.push((reference, self.offset)),
            Node::Negate(inner) => inner.collect_references(into),
            Node::Binary(_, left, right) => {
                left.collect_references(into);
                right.collect_references(into);
            }
            Node::Call(call) => {
                for arg in &call.args {
                    arg.collect_references(into);
                }
            }
        }
    }
}
