//! SQL scripts as `SqlActivity` runs them: split into statements at the semicolons that
//! are not inside a string, a quoted name, a comment or (PostgreSQL) a dollar-quoted
//! body; and the `?` placeholders of each, bound in order to the activity's
//! `scriptArgument`s (reference §2.4: script arguments replace `?`) as parameters, never
//! as text (see [`super::bind`]).

/// The SQL dialect a script is written in: where strings, names and placeholders differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// PostgreSQL and Redshift: `$tag$ ... $tag$` bodies.
    Postgres,
    /// MySQL and MariaDB: `` `name` `` quoting, `#` comments, backslash escapes.
    MySql,
}

/// One statement of a script: its text, and where its `?` placeholders are in it (byte
/// offsets, in order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub text: String,
    pub placeholders: Vec<usize>,
}

impl Statement {
    /// The statement for PostgreSQL's protocol: the `n`th placeholder (0-based) becomes
    /// `$n+1`, or `CAST($n+1 AS <type>)` where `cast` names a type for it.
    pub fn numbered<'t>(&self, cast: impl Fn(usize) -> Option<&'t str>) -> String {
        let mut text = String::with_capacity(self.text.len() + 4 * self.placeholders.len());
        let mut from = 0;
        for (index, offset) in self.placeholders.iter().enumerate() {
            text.push_str(&self.text[from..*offset]);
            match cast(index) {
                Some(type_name) => text.push_str(&format!("CAST(${} AS {type_name})", index + 1)),
                None => text.push_str(&format!("${}", index + 1)),
            }
            from = offset + 1;
        }
        text.push_str(&self.text[from..]);
        text
    }
}

/// Where the scanner is: what ends the current piece.
#[derive(Clone, PartialEq)]
enum In {
    Code,
    Single,
    Double,
    Backtick,
    LineComment,
    BlockComment,
    Dollar(String),
}

/// Splits `script` into its statements, in order, each with its placeholders. Empty
/// statements (a stray `;`, comments alone) are left out.
pub fn split(script: &str, dialect: Dialect) -> Vec<Statement> {
    let chars: Vec<char> = script.chars().collect();
    let mut statements = Vec::new();
    let mut text = String::new();
    let mut placeholders: Vec<usize> = Vec::new();
    let mut has_code = false;
    let mut state = In::Code;
    let mut index = 0;
    let finish =
        |text: &mut String, placeholders: &mut Vec<usize>, has_code: &mut bool, statements: &mut Vec<Statement>| {
            let leading = text.len() - text.trim_start().len();
            let trimmed = text.trim();
            if *has_code && !trimmed.is_empty() {
                statements.push(Statement {
                    text: trimmed.to_owned(),
                    placeholders: placeholders.iter().map(|offset| offset - leading).collect(),
                });
            }
            text.clear();
            placeholders.clear();
            *has_code = false;
        };
    while index < chars.len() {
        let char = chars[index];
        let next = chars.get(index + 1).copied();
        match &state {
            In::Code => match char {
                ';' => {
                    finish(&mut text, &mut placeholders, &mut has_code, &mut statements);
                    index += 1;
                    continue;
                }
                '\'' => state = In::Single,
                '"' => state = In::Double,
                '`' if dialect == Dialect::MySql => state = In::Backtick,
                '-' if next == Some('-') => state = In::LineComment,
                '#' if dialect == Dialect::MySql => state = In::LineComment,
                '/' if next == Some('*') => state = In::BlockComment,
                '$' if dialect == Dialect::Postgres => {
                    // `$tag$` or `$$` opens a body; `$1` is a positional parameter.
                    let tag: String = chars[index + 1..]
                        .iter()
                        .take_while(|c| c.is_alphanumeric() || **c == '_')
                        .collect();
                    let closes = chars.get(index + 1 + tag.chars().count()) == Some(&'$');
                    if closes && !tag.starts_with(|c: char| c.is_ascii_digit()) {
                        let opener = format!("${tag}$");
                        text.push_str(&opener);
                        has_code = true;
                        index += opener.chars().count();
                        state = In::Dollar(opener);
                        continue;
                    }
                }
                '?' => {
                    placeholders.push(text.len());
                    has_code = true;
                    text.push('?');
                    index += 1;
                    continue;
                }
                _ => {}
            },
            In::Single | In::Double | In::Backtick => {
                let quote = match state {
                    In::Single => '\'',
                    In::Double => '"',
                    _ => '`',
                };
                if char == '\\' && dialect == Dialect::MySql && quote != '`' {
                    // MySQL strings escape with a backslash: keep the pair as it is.
                    text.push(char);
                    if let Some(next) = next {
                        text.push(next);
                    }
                    index += 2;
                    continue;
                }
                if char == quote {
                    if next == Some(quote) {
                        // A doubled quote is the quote itself.
                        text.push(char);
                        text.push(char);
                        index += 2;
                        continue;
                    }
                    state = In::Code;
                }
            }
            In::LineComment => {
                if char == '\n' {
                    state = In::Code;
                }
                text.push(char);
                index += 1;
                continue;
            }
            In::BlockComment => {
                if char == '*' && next == Some('/') {
                    text.push_str("*/");
                    index += 2;
                    state = In::Code;
                    continue;
                }
                text.push(char);
                index += 1;
                continue;
            }
            In::Dollar(opener) => {
                let opener = opener.clone();
                if chars[index..]
                    .iter()
                    .take(opener.chars().count())
                    .copied()
                    .eq(opener.chars())
                {
                    text.push_str(&opener);
                    index += opener.chars().count();
                    state = In::Code;
                    continue;
                }
            }
        }
        if !char.is_whitespace() && !matches!(state, In::LineComment | In::BlockComment) {
            has_code = true;
        }
        text.push(char);
        index += 1;
    }
    finish(&mut text, &mut placeholders, &mut has_code, &mut statements);
    statements
}

