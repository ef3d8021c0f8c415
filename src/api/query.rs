//! Query strings, as the API and the admin center's own addresses take them.

/// `name=value&…`, percent-encoded (OData's `$` kept readable).
pub fn encode(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(n, v)| format!("{}={}", encode_component(n), encode_component(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// One name or value, percent-encoded.
pub fn encode_component(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'$' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// The `$skiptoken` of an `@odata.nextLink`: the cursor of the page after.
pub fn skiptoken_of(link: &str) -> Option<String> {
    let query = link.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let value = pair.strip_prefix("$skiptoken=")?;
        js_sys::decode_uri_component(value).ok().map(String::from)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_keeps_odata_names_readable() {
        assert_eq!(
            encode(&[("$filter".into(), "a eq 'b'".into())]),
            "$filter=a%20eq%20%27b%27"
        );
        assert_eq!(encode_component("PC 1/ü"), "PC%201%2F%C3%BC");
    }
}
