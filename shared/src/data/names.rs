//! Table, schema and column names from a definition as SQL takes them: read as the server
//! would read them written bare (PostgreSQL and Redshift fold an unquoted name to lower
//! case; MySQL keeps it), then always written quoted, so a name is only ever a name.
//!
//! A name may be qualified (`sales.orders`), and a part already quoted in the definition
//! (`"Orders"` for PostgreSQL, `` `Orders` `` for MySQL) is taken as it is quoted, without
//! folding, as the server would take it.

use super::script::Dialect;

/// A name as the server stores it: its parts, outermost first, unquoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    parts: Vec<String>,
}

impl Name {
    /// Reads `text` as the server reads a name written in a statement; the problem says
    /// what is wrong with it.
    pub fn parse(text: &str, dialect: Dialect) -> Result<Self, String> {
        let quote = quote_of(dialect);
        let mut parts = Vec::new();
        let mut chars = text.trim().chars().peekable();
        loop {
            while chars.next_if(|char| char.is_whitespace()).is_some() {}
            let part = if chars.next_if_eq(&quote).is_some() {
                let mut part = String::new();
                loop {
                    match chars.next() {
                        Some(char) if char == quote && chars.next_if_eq(&quote).is_some() => part.push(quote),
                        Some(char) if char == quote => break,
                        Some(char) => part.push(char),
                        None => return Err(format!("name {text:?} opens a {quote} it never closes")),
                    }
                }
                part
            } else {
                let mut part = String::new();
                while let Some(char) = chars.next_if(|char| *char != '.') {
                    part.push(char);
                }
                let part = part.trim_end().to_owned();
                if part.contains(quote) {
                    return Err(format!(
                        "name {text:?} has a {quote} inside a part; quote the whole part"
                    ));
                }
                match dialect {
                    Dialect::Postgres => part.to_ascii_lowercase(),
                    Dialect::MySql => part,
                }
            };
            if part.is_empty() {
                return Err(format!("name {text:?} has an empty part"));
            }
            if part.contains('\0') {
                return Err(format!("name {text:?} holds a NUL character"));
            }
            parts.push(part);
            while chars.next_if(|char| char.is_whitespace()).is_some() {}
            match chars.next() {
                None => break,
                Some('.') => {}
                Some(other) => return Err(format!("name {text:?} goes on after a quoted part with {other:?}")),
            }
        }
        Ok(Self { parts })
    }

    /// One part exactly as the server stores it (a name read from its catalog).
    pub fn exact(part: &str) -> Self {
        Self {
            parts: vec![part.to_owned()],
        }
    }

    /// `schema` (when given) before the parts of `name`.
    pub fn qualified(schema: Option<&Name>, name: Name) -> Self {
        let mut parts = schema.map(|schema| schema.parts.clone()).unwrap_or_default();
        parts.extend(name.parts);
        Self { parts }
    }

    /// The last part: the table's (or column's) own name.
    pub fn last(&self) -> &str {
        self.parts.last().map(String::as_str).unwrap_or_default()
    }

    /// The part before the last: the schema of a table, when the name has one.
    pub fn parent(&self) -> Option<&str> {
        self.parts.len().checked_sub(2).map(|index| self.parts[index].as_str())
    }

    /// Every part quoted by the dialect's rules, joined with dots.
    pub fn quoted(&self, dialect: Dialect) -> String {
        let quote = quote_of(dialect);
        self.parts
            .iter()
            .map(|part| {
                let mut doubled = String::with_capacity(part.len() + 2);
                doubled.push(quote);
                for char in part.chars() {
                    doubled.push(char);
                    if char == quote {
                        doubled.push(quote);
                    }
                }
                doubled.push(quote);
                doubled
            })
            .collect::<Vec<_>>()
            .join(".")
    }
}

fn quote_of(dialect: Dialect) -> char {
    match dialect {
        Dialect::Postgres => '"',
        Dialect::MySql => '`',
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn quoted(text: &str, dialect: Dialect) -> Result<String, String> {
        Name::parse(text, dialect).map(|name| name.quoted(dialect))
    }

    #[test]
    fn bare_names_are_read_as_the_server_reads_them_and_always_written_quoted() {
        assert_eq!(quoted("Orders", Dialect::Postgres).unwrap(), "\"orders\"");
        assert_eq!(
            quoted(" sales . Orders ", Dialect::Postgres).unwrap(),
            "\"sales\".\"orders\""
        );
        assert_eq!(quoted("Orders", Dialect::MySql).unwrap(), "`Orders`");
        assert_eq!(quoted("shop.Orders", Dialect::MySql).unwrap(), "`shop`.`Orders`");
        // Quoted in the definition: kept as written, case and dots included
        assert_eq!(quoted("\"My.Table\"", Dialect::Postgres).unwrap(), "\"My.Table\"");
        assert_eq!(quoted("\"a\"\"b\"", Dialect::Postgres).unwrap(), "\"a\"\"b\"");
        assert_eq!(quoted("`we``ird`", Dialect::MySql).unwrap(), "`we``ird`");
    }

    #[test]
    fn a_name_that_tries_to_be_sql_stays_a_name() {
        assert_eq!(
            quoted("t; DROP TABLE t; --", Dialect::Postgres).unwrap(),
            "\"t; drop table t; --\""
        );
        assert_eq!(
            quoted("t` (a) VALUES (1); --", Dialect::MySql).unwrap_err(),
            "name \"t` (a) VALUES (1); --\" has a ` inside a part; quote the whole part"
        );
        for bad in ["", "a..b", "\"open", "\"a\"b", "a.\"\""] {
            assert!(Name::parse(bad, Dialect::Postgres).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_qualified_name_knows_its_table_and_schema() {
        let name = Name::parse("Sales.Orders", Dialect::Postgres).unwrap();
        assert_eq!((name.parent(), name.last()), (Some("sales"), "orders"));
        let schema = Name::parse("Archive", Dialect::Postgres).unwrap();
        let both = Name::qualified(Some(&schema), Name::parse("t", Dialect::Postgres).unwrap());
        assert_eq!(both.quoted(Dialect::Postgres), "\"archive\".\"t\"");
        assert_eq!(Name::parse("t", Dialect::MySql).unwrap().parent(), None);
    }

    proptest! {
        #[test]
        fn any_quoted_part_reads_back_as_itself(part in "[^\\x00]{1,20}") {
            for dialect in [Dialect::Postgres, Dialect::MySql] {
                let name = Name::parse(&format!("x.{}", Name::exact(&part).quoted(dialect)), dialect).unwrap();
                prop_assert_eq!(name.last(), part.as_str());
            }
        }
    }
}
