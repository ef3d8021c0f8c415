//! The `$filter` subset of OData the contract names, parsed into a tree: `eq`, `ne`, `in (...)`,
//! `startswith(f,'x')`, `contains(f,'x')`, `ge`/`le`/`gt`/`lt`, `and`, `or`, `not` and
//! parentheses. Which fields exist and what they accept is the caller's to check; this only reads.

use std::fmt;

/// A literal on the right of a comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    Text(String),
    /// An unquoted date-time, e.g. `2026-11-21T00:00:00Z`.
    DateTime(String),
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Compare {
        field: String,
        op: Comparison,
        value: Literal,
    },
    In {
        field: String,
        values: Vec<Literal>,
    },
    StartsWith {
        field: String,
        value: String,
    },
    Contains {
        field: String,
        value: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError(pub String);

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

use admin_api::collection::{
    MAX_FILTER_CONDITIONS as MAX_TERMS, MAX_FILTER_DEPTH as MAX_DEPTH,
    MAX_FILTER_LENGTH as MAX_LENGTH,
};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Text(String),
    Open,
    Close,
    Comma,
}

fn tokenize(input: &str) -> Result<Vec<Token>, FilterError> {
    let mut tokens = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                tokens.push(Token::Open);
            }
            ')' => {
                chars.next();
                tokens.push(Token::Close);
            }
            ',' => {
                chars.next();
                tokens.push(Token::Comma);
            }
            '\'' => {
                chars.next();
                let mut text = String::new();
                loop {
                    match chars.next() {
                        Some((_, '\'')) if chars.peek().map(|&(_, c)| c) == Some('\'') => {
                            chars.next();
                            text.push('\'');
                        }
                        Some((_, '\'')) => break,
                        Some((_, c)) => text.push(c),
                        None => {
                            return Err(FilterError(format!(
                                "The text starting at position {} has no closing quote.",
                                start + 1
                            )))
                        }
                    }
                }
                tokens.push(Token::Text(text));
            }
            c if c.is_ascii_alphanumeric() || c == '_' || c == '/' || c == '-' || c == ':' || c == '.' || c == '+' => {
                let mut word = String::new();
                while let Some(&(_, c)) = chars.peek() {
                    if c.is_ascii_alphanumeric() || "_/-:.+".contains(c) {
                        word.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                tokens.push(Token::Word(word));
            }
            other => {
                return Err(FilterError(format!(
                    "The character '{other}' at position {} is not part of the supported $filter syntax.",
                    start + 1
                )))
            }
        }
    }
    Ok(tokens)
}

/// Parses a `$filter` expression.
pub fn parse(input: &str) -> Result<Filter, FilterError> {
    if input.chars().count() > MAX_LENGTH {
        return Err(FilterError(format!(
            "The $filter is longer than {MAX_LENGTH} characters."
        )));
    }
    let tokens = tokenize(input)?;
    if tokens.is_empty() {
        return Err(FilterError("The $filter is empty.".into()));
    }
    let mut parser = Parser {
        tokens,
        at: 0,
        terms: 0,
    };
    let filter = parser.or(0)?;
    match parser.tokens.get(parser.at) {
        None => Ok(filter),
        Some(token) => Err(FilterError(format!(
            "Unexpected {} after a complete expression.",
            describe(token)
        ))),
    }
}

fn describe(token: &Token) -> String {
    match token {
        Token::Word(w) => format!("'{w}'"),
        Token::Text(t) => format!("the text '{t}'"),
        Token::Open => "'('".into(),
        Token::Close => "')'".into(),
        Token::Comma => "','".into(),
    }
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    terms: usize,
}

