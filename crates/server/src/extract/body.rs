//! JSON bodies: bounded size, JSON media type, UTF-8, syntax; dialects map the
//! failure into their own error shape.

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Larger than the configured limit.
    TooLarge,
    /// A `Content-Type` that is not JSON, or a charset other than UTF-8.
    UnsupportedMediaType,
    /// Not valid JSON (or not of the expected shape); the text is for the caller.
    Invalid(String),
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

impl BodyError {
    /// The HTTP status that fits.
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            BodyError::Invalid(_) => StatusCode::BAD_REQUEST,
        }
    }
}
