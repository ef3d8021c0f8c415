//! OData-style query options of collections, parsed strictly: an unknown or repeated option, or a
//! bad value, is a `400 badRequest` naming the option in `target`.

use admin_api::collection::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub mod audit;
pub mod condition;
pub mod devices;
pub mod filter;

/// A query option refused: which one (`$filter`, `$top`, …) and why. The edge answers it as a
/// `400 badRequest` with the option as its `target` (see `error.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub option: String,
    pub message: String,
}

impl QueryError {
    pub fn new(option: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            option: option.into(),
            message: message.into(),
        }
    }
}

pub type QueryResult<T> = Result<T, QueryError>;

/// The query options of a collection request; which ones an endpoint takes is its own to say.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PageOptions {
    pub top: u32,
    pub skiptoken: Option<String>,
    pub count: bool,
    pub orderby: Option<String>,
    pub filter: Option<String>,
    pub search: Option<String>,
    pub select: Option<String>,
}

/// Parses `raw` (the URL's query string), accepting only the `supported` options.
pub fn parse_page_options(raw: Option<&str>, supported: &[&str]) -> QueryResult<PageOptions> {
    let mut options = PageOptions {
        top: DEFAULT_PAGE_SIZE,
        ..PageOptions::default()
    };
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        if !supported.contains(&name.as_ref()) {
            return Err(QueryError::new(
                name.as_ref(),
                format!(
                    "The query option '{name}' is not supported here. Supported options: {}.",
                    supported.join(", ")
                ),
            ));
        }
        if seen.iter().any(|s| *s == name) {
            return Err(QueryError::new(
                name.as_ref(),
                format!("The query option '{name}' is given more than once."),
            ));
        }
        seen.push(name.to_string());
        match name.as_ref() {
            "$top" => options.top = parse_top(&value)?,
            "$skiptoken" => options.skiptoken = Some(value.into_owned()),
            "$count" => {
                options.count = match value.as_ref() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(QueryError::new(
                            "$count",
                            format!("'$count' must be true or false, not '{value}'."),
                        ))
                    }
                }
            }
            "$orderby" => options.orderby = Some(value.into_owned()),
            "$filter" => options.filter = Some(value.into_owned()),
            "$search" => options.search = Some(value.into_owned()),
            "$select" => options.select = Some(value.into_owned()),
            other => unreachable!("supported option {other} has no parser"),
        }
    }
    Ok(options)
}

fn parse_top(value: &str) -> QueryResult<u32> {
    match value.parse::<u32>() {
        Ok(top) if (1..=MAX_PAGE_SIZE).contains(&top) => Ok(top),
        _ => Err(QueryError::new(
            "$top",
            format!("'$top' must be a whole number from 1 to {MAX_PAGE_SIZE}, not '{value}'."),
        )),
    }
}

/// An opaque `$skiptoken` for a keyset cursor.
pub fn encode_skiptoken<T: Serialize>(cursor: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(cursor).expect("cursors serialize"))
}

pub fn decode_skiptoken<T: DeserializeOwned>(token: &str) -> QueryResult<T> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| {
            QueryError::new(
                "$skiptoken",
                "The '$skiptoken' is not one this server issued. Request the first page again.",
            )
        })
}

/// The `@odata.nextLink` of a page: the same options, with the next page's `$skiptoken`.
pub fn next_link(path: &str, options: &PageOptions, skiptoken: &str) -> String {
    let mut link = format!("{path}?$top={}", options.top);
    if options.count {
        link.push_str("&$count=true");
    }
    for (name, value) in [
        ("$orderby", &options.orderby),
        ("$filter", &options.filter),
        ("$search", &options.search),
        ("$select", &options.select),
        ("$skiptoken", &Some(skiptoken.to_owned())),
    ] {
        if let Some(value) = value {
            link.push('&');
            link.push_str(name);
            link.push('=');
            link.extend(form_urlencoded::byte_serialize(value.as_bytes()));
        }
    }
    link
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUPPORTED: &[&str] = &["$top", "$skiptoken", "$count"];

    fn target_of(result: QueryResult<PageOptions>) -> Option<String> {
        match result {
            Err(QueryError { option, .. }) => Some(option),
            other => panic!("expected a bad request, got {other:?}"),
        }
    }

    #[test]
    fn defaults_without_a_query() {
        let options = parse_page_options(None, SUPPORTED).unwrap();
        assert_eq!(options.top, DEFAULT_PAGE_SIZE);
        assert!(!options.count);
    }

    #[test]
    fn rejects_what_it_does_not_know() {
        assert_eq!(
            target_of(parse_page_options(Some("$foo=1"), SUPPORTED)).as_deref(),
            Some("$foo")
        );
        assert_eq!(
            target_of(parse_page_options(Some("$top=0"), SUPPORTED)).as_deref(),
            Some("$top")
        );
        assert_eq!(
            target_of(parse_page_options(Some("$top=1001"), SUPPORTED)).as_deref(),
            Some("$top")
        );
        assert_eq!(
            target_of(parse_page_options(Some("$top=5&$top=6"), SUPPORTED)).as_deref(),
            Some("$top")
        );
        assert_eq!(
            target_of(parse_page_options(Some("$count=yes"), SUPPORTED)).as_deref(),
            Some("$count")
        );
    }

    #[test]
    fn skiptokens_round_trip_and_reject_tampering() {
        let token = encode_skiptoken(&("PC-0001", "id-1"));
        let back: (String, String) = decode_skiptoken(&token).unwrap();
        assert_eq!(back, ("PC-0001".to_owned(), "id-1".to_owned()));
        assert!(decode_skiptoken::<(String, String)>("not-a-token!").is_err());
    }
}