impl Parser {
    fn peek_word(&self) -> Option<&str> {
        match self.tokens.get(self.at) {
            Some(Token::Word(w)) => Some(w),
            _ => None,
        }
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn expect(&mut self, wanted: Token, what: &str) -> Result<(), FilterError> {
        match self.next() {
            Some(token) if token == wanted => Ok(()),
            Some(token) => Err(FilterError(format!(
                "Expected {what}, found {}.",
                describe(&token)
            ))),
            None => Err(FilterError(format!(
                "Expected {what}, but the $filter ended."
            ))),
        }
    }

    fn or(&mut self, depth: usize) -> Result<Filter, FilterError> {
        let mut left = self.and(depth)?;
        while self.peek_word() == Some("or") {
            self.at += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and(depth)?));
        }
        Ok(left)
    }

    fn and(&mut self, depth: usize) -> Result<Filter, FilterError> {
        let mut left = self.unary(depth)?;
        while self.peek_word() == Some("and") {
            self.at += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary(depth)?));
        }
        Ok(left)
    }

    fn unary(&mut self, depth: usize) -> Result<Filter, FilterError> {
        if depth > MAX_DEPTH {
            return Err(FilterError(format!(
                "The $filter nests deeper than {MAX_DEPTH} levels."
            )));
        }
        if self.peek_word() == Some("not") {
            self.at += 1;
            return Ok(Filter::Not(Box::new(self.unary(depth + 1)?)));
        }
        if self.tokens.get(self.at) == Some(&Token::Open) {
            self.at += 1;
            let inner = self.or(depth + 1)?;
            self.expect(Token::Close, "')'")?;
            return Ok(inner);
        }
        self.term()
    }

    fn term(&mut self) -> Result<Filter, FilterError> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(FilterError(format!(
                "The $filter has more than {MAX_TERMS} conditions."
            )));
        }
        let word = match self.next() {
            Some(Token::Word(word)) => word,
            Some(token) => {
                return Err(FilterError(format!(
                    "Expected a field name, found {}.",
                    describe(&token)
                )))
            }
            None => {
                return Err(FilterError(
                    "Expected a field name, but the $filter ended.".into(),
                ))
            }
        };
        if (word == "startswith" || word == "contains")
            && self.tokens.get(self.at) == Some(&Token::Open)
        {
            self.at += 1;
            let field = self.field()?;
            self.expect(Token::Comma, "','")?;
            let value = match self.next() {
                Some(Token::Text(text)) => text,
                _ => {
                    return Err(FilterError(format!(
                        "{word}() takes a field and a quoted text."
                    )))
                }
            };
            self.expect(Token::Close, "')'")?;
            return Ok(if word == "startswith" {
                Filter::StartsWith { field, value }
            } else {
                Filter::Contains { field, value }
            });
        }
        let field = word;
        let op = match self.next() {
            Some(Token::Word(op)) => op,
            Some(token) => {
                return Err(FilterError(format!(
                    "Expected an operator after '{field}', found {}.",
                    describe(&token)
                )))
            }
            None => {
                return Err(FilterError(format!(
                    "Expected an operator after '{field}'."
                )))
            }
        };
        let op = match op.as_str() {
            "eq" => Comparison::Eq,
            "ne" => Comparison::Ne,
            "gt" => Comparison::Gt,
            "ge" => Comparison::Ge,
            "lt" => Comparison::Lt,
            "le" => Comparison::Le,
            "in" => {
                self.expect(Token::Open, "'(' after 'in'")?;
                let mut values = vec![self.literal()?];
                loop {
                    match self.next() {
                        Some(Token::Comma) => values.push(self.literal()?),
                        Some(Token::Close) => break,
                        _ => return Err(FilterError("Expected ',' or ')' in the 'in' list.".into())),
                    }
                }
                return Ok(Filter::In { field, values });
            }
            other => {
                return Err(FilterError(format!(
                    "The operator '{other}' is not supported. Supported: eq, ne, in, gt, ge, lt, le, startswith(), contains(), and, or, not."
                )))
            }
        };
        let value = self.literal()?;
        Ok(Filter::Compare { field, op, value })
    }

    fn field(&mut self) -> Result<String, FilterError> {
        match self.next() {
            Some(Token::Word(word)) => Ok(word),
            _ => Err(FilterError("Expected a field name.".into())),
        }
    }

    fn literal(&mut self) -> Result<Literal, FilterError> {
        match self.next() {
            Some(Token::Text(text)) => Ok(Literal::Text(text)),
            Some(Token::Word(word)) if word == "null" => Ok(Literal::Null),
            Some(Token::Word(word)) if word.as_bytes().first().is_some_and(u8::is_ascii_digit) => {
                Ok(Literal::DateTime(word))
            }
            Some(token) => Err(FilterError(format!(
                "Expected a value ('quoted text', a date-time or null), found {}.",
                describe(&token)
            ))),
            None => Err(FilterError(
                "Expected a value, but the $filter ended.".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(field: &str, op: Comparison, value: Literal) -> Filter {
        Filter::Compare {
            field: field.into(),
            op,
            value,
        }
    }

    #[test]
    fn parses_the_supported_subset_with_precedence() {
        let parsed = parse(
            "managedBy eq 'coManaged' and (startswith(deviceName,'CHQ') or contains(model, 'O''Brien')) or lastSyncDateTime ge 2026-11-01T00:00:00Z",
        )
        .unwrap();
        let expected = Filter::Or(
            Box::new(Filter::And(
                Box::new(cmp(
                    "managedBy",
                    Comparison::Eq,
                    Literal::Text("coManaged".into()),
                )),
                Box::new(Filter::Or(
                    Box::new(Filter::StartsWith {
                        field: "deviceName".into(),
                        value: "CHQ".into(),
                    }),
                    Box::new(Filter::Contains {
                        field: "model".into(),
                        value: "O'Brien".into(),
                    }),
                )),
            )),
            Box::new(cmp(
                "lastSyncDateTime",
                Comparison::Ge,
                Literal::DateTime("2026-11-01T00:00:00Z".into()),
            )),
        );
        assert_eq!(parsed, expected);
        assert_eq!(
            parse("ownerType in ('company', 'personal')").unwrap(),
            Filter::In {
                field: "ownerType".into(),
                values: vec![
                    Literal::Text("company".into()),
                    Literal::Text("personal".into())
                ],
            }
        );
        assert_eq!(
            parse("not userPrincipalName eq null").unwrap(),
            Filter::Not(Box::new(cmp(
                "userPrincipalName",
                Comparison::Eq,
                Literal::Null
            )))
        );
    }

    #[test]
    fn rejects_what_it_does_not_support() {
        for bad in [
            "",
            "deviceName",
            "deviceName eq",
            "deviceName eq 'x",
            "deviceName has 'x'",
            "deviceName eq 'x' and",
            "(deviceName eq 'x'",
            "deviceName eq 'x')",
            "deviceName eq x",
            "endswith(deviceName,'x')",
            "deviceName eq 'x'; DROP TABLE devices",
            "ownerType in ('a' 'b')",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
        let deep = format!("{}deviceName eq 'x'{}", "(".repeat(40), ")".repeat(40));
        assert!(parse(&deep).is_err());
    }
}
