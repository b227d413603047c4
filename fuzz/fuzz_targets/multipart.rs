//! The import upload's multipart reading: axum's `Multipart` (multer) over a
//! request body bounded as the server bounds it, read part by part as
//! `dialects/pangea/imports.rs` `upload` reads it (a `request` part of at most
//! 64 KiB, exactly one `upload` part streamed on, other parts skipped), then the
//! upload's header scanned as `SourceWriter::finish` does.
//!
//! Input: byte 0 the body limit (255: none), byte 1 the number of extra chunk
//! boundaries, that many bytes of split positions, then the multipart boundary up
//! to `\n`, then the body.
//!
//! Invariants: a 413 only comes from a body over its limit; within the limit the
//! outcome does not depend on how the body is split into chunks on the wire.

#![no_main]

use std::convert::Infallible;

use aegis_core::import::{scan_fields, SourceFormat, SAMPLE_BYTES};
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request};
use axum::http::{header, Method, StatusCode};
use bytes::Bytes;
use futures::executor::block_on;
use libfuzzer_sys::fuzz_target;
use tower::{Layer, ServiceExt};

/// As `imports.rs` `REQUEST_PART_MAX`.
const REQUEST_PART_MAX: usize = 64 * 1024;
/// As `imports.rs` `UPLOAD_PATH`.
const UPLOAD_PATH: &str = "/v2/users/sources/upload";

/// What reading the body came to.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// Not a multipart request at all.
    NotMultipart,
    /// Reading a part failed with this status.
    Failed(StatusCode),
    /// The `request` part was too large.
    RequestTooLarge,
    /// A second `upload` part.
    TwoUploads,
    /// Read to the end: the `request` JSON object if valid, the upload's header
    /// names if it has one.
    Read {
        request: Option<Option<serde_json::Value>>,
        upload: Option<Result<Vec<String>, String>>,
    },
}

/// The part-reading loop of `imports.rs` `upload`, with the upload kept in memory.
async fn read(mut multipart: Multipart) -> Outcome {
    let mut request = None;
    let mut upload: Option<Vec<u8>> = None;
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Outcome::Failed(e.status()),
        };
        match field.name() {
            Some("request") => {
                let mut buf = Vec::new();
                loop {
                    match field.chunk().await {
                        Ok(Some(c)) => {
                            buf.extend_from_slice(&c);
                            if buf.len() > REQUEST_PART_MAX {
                                return Outcome::RequestTooLarge;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => return Outcome::Failed(e.status()),
                    }
                }
                let v = serde_json::from_slice::<serde_json::Value>(&buf)
                    .ok()
                    .filter(serde_json::Value::is_object);
                request = Some(v);
            }
            Some("upload") => {
                if upload.is_some() {
                    return Outcome::TwoUploads;
                }
                let mut buf = Vec::new();
                loop {
                    match field.chunk().await {
                        Ok(Some(c)) => buf.extend_from_slice(&c),
                        Ok(None) => break,
                        Err(e) => return Outcome::Failed(e.status()),
                    }
                }
                upload = Some(buf);
            }
            _ => {}
        }
    }
    let upload = match upload {
        Some(bytes) => Some(scan_upload(&bytes).await),
        None => None,
    };
    Outcome::Read { request, upload }
}

/// The upload's header, as `SourceWriter` checks and scans it.
async fn scan_upload(bytes: &[u8]) -> Result<Vec<String>, String> {
    if std::str::from_utf8(bytes).is_err() {
        return Err("not UTF-8".to_owned());
    }
    let sample = &bytes[..bytes.len().min(SAMPLE_BYTES)];
    scan_fields(SourceFormat::Csv, sample, sample.len() == bytes.len())
        .await
        .map(|fields| fields.into_iter().map(|f| f.name).collect())
        .map_err(|e| e.to_string())
}

/// Sends `chunks` as the body of an upload through the route's body-limit layer
/// and the hygiene middleware's `Limited`, and reads it.
async fn extract(content_type: &str, chunks: Vec<Bytes>, limit: usize) -> Outcome {
    let frames = futures::stream::iter(chunks.into_iter().map(Ok::<_, Infallible>));
    let body = Body::new(http_body_util::Limited::new(
        Body::from_stream(frames),
        limit,
    ));
    let Ok(req) = Request::builder()
        .method(Method::POST)
        .uri(UPLOAD_PATH)
        .header(header::CONTENT_TYPE, content_type)
        .body(body)
    else {
        return Outcome::NotMultipart;
    };
    let service = tower::service_fn(|req: Request| async move {
        Ok::<_, Infallible>(match Multipart::from_request(req, &()).await {
            Ok(multipart) => read(multipart).await,
            Err(_) => Outcome::NotMultipart,
        })
    });
    match DefaultBodyLimit::disable()
        .layer(service)
        .oneshot(req)
        .await
    {
        Ok(outcome) => outcome,
        Err(never) => match never {},
    }
}

fn run(data: &[u8]) -> Option<()> {
    let (&limit, data) = data.split_first()?;
    let (&splits, data) = data.split_first()?;
    let splits = usize::from(splits % 16);
    let positions = data.get(..splits)?;
    let data = &data[splits..];
    let newline = data.iter().position(|b| *b == b'\n')?;
    let boundary = std::str::from_utf8(&data[..newline]).ok()?;
    let body = &data[newline + 1..];
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let limit = if limit == 255 {
        usize::MAX
    } else {
        usize::from(limit) * 4
    };

    let mut cuts: Vec<usize> = positions
        .iter()
        .map(|p| usize::from(*p) * body.len() / 256)
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut chunks = Vec::new();
    let mut from = 0;
    for cut in cuts.into_iter().chain([body.len()]) {
        chunks.push(Bytes::copy_from_slice(&body[from..cut]));
        from = cut;
    }

    let split = block_on(extract(&content_type, chunks, limit));
    if split == Outcome::Failed(StatusCode::PAYLOAD_TOO_LARGE) {
        assert!(body.len() > limit, "413 for a body within its limit");
    }
    if body.len() <= limit {
        let whole = vec![Bytes::copy_from_slice(body)];
        let whole = block_on(extract(&content_type, whole, limit));
        assert_eq!(split, whole, "the outcome depends on the chunking");
    }
    Some(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(data);
});
