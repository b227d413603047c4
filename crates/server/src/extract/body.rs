//! JSON bodies: bounded size, JSON media type, UTF-8, syntax, no NUL
//! characters; dialects map the failure into their own error shape.

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Larger than the configured limit.
    TooLarge,
    /// A `Content-Type` that is not JSON, or a charset other than UTF-8.
    UnsupportedMediaType,
    /// Not valid JSON (or not of the expected shape); the text is for the caller.
    Invalid(String),
    /// A string (or key) holds U+0000, which no text field can keep (PostgreSQL
    /// refuses it): the JSON pointer of the first one.
    Nul(String),
}

/// True when the content type is absent, `application/json` or `application/*+json`,
/// with no charset other than UTF-8.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return true;
    };
    let Ok(mime) = ct.to_str().unwrap_or("").parse::<mime::Mime>() else {
        return false;
    };
    let json = mime.type_() == mime::APPLICATION
        && (mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON));
    let utf8 = mime
        .get_param(mime::CHARSET)
        .is_none_or(|c| c.as_str().eq_ignore_ascii_case("utf-8"));
    json && utf8
}

/// Reads and parses a JSON body of at most `limit` bytes.
pub async fn read_json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<T, BodyError> {
    if !is_json(headers) {
        return Err(BodyError::UnsupportedMediaType);
    }
    let value = read_json_value(body, limit).await?;
    if let Some(pointer) = nul_pointer(&value, String::new()) {
        return Err(BodyError::Nul(pointer));
    }
    serde_json::from_value(value).map_err(|e| BodyError::Invalid(e.to_string()))
}

/// Reads and parses a JSON body of at most `limit` bytes whatever its
/// `Content-Type` says, as aiohttp's `request.json()` does, and with NUL
/// characters kept: for a dialect whose contract has no 415 and that checks the
/// fields it reads itself.
pub async fn read_json_value(body: Body, limit: usize) -> Result<Value, BodyError> {
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
            || e.to_string().contains("length limit");
        if too_large {
            BodyError::TooLarge
        } else {
            BodyError::Invalid("The request body could not be read.".into())
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| BodyError::Invalid(e.to_string()))
}

/// The JSON pointer (RFC 6901) of the first string or key with a NUL character.
fn nul_pointer(v: &Value, at: String) -> Option<String> {
    let escape = |k: &str| k.replace('~', "~0").replace('/', "~1");
    match v {
        Value::String(s) if s.contains('\0') => Some(if at.is_empty() { "/".into() } else { at }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_pointer(item, format!("{at}/{i}"))),
        // A key with a NUL is reported at its object.
        Value::Object(map) if map.keys().any(|k| k.contains('\0')) => {
            Some(if at.is_empty() { "/".into() } else { at })
        }
        Value::Object(map) => map
            .iter()
            .find_map(|(k, item)| nul_pointer(item, format!("{at}/{}", escape(k)))),
        _ => None,
    }
}

impl BodyError {
    /// The HTTP status that fits: 413 over the limit, else 400. A body that is
    /// not JSON by its content type is a 400 too: no dialect's contract has a 415.
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::UnsupportedMediaType | BodyError::Invalid(_) | BodyError::Nul(_) => {
                StatusCode::BAD_REQUEST
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_nul_characters() {
        assert_eq!(nul_pointer(&json!({"a": ["x", "y"]}), String::new()), None);
        assert_eq!(
            nul_pointer(&json!({"a": ["x", "y\u{0}"]}), String::new()),
            Some("/a/1".into())
        );
        assert_eq!(
            nul_pointer(&json!({"p": {"k\u{0}": "v"}}), String::new()),
            Some("/p".into())
        );
        assert_eq!(
            nul_pointer(&json!({"a/b": {"c~": ["\u{0}"]}}), String::new()),
            Some("/a~1b/c~0/0".into())
        );
        assert_eq!(
            nul_pointer(&json!("\u{0}"), String::new()),
            Some("/".into())
        );
    }
}
