//! The import upload: axum's `Multipart` (multer) over a request body bounded as
//! the server bounds it, read by the server's own `extract::upload::read_parts`
//! (a `request` part of at most 64 KiB, exactly one `upload` part streamed chunk
//! by chunk into a `SourceWriter`, other parts skipped), on an in-memory SQLite
//! store; the stored source is then read back.
//!
//! Input: byte 0 the body limit, byte 1 the upload limit (255: none; else 4 bytes
//! a unit), byte 2 the number of extra chunk boundaries, that many bytes of split
//! positions, then the multipart boundary up to `\n`, then the body.
//!
//! Invariants:
//! - a 413 only comes from a body over its limit;
//! - a stored upload is the part's bytes, read back whole or from any offset; its
//!   columns (and their types) are those `scan_fields` finds in the whole part, and a refused upload
//!   is over its limit, not UTF-8, or has a header `scan_fields` refuses too;
//! - within the body limit, the outcome does not depend on how the body is split
//!   into chunks on the wire (so neither on how the upload is split into writes).

#![no_main]

use std::cell::RefCell;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use aegis_core::import::{scan_fields, SourceFormat, SourceReader, SourceWriter};
use aegis_core::store::Store;
use aegis_core::Error;
use aegis_server::extract::upload::{read_parts, Parts, PartsError, UploadSink};
use aegis_store::SqliteStore;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request};
use axum::http::{header, Method, StatusCode};
use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use futures::TryStreamExt;
use libfuzzer_sys::fuzz_target;
use tokio::runtime::Runtime;
use tower::{Layer, ServiceExt};

/// As `imports.rs` `UPLOAD_PATH`.
const UPLOAD_PATH: &str = "/v2/users/sources/upload";
/// The refusal of an upload whose outcome may depend on the chunking: over its
/// limit and something else wrong too, either of which may be seen first.
const REFUSED: &str = "refused";

thread_local! {
    static FIXTURE: RefCell<Option<(Runtime, Arc<dyn Store>)>> = const { RefCell::new(None) };
}

/// Runs `f` on the runtime with the store.
fn with_store<T>(f: impl AsyncFnOnce(Arc<dyn Store>) -> T) -> T {
    FIXTURE.with(|cell| {
        let mut cell = cell.borrow_mut();
        let (rt, store) = cell.get_or_insert_with(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let store = rt
                .block_on(SqliteStore::open("sqlite::memory:"))
                .expect("in-memory store");
            (rt, Arc::new(store))
        });
        rt.block_on(f(Arc::clone(store)))
    })
}

fn at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).expect("a valid time")
}

/// What reading the body came to.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// Not a multipart request at all.
    NotMultipart,
    /// Reading a part failed with this status.
    Failed(StatusCode),
    /// The `request` part was too large.
    RequestTooLarge,
    /// The `request` part was not a JSON object.
    RequestNotObject,
    /// A second `upload` part.
    TwoUploads,
    /// Read to the end: the `request` JSON object, the upload's stored columns or
    /// why it was refused.
    Read {
        request: Option<serde_json::Value>,
        upload: Option<Result<Vec<String>, String>>,
    },
}

/// An upload in the making.
struct Upload {
    writer: SourceWriter,
    /// Every byte written, to compare with what the store kept.
    bytes: Vec<u8>,
}

impl UploadSink for Upload {
    fn write(&mut self, chunk: &[u8]) -> impl Future<Output = aegis_core::Result<()>> + Send {
        self.bytes.extend_from_slice(chunk);
        self.writer.write(chunk)
    }
}

/// Reads the parts as `imports.rs` `upload` does (the same `read_parts`).
async fn read(mut multipart: Multipart, store: &Arc<dyn Store>, limit: u64) -> Outcome {
    let mut parts = Parts::default();
    let read = read_parts(&mut multipart, &mut parts, || async {
        let writer = SourceWriter::begin(
            Arc::clone(store),
            SourceFormat::Csv,
            at(),
            at() + Duration::hours(1),
            limit,
        )
        .await
        .expect("an in-memory store works");
        Ok(Upload {
            writer,
            bytes: Vec::new(),
        })
    })
    .await;
    let (outcome, refused) = match read {
        Ok(()) => (None, None),
        Err(PartsError::Sink(e)) => (None, Some(e)),
        Err(PartsError::Multipart(status)) => (Some(Outcome::Failed(status)), None),
        Err(PartsError::RequestTooLarge) => (Some(Outcome::RequestTooLarge), None),
        Err(PartsError::RequestNotObject) => (Some(Outcome::RequestNotObject), None),
        Err(PartsError::TwoUploads) => (Some(Outcome::TwoUploads), None),
    };
    if let Some(outcome) = outcome {
        if let Some(u) = parts.upload {
            u.writer.abort().await;
        }
        return outcome;
    }
    let upload = match parts.upload {
        Some(u) => Some(finish(u, refused, store, limit).await),
        None => None,
    };
    Outcome::Read {
        request: parts.request,
        upload,
    }
}

