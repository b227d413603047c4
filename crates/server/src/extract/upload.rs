//! The parts of an import upload (`multipart/form-data`): a small JSON `request`
//! part, and one `upload` part streamed into a sink chunk by chunk, never held
//! whole. Other parts are skipped. The Pangea handler and the multipart fuzz
//! target both read uploads with [`read_parts`].

use std::future::Future;

use aegis_core::import::SourceWriter;
use axum::extract::Multipart;
use axum::http::StatusCode;
use serde_json::Value;

/// Most bytes of the `request` part.
pub const REQUEST_PART_MAX: usize = 64 * 1024;

/// Where the `upload` part's bytes go.
pub trait UploadSink {
    /// Takes the next chunk; an error stops the reading.
    fn write(&mut self, chunk: &[u8]) -> impl Future<Output = aegis_core::Result<()>> + Send;
}

impl UploadSink for SourceWriter {
    fn write(&mut self, chunk: &[u8]) -> impl Future<Output = aegis_core::Result<()>> + Send {
        SourceWriter::write(self, chunk)
    }
}

/// What was read; filled as reading goes, so that an upload begun before a
/// failure can be aborted.
#[derive(Debug)]
pub struct Parts<W> {
    /// The `request` part, a JSON object.
    pub request: Option<Value>,
    /// The sink the `upload` part went into.
    pub upload: Option<W>,
}

impl<W> Default for Parts<W> {
    fn default() -> Self {
        Self {
            request: None,
            upload: None,
        }
    }
}

/// Why reading stopped before the end of the body.
#[derive(Debug)]
pub enum PartsError {
    /// The body is not valid multipart, or is over its limit (413).
    Multipart(StatusCode),
    /// The `request` part is over [`REQUEST_PART_MAX`].
    RequestTooLarge,
    /// The `request` part is not a JSON object.
    RequestNotObject,
    /// A second `upload` part.
    TwoUploads,
    /// The sink could not begin, or refused a chunk.
    Sink(aegis_core::Error),
}

/// Reads every part of `multipart` into `parts`; `begin` makes the sink when
/// the `upload` part starts.
pub async fn read_parts<W, F, Fut>(
    multipart: &mut Multipart,
    parts: &mut Parts<W>,
    mut begin: F,
) -> Result<(), PartsError>
where
    W: UploadSink,
    F: FnMut() -> Fut,
    Fut: Future<Output = aegis_core::Result<W>>,
{
    let broken = |e: axum::extract::multipart::MultipartError| PartsError::Multipart(e.status());
    while let Some(mut field) = multipart.next_field().await.map_err(broken)? {
        match field.name() {
            Some("request") => {
                let mut buf = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(broken)? {
                    buf.extend_from_slice(&chunk);
                    if buf.len() > REQUEST_PART_MAX {
                        return Err(PartsError::RequestTooLarge);
                    }
                }
                let request = serde_json::from_slice::<Value>(&buf)
                    .ok()
                    .filter(Value::is_object)
                    .ok_or(PartsError::RequestNotObject)?;
                parts.request = Some(request);
            }
            Some("upload") => {
                if parts.upload.is_some() {
                    return Err(PartsError::TwoUploads);
                }
                let sink = parts
                    .upload
                    .insert(begin().await.map_err(PartsError::Sink)?);
                while let Some(chunk) = field.chunk().await.map_err(broken)? {
                    sink.write(&chunk).await.map_err(PartsError::Sink)?;
                }
            }
            // Unknown extra parts are skipped (drained by the next read).
            _ => {}
        }
    }
    Ok(())
}
