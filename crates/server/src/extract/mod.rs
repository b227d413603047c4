//! Extractors shared by the dialects: the bearer credential, the client address,
//! and JSON bodies checked for size, media type and syntax before any lookup.

mod body;
mod client_ip;
pub mod upload;

pub use body::{read_json, read_json_value, BodyError};
pub use client_ip::{client_ip, ClientIp};

use axum::http::{header, HeaderMap};

/// What the `Authorization` header holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    /// No header, or an empty one.
    Absent,
    /// `Bearer <token>` (scheme case-insensitive), or a bare token where allowed.
    Token(String),
    /// Some other scheme, or a value that is not text.
    Invalid,
}

/// Reads the `Authorization` header. With `allow_bare`, a value without a scheme
/// is taken as the token itself (the aiohttp library's behaviour).
pub fn authorization(headers: &HeaderMap, allow_bare: bool) -> Authorization {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Authorization::Absent;
    };
    let Ok(text) = value.to_str() else {
        return Authorization::Invalid;
    };
    let text = text.trim();
    if text.is_empty() {
        return Authorization::Absent;
    }
    match text.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => {
            let token = rest.trim();
            if token.is_empty() {
                Authorization::Invalid
            } else {
                Authorization::Token(token.to_owned())
            }
        }
        Some(_) => Authorization::Invalid,
        None if allow_bare && !text.eq_ignore_ascii_case("bearer") => {
            Authorization::Token(text.to_owned())
        }
        None => Authorization::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn h(v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        m
    }

    #[test]
    fn parses_bearer() {
        assert_eq!(
            authorization(&HeaderMap::new(), false),
            Authorization::Absent
        );
        assert_eq!(authorization(&h(""), false), Authorization::Absent);
        assert_eq!(
            authorization(&h("Bearer abc"), false),
            Authorization::Token("abc".into())
        );
        assert_eq!(
            authorization(&h("bEaReR  abc "), false),
            Authorization::Token("abc".into())
        );
        assert_eq!(authorization(&h("Basic abc"), true), Authorization::Invalid);
        assert_eq!(authorization(&h("abc"), false), Authorization::Invalid);
        assert_eq!(
            authorization(&h("abc"), true),
            Authorization::Token("abc".into())
        );
        assert_eq!(authorization(&h("Bearer"), true), Authorization::Invalid);
    }
}