/// Finishes an upload, checks it against the whole part, removes it.
async fn finish(
    u: Upload,
    refused: Option<Error>,
    store: &Arc<dyn Store>,
    limit: u64,
) -> Result<Vec<String>, String> {
    let over = u.bytes.len() as u64 > limit;
    let text = std::str::from_utf8(&u.bytes);
    let scanned = match text {
        Ok(_) => Some(
            scan_fields(SourceFormat::Csv, &u.bytes, true)
                .await
                .map_err(|e| e.to_string()),
        ),
        Err(_) => None,
    };
    let result = match refused {
        Some(e) => {
            u.writer.abort().await;
            Err(e)
        }
        None => u.writer.finish().await,
    };
    match result {
        Ok(source) => {
            assert!(!over, "stored an upload over its limit");
            let names: Vec<String> = source.fields.iter().map(|f| f.name.clone()).collect();
            assert_eq!(Some(Ok(source.fields.clone())), scanned);
            assert_eq!(source.size, u.bytes.len() as u64);
            for from in [0, u.bytes.len() / 2, u.bytes.len()] {
                let stored: Vec<Bytes> =
                    SourceReader::stream(Arc::clone(store), &source, from as u64)
                        .try_collect()
                        .await
                        .expect("the stored source reads back");
                assert_eq!(stored.concat(), u.bytes[from..], "read back from {from}");
            }
            store
                .delete_import_source(source.id)
                .await
                .expect("an in-memory store works");
            Ok(names)
        }
        Err(Error::TooLarge) => {
            assert!(over, "refused as too large within its limit");
            Err(if text.is_err() || matches!(scanned, Some(Err(_))) {
                REFUSED.into()
            } else {
                "too large".into()
            })
        }
        Err(e) => {
            let e = e.to_string();
            match &scanned {
                None => {}
                Some(Err(s)) => assert_eq!(&e, s),
                Some(Ok(_)) => panic!("refused ({e}) an upload scan_fields takes"),
            }
            Err(if over { REFUSED.into() } else { e })
        }
    }
}

/// Sends `chunks` as the body of an upload through the route's body-limit layer
/// and the hygiene middleware's `Limited`, and reads it.
async fn extract(
    store: &Arc<dyn Store>,
    content_type: &str,
    chunks: Vec<Bytes>,
    limits: (usize, u64),
) -> Outcome {
    let frames = futures::stream::iter(chunks.into_iter().map(Ok::<_, Infallible>));
    let body = Body::new(http_body_util::Limited::new(
        Body::from_stream(frames),
        limits.0,
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
            Ok(multipart) => read(multipart, store, limits.1).await,
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
    let [body_limit, upload_limit, splits, data @ ..] = data else {
        return None;
    };
    let splits = usize::from(splits % 16);
    let positions = data.get(..splits)?;
    let data = &data[splits..];
    let newline = data.iter().position(|b| *b == b'\n')?;
    let boundary = std::str::from_utf8(&data[..newline]).ok()?;
    let body = &data[newline + 1..];
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let limits = (
        match body_limit {
            255 => usize::MAX,
            n => usize::from(*n) * 4,
        },
        match upload_limit {
            255 => u64::MAX,
            n => u64::from(*n) * 4,
        },
    );

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

    with_store(async |store| {
        let split = extract(&store, &content_type, chunks, limits).await;
        if split == Outcome::Failed(StatusCode::PAYLOAD_TOO_LARGE) {
            assert!(body.len() > limits.0, "413 for a body within its limit");
        }
        if body.len() <= limits.0 {
            let whole = vec![Bytes::copy_from_slice(body)];
            let whole = extract(&store, &content_type, whole, limits).await;
            assert_eq!(split, whole, "the outcome depends on the chunking");
        }
    });
    Some(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(data);
});