/// A statement as an error names it: on one line, and not too long to read.
pub fn excerpt(statement: &str) -> String {
    let line = statement.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > 120 {
        format!("{}...", line.chars().take(117).collect::<String>())
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(script: &str, dialect: Dialect) -> Vec<String> {
        split(script, dialect)
            .into_iter()
            .map(|statement| statement.text)
            .collect()
    }

    #[test]
    fn semicolons_inside_strings_names_comments_and_bodies_do_not_split() {
        let script = "INSERT INTO t VALUES ('a;b', \"c;d\"); -- one; two\nSELECT 1 /* ; */; ;";
        assert_eq!(
            texts(script, Dialect::Postgres),
            ["INSERT INTO t VALUES ('a;b', \"c;d\")", "-- one; two\nSELECT 1 /* ; */"]
        );
        let body =
            "CREATE FUNCTION f() RETURNS int AS $body$ BEGIN RETURN 1; END; $body$ LANGUAGE plpgsql; SELECT $$;$$";
        assert_eq!(
            texts(body, Dialect::Postgres),
            [
                "CREATE FUNCTION f() RETURNS int AS $body$ BEGIN RETURN 1; END; $body$ LANGUAGE plpgsql",
                "SELECT $$;$$"
            ]
        );
        assert_eq!(
            texts("SELECT `a;b`, 'it''s;', 'x\\';y'; # c;\nSELECT 2", Dialect::MySql),
            ["SELECT `a;b`, 'it''s;', 'x\\';y'", "# c;\nSELECT 2"]
        );
    }

    #[test]
    fn placeholders_are_found_per_statement_and_numbered_for_postgres() {
        let statements = split(
            "INSERT INTO t VALUES (?, '?', ?);\n  UPDATE t SET a = ?",
            Dialect::Postgres,
        );
        assert_eq!(statements[0].placeholders.len(), 2);
        assert_eq!(statements[0].numbered(|_| None), "INSERT INTO t VALUES ($1, '?', $2)");
        assert_eq!(
            statements[0].numbered(|index| (index == 0).then_some("integer")),
            "INSERT INTO t VALUES (CAST($1 AS integer), '?', $2)"
        );
        assert_eq!(statements[1].numbered(|_| None), "UPDATE t SET a = $1");
        let statements = split("INSERT INTO t VALUES (?, ?)", Dialect::MySql);
        assert_eq!(statements[0].text, "INSERT INTO t VALUES (?, ?)");
        assert_eq!(statements[0].placeholders.len(), 2);
        // `$1` written by hand is a parameter, not a body.
        assert_eq!(
            texts("SELECT $1; SELECT 2", Dialect::Postgres),
            ["SELECT $1", "SELECT 2"]
        );
    }

    #[test]
    fn comments_alone_are_no_statement_and_excerpts_fit_on_a_line() {
        assert!(split("-- nothing\n; /* still nothing */ ;", Dialect::Postgres).is_empty());
        assert_eq!(excerpt("SELECT\n  1,\n  2"), "SELECT 1, 2");
        assert_eq!(excerpt(&"x".repeat(200)).chars().count(), 120);
    }
}
