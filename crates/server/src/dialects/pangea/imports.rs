//! `/v2/users/sources/upload`, `/v2/users/import`, `/v2/users/import/get` and
//! `/v2/users/import/list`: bulk import (spec §6, §9.1–9.3, §9.6).
//!
//! The upload is streamed part by part into the store (the hygiene middleware
//! leaves this one route's body unread); the job runs in the background and its
//! counters grow while it does.

use aegis_core::authz::Capability;
use aegis_core::import::mapping::{FieldMapping, MappingErrorKind};
use aegis_core::import::{
    neutralise_formula, HashAlgorithm, HashParams, ImportJob, Mapping, MappingError, RowReport,
    RowStatus, SaltOrder, SourceFormat, Target,
};
use aegis_core::password::limits::{
    MAX_BLOCK_SIZE, MAX_COST_FACTOR, MAX_ITERATIONS, MAX_KEY_LENGTH, MAX_MEMORY_KIB,
    MAX_PARALLELISM,
};
use aegis_core::password::DigestAlg;
use aegis_core::query::{Order, Value as Q};
use aegis_core::service::StartImportError;
use aegis_core::{Error, Principal};
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::body::{request_schema, Body};
use super::envelope::{
    time, BadRequest, Envelope, Failure, Forbidden, NotFound, TooLarge, Unauthorized,
};
use super::paging::{self, Cursor, OrderName};
use super::users::finish;
use super::{ids, run, run_raw, Access, Call};
use crate::extract::upload::{read_parts, Parts, PartsError};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sources_upload))
        .routes(routes!(import_start))
        .routes(routes!(import_get))
        .routes(routes!(import_list))
        // The upload is bounded by the import limit, enforced while it streams.
        .layer(DefaultBodyLimit::disable())
}

// ---- Request and result schemas (spec §6), for the OpenAPI document ---------

/// The parts of `users/sources/upload` (spec §6.1), in any order; other parts
/// are ignored.
#[derive(Serialize, ToSchema)]
#[schema(as = PangeaSourceUploadRequest)]
#[allow(dead_code)]
struct UploadParts {
    /// JSON; its own keys are reported under `/request`.
    request: UploadRequestPart,
    /// The CSV file: UTF-8, a header row of unique non-empty names.
    #[schema(value_type = String, format = Binary)]
    upload: Vec<u8>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = PangeaSourceUploadRequestPart)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct UploadRequestPart {
    transfer_method: TransferMethod,
    file_type: FileType,
}

#[derive(Serialize, ToSchema)]
#[schema(as = PangeaTransferMethod)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum TransferMethod {
    Multipart,
}

#[derive(Serialize, ToSchema)]
#[schema(as = PangeaFileType)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum FileType {
    Csv,
}

/// `users/sources/upload` result.
#[derive(Serialize, ToSchema)]
#[schema(as = PangeaSourceUploaded)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Uploaded {
    object: SourceDoc,
}

/// An uploaded source: its columns and what an import can fill.
#[derive(Serialize, ToSchema)]
#[schema(as = PangeaImportSource)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct SourceDoc {
    /// `pus_…`
    #[schema(pattern = "^pus_[a-z2-7]{32}$")]
    id: String,
    /// One per header column, in file order.
    source_fields: Vec<SourceFieldDoc>,
    /// The fields an import can fill.
    pangea_fields: Vec<PangeaFieldDoc>,
    password_hash_algorithms: Vec<HashAlgorithmName>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = PangeaSourceField)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct SourceFieldDoc {
    source_field_name: String,
    /// Inferred from the first values.
    source_field_type: SourceFieldType,
}

#[derive(Serialize, ToSchema)]
#[schema(as = PangeaSourceFieldType)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum SourceFieldType {
    Bool,
    Int,
    Float,
    Date,
    Datetime,
    String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = PangeaOfferedField)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PangeaFieldDoc {
    pangea_field_name: String,
    pangea_field_type: PangeaFieldType,
    required: bool,
    is_profile_field: bool,
}

#[derive(Serialize, ToSchema)]
#[schema(as = PangeaFieldType)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum PangeaFieldType {
    String,
    Int,
    Float,
    Bool,
    Date,
    Datetime,
    Email,
    Phone,
}

/// The password hash algorithms of spec §6.2.
#[derive(Serialize, ToSchema)]
#[schema(as = PangeaHashAlgorithm)]
#[serde(rename_all = "UPPERCASE")]
#[allow(dead_code)]
enum HashAlgorithmName {
    Md5,
    Sha1,
    Sha256,
    Sha512,
    Bcrypt,
    Pbkdf2,
    Argon2,
    Scrypt,
    #[serde(rename = "FIREBASE-SCRYPT")]
    FirebaseScrypt,
}

request_schema! {
    /// `users/import` (spec §6.2).
    ImportBody as PangeaUserImportRequest {
        name: String,
        #[schema(pattern = "^pus_[a-z2-7]{32}$")]
        source_id: String,
        /// Exactly one mapping to `email`; each Pangea field at most once.
        field_mappings: Vec<FieldMappingDoc>,
    }
}

// Mirrors `read_mappings`.
/// One column → field mapping.
#[derive(Serialize, ToSchema)]
#[schema(as = PangeaFieldMapping)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct FieldMappingDoc {
    source_field: MappedSourceField,
    pangea_field: MappedPangeaField,
}

#[derive(Serialize, ToSchema)]
#[schema(as = PangeaMappedSourceField)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct MappedSourceField {
    /// A column of the source's header.
    source_field_name: String,
    /// A hint; any value.
    source_field_type: String,
    tags: Option<Vec<serde_json::Value>>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = PangeaMappedField)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct MappedPangeaField {
    /// An offered field, or a profile key with `is_profile_field`.
    pangea_field_name: String,
    /// The type offered for that field.
    pangea_field_type: String,
    required: Option<bool>,
    is_profile_field: Option<bool>,
    tags: Option<Vec<serde_json::Value>>,
    /// Only on the `password` field, which needs it.
    password_hash_params: Option<HashParamsDoc>,
}

// Mirrors `hash_params`; the maxima are `aegis_core::password::limits`' (utoipa takes
// literals only; the openapi HTTP test compares them).
/// `password_hash_params` (spec §6.2).
#[derive(Serialize, ToSchema)]
#[schema(as = PangeaPasswordHashParams)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct HashParamsDoc {
    algorithm: HashAlgorithmName,
    #[schema(minimum = 1, maximum = 1_500_000)]
    iterations: Option<u64>,
    #[schema(minimum = 1, maximum = 1024)]
    key_length: Option<u64>,
    /// KiB.
    #[schema(minimum = 1, maximum = 65_536)]
    memory: Option<u64>,
    #[schema(minimum = 1, maximum = 4)]
    parallelism: Option<u64>,
    #[schema(minimum = 1, maximum = 8)]
    block_size: Option<u64>,
    /// A power of 2.
    #[schema(minimum = 2, maximum = 1_099_511_627_776_u64)]
    cost_factor: Option<u64>,
    salt: Option<String>,
    salt_order: Option<SaltOrderName>,
    digest_algorithm: Option<DigestName>,
    salt_separator: Option<String>,
    /// Base64 (FIREBASE-SCRYPT).
    signer_key: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = PangeaSaltOrder)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum SaltOrderName {
    Prefix,
    Suffix,
}

#[derive(Serialize, ToSchema)]
#[schema(as = PangeaDigestAlgorithm)]
#[serde(rename_all = "UPPERCASE")]
#[allow(dead_code)]
enum DigestName {
    Sha1,
    Sha256,
    Sha512,
}

request_schema! {
    /// `users/import/get` (spec §6.3): the rows of each flagged status come in
    /// `details`.
    ImportGetBody as PangeaUserImportGetRequest {
        #[schema(pattern = "^pum_[a-z2-7]{32}$")]
        id: String,
        verbose_failed: Option<bool>,
        verbose_skipped: Option<bool>,
        verbose_success: Option<bool>,
    }
}

/// `users/import/list` `order_by` (spec §6.4).
#[derive(Serialize, ToSchema)]
#[schema(as = PangeaImportOrderBy)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum ImportOrderBy {
    Id,
    Name,
    CreatedAt,
    UpdatedAt,
    /// Sorts as `created_at`.
    Type,
    /// Sorts as `created_at`.
    PublishedAt,
    /// Sorts as `created_at`.
    Text,
}

// Mirrors `read_filter`.
/// `users/import/list` `filter` (spec §6.4).
#[derive(Serialize, ToSchema)]
#[schema(as = PangeaImportFilter)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, non_snake_case)]
struct ImportFilter {
    #[schema(nullable = false, pattern = "^pum_[a-z2-7]{32}$")]
    id: Option<String>,
    #[schema(nullable = false)]
    id__in: Option<Vec<ids::ImportJobId>>,
    #[schema(nullable = false)]
    id__contains: Option<Vec<String>>,
    #[schema(nullable = false)]
    name: Option<String>,
    #[schema(nullable = false)]
    name__in: Option<Vec<String>>,
    #[schema(nullable = false)]
    name__contains: Option<Vec<String>>,
    #[schema(nullable = false, format = DateTime)]
    created_at: Option<String>,
    #[schema(nullable = false, format = DateTime)]
    created_at__gt: Option<String>,
    #[schema(nullable = false, format = DateTime)]
    created_at__gte: Option<String>,
    #[schema(nullable = false, format = DateTime)]
    created_at__lt: Option<String>,
    #[schema(nullable = false, format = DateTime)]
    created_at__lte: Option<String>,
    #[schema(nullable = false, format = DateTime)]
    updated_at: Option<String>,
    #[schema(nullable = false, format = DateTime)]
    updated_at__gt: Option<String>,
    #[schema(nullable = false, format = DateTime)]
    updated_at__gte: Option<String>,
    #[schema(nullable = false, format = DateTime)]
    updated_at__lt: Option<String>,
    #[schema(nullable = false, format = DateTime)]
    updated_at__lte: Option<String>,
}

request_schema! {
    /// `users/import/list` (spec §6.4).
    ImportListBody as PangeaUserImportListRequest {
        filter: Option<ImportFilter>,
        /// The `last` of the previous page (bound to the same filter and order).
        last: Option<String>,
        order: Option<OrderName>,
        order_by: Option<ImportOrderBy>,
        /// Default 20; more than 1000 is 1000.
        #[schema(minimum = 1)]
        size: Option<i64>,
    }
}

// Mirrors `job_object`.
/// An import job (spec §6.2).
#[derive(Serialize, ToSchema)]
#[schema(as = PangeaImportJob)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ImportJobDoc {
    /// `pum_…`
    #[schema(pattern = "^pum_[a-z2-7]{32}$")]
    id: String,
    name: String,
    status: JobStatusName,
    summary: JobSummaryDoc,
    /// The rows asked for with `verbose_*` (`import/get`); else empty.
    details: Vec<RowDoc>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = PangeaImportStatus)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum JobStatusName {
    Pending,
    Success,
    Failed,
}

#[derive(Serialize, ToSchema)]
#[schema(as = PangeaImportSummary)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct JobSummaryDoc {
    /// Rows processed: `successful` + `failed` + `skipped`.
    total: u64,
    successful: u64,
    failed: u64,
    skipped: u64,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

/// One row's outcome.
#[derive(Serialize, ToSchema)]
#[schema(as = PangeaImportRow)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RowDoc {
    /// The created (or existing) user, `pui_…`; `""` for a failed row.
    #[schema(pattern = "^(pui_[a-z2-7]{32})?$")]
    user_id: String,
    status: RowStatusName,
    /// `row N: field: reason` for a failed row.
    message: String,
    #[schema(format = DateTime)]
    created_at: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = PangeaImportRowStatus)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum RowStatusName {
    Success,
    Skipped,
    Failed,
}

/// `users/import/list` result.
#[derive(Serialize, ToSchema)]
#[schema(as = PangeaImportList)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ImportList {
    /// Jobs, `details` empty.
    user_imports: Vec<ImportJobDoc>,
    /// Jobs matching the filter, on all pages.
    #[schema(minimum = 0)]
    count: u64,
    /// The cursor of the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    last: Option<String>,
}

/// The path whose body the hygiene middleware must not buffer.
pub const UPLOAD_PATH: &str = "/v2/users/sources/upload";

/// The `pangea_field_type` enum of the spec's OAS (§6.1).
const FIELD_TYPES: [&str; 8] = [
    "string", "int", "float", "bool", "date", "datetime", "email", "phone",
];

/// The fields an import can fill: name, type, required, profile field.
const OFFERED: [(&str, &str, bool, bool); 9] = [
    ("email", "email", true, false),
    ("username", "string", false, false),
    ("phone", "phone", false, false),
    ("verified", "bool", false, false),
    ("disabled", "bool", false, false),
    ("password", "string", false, false),
    ("password_salt", "string", false, false),
    ("first_name", "string", false, true),
    ("last_name", "string", false, true),
];

const ALGORITHMS: [&str; 9] = [
    "MD5",
    "SHA1",
    "SHA256",
    "SHA512",
    "BCRYPT",
    "PBKDF2",
    "ARGON2",
    "SCRYPT",
    "FIREBASE-SCRYPT",
];

fn upload_invalid(detail: &str) -> Failure {
    Failure::field("InvalidValue", "/upload", detail)
}

/// Upload a CSV source — spec §6.1.
#[utoipa::path(post, path = "/v2/users/sources/upload", tag = "pangea", operation_id = "pangea_users_sources_upload",
    security(("bearer" = [])),
    request_body(content = UploadParts, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "Source uploaded", body = Envelope<Uploaded>),
        (status = 400, description = "`ValidationError`: a part is missing or twice, `request` breaks its schema, the body is not multipart, or the file is not a CSV with a header (`InvalidValue` at `/upload`)", body = BadRequest),
        (status = 401, description = "`Unauthorized`: no valid Bearer", body = Unauthorized),
        (status = 403, description = "`Forbidden`: the Bearer's role may not call this endpoint", body = Forbidden),
        (status = 413, description = "`PayloadTooLarge`: the upload is over the import limit", body = TooLarge)))]
async fn sources_upload(State(s): State<AppState>, req: Request) -> Response {
    let mut res = run_raw(s, req, Access::Service(Capability::Administer), upload).await;
    if res.status() != StatusCode::OK {
        // The rest of a refused upload is not read: do not reuse the connection.
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    res
}

async fn upload(
    state: AppState,
    principal: Principal,
    req: Request,
) -> Result<(String, Value), Failure> {
    let mut multipart = Multipart::from_request(req, &state)
        .await
        .map_err(|_| Failure::field("InvalidValue", "/", "The body must be multipart/form-data"))?;
    let actor = aegis_core::Actor::Principal(principal);
    let mut parts = Parts::default();
    let read = read_parts(&mut multipart, &mut parts, || {
        state.aegis.begin_upload(&actor, SourceFormat::Csv)
    })
    .await;
    let checked = match read {
        Ok(()) => check_request(parts.request.as_ref()),
        Err(e) => Err(parts_failure(e)),
    };
    let writer = match (checked, parts.upload) {
        (Ok(()), Some(w)) => w,
        (Ok(()), None) => {
            return Err(Failure::field(
                "FieldRequired",
                "/upload",
                "'upload' is a required part",
            ))
        }
        (Err(f), w) => {
            if let Some(w) = w {
                w.abort().await;
            }
            return Err(f);
        }
    };
    let source = match writer.finish().await {
        Ok(s) => s,
        Err(e) => return Err(upload_error(e)),
    };
    let pangea_fields: Vec<Value> = OFFERED
        .iter()
        .map(|(name, kind, required, profile)| {
            json!({"pangea_field_name": name, "pangea_field_type": kind,
                   "required": required, "is_profile_field": profile})
        })
        .collect();
    let source_fields: Vec<Value> = source
        .fields
        .iter()
        .map(|f| json!({"source_field_name": f.name, "source_field_type": f.kind.as_str()}))
        .collect();
    Ok((
        "Source uploaded".into(),
        json!({"object": {
            "id": ids::encode(ids::IMPORT_SOURCE, source.id),
            "source_fields": source_fields,
            "pangea_fields": pangea_fields,
            "password_hash_algorithms": ALGORITHMS,
        }}),
    ))
}

/// Why the parts could not be read.
fn parts_failure(e: PartsError) -> Failure {
    match e {
        PartsError::Multipart(StatusCode::PAYLOAD_TOO_LARGE) => Error::TooLarge.into(),
        PartsError::Multipart(_) => {
            Failure::field("InvalidValue", "/", "The multipart body could not be read")
        }
        PartsError::RequestTooLarge => {
            Failure::field("InvalidObject", "/request", "'request' is too large")
        }
        PartsError::RequestNotObject => Failure::field(
            "InvalidObject",
            "/request",
            "'request' must be a JSON object",
        ),
        PartsError::TwoUploads => upload_invalid("exactly one 'upload' part is allowed"),
        PartsError::Sink(e) => upload_error(e),
    }
}

/// A refused upload: too large (413), or invalid content (`/upload`).
fn upload_error(e: Error) -> Failure {
    match e {
        Error::InvalidField { reason, .. } => upload_invalid(&reason),
        e => e.into(),
    }
}

/// The `request` part: `transfer_method` `multipart` and `file_type` `csv`.
fn check_request(request: Option<&Value>) -> Result<(), Failure> {
    let Some(Value::Object(map)) = request else {
        return Err(Failure::field(
            "FieldRequired",
            "/request",
            "'request' is a required part",
        ));
    };
    let mut body = Body::new(map.clone());
    let method = body.req_string("transfer_method");
    let file_type = body.req_string("file_type");
    if method.as_deref().is_some_and(|m| m != "multipart") {
        body.error(
            "NotEnumMember",
            "/request/transfer_method",
            "'transfer_method' must be 'multipart'",
        );
    }
    if file_type.as_deref().is_some_and(|t| t != "csv") {
        body.error(
            "NotEnumMember",
            "/request/file_type",
            "'file_type' must be 'csv'",
        );
    }
    body.finish().map_err(|f| match f {
        // The part's own keys are reported under `/request`.
        Failure::Validation(errors) => Failure::Validation(
            errors
                .into_iter()
                .map(|mut e| {
                    if !e.source.starts_with("/request") {
                        e.source = format!("/request{}", e.source);
                    }
                    e
                })
                .collect(),
        ),
        f => f,
    })
}

/// The summary object of a job (spec §6.2), with `details`.
fn job_object(job: &ImportJob, details: &[RowReport]) -> Value {
    let c = &job.counters;
    json!({
        "id": ids::encode(ids::IMPORT_JOB, job.id),
        "name": job.name,
        "status": job.status.as_str(),
        "summary": {
            "total": c.total,
            "successful": c.successful,
            "failed": c.failed,
            "skipped": c.skipped,
            "created_at": time(job.created_at),
            "updated_at": time(job.updated_at),
        },
        "details": details.iter().map(|d| json!({
            "user_id": d.user_id.map(|u| ids::encode(ids::USER, u)).unwrap_or_default(),
            "status": d.status.as_str(),
            "message": neutralise_formula(&d.message),
            "created_at": time(d.created_at),
        })).collect::<Vec<_>>(),
        "created_at": time(job.created_at),
        "updated_at": time(job.updated_at),
    })
}

/// Reads a required `/…` object member of a mapping item.
fn member<'a>(
    body: &mut Body,
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
    kind: &'static str,
    required: bool,
) -> Option<&'a Value> {
    let v = obj.get(key);
    let ok = match (v, kind) {
        (None, _) => {
            if required {
                body.error(
                    "FieldRequired",
                    format!("{path}/{key}"),
                    format!("'{key}' is a required property"),
                );
            }
            return None;
        }
        (Some(Value::Null), _) if !required => return None,
        (Some(v), "string") => v.is_string(),
        (Some(v), "object") => v.is_object(),
        (Some(v), "boolean") => v.is_boolean(),
        (Some(v), "integer") => v.is_i64() || v.is_u64(),
        (Some(v), "array") => v.is_array(),
        _ => false,
    };
    if !ok {
        let code = match kind {
            "string" => "InvalidString",
            "boolean" => "InvalidBool",
            "integer" => "InvalidInteger",
            "array" => "InvalidArray",
            _ => "InvalidObject",
        };
        body.error(
            code,
            format!("{path}/{key}"),
            format!("'{key}' must be a {kind}"),
        );
        return None;
    }
    v
}

/// Keys of `obj` outside `allowed` are `UnexpectedProperty`.
fn only(body: &mut Body, obj: &Map<String, Value>, allowed: &[&str], path: &str) {
    for k in obj.keys().filter(|k| !allowed.contains(&k.as_str())) {
        body.error(
            "UnexpectedProperty",
            format!("{path}/{k}"),
            format!("'{k}' is not an allowed property"),
        );
    }
}

/// An integer parameter within `lo..=hi`.
fn int_param(
    body: &mut Body,
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
    lo: u64,
    hi: u64,
) -> Option<u64> {
    let v = member(body, obj, key, path, "integer", false)?.as_u64();
    match v {
        Some(n) if (lo..=hi).contains(&n) => Some(n),
        _ => {
            body.error(
                "NotWithinRange",
                format!("{path}/{key}"),
                format!("'{key}' must be between {lo} and {hi}"),
            );
            None
        }
    }
}

/// `password_hash_params` (spec §6.2).
fn hash_params(body: &mut Body, obj: &Map<String, Value>, path: &str) -> Option<HashParams> {
    only(
        body,
        obj,
        &[
            "algorithm",
            "iterations",
            "salt",
            "salt_order",
            "key_length",
            "digest_algorithm",
            "memory",
            "parallelism",
            "block_size",
            "cost_factor",
            "salt_separator",
            "signer_key",
        ],
        path,
    );
    let algorithm = member(body, obj, "algorithm", path, "string", true).and_then(Value::as_str);
    let algorithm = match algorithm {
        None => None,
        Some(a) => {
            let alg = match a {
                "MD5" => Some(HashAlgorithm::Md5),
                "SHA1" => Some(HashAlgorithm::Sha1),
                "SHA256" => Some(HashAlgorithm::Sha256),
                "SHA512" => Some(HashAlgorithm::Sha512),
                "BCRYPT" => Some(HashAlgorithm::Bcrypt),
                "PBKDF2" => Some(HashAlgorithm::Pbkdf2),
                "ARGON2" => Some(HashAlgorithm::Argon2),
                "SCRYPT" => Some(HashAlgorithm::Scrypt),
                "FIREBASE-SCRYPT" => Some(HashAlgorithm::FirebaseScrypt),
                _ => None,
            };
            if alg.is_none() {
                body.error(
                    "NotEnumMember",
                    format!("{path}/algorithm"),
                    "'algorithm' is not a supported algorithm",
                );
            }
            alg
        }
    };
    let mut p = HashParams::new(algorithm.unwrap_or(HashAlgorithm::Bcrypt));
    let u32_of = |n: Option<u64>| n.and_then(|n| u32::try_from(n).ok());
    // The ranges are the core's table (the same the mapping check applies).
    let range = |body: &mut Body, key: &str, max: u32| {
        u32_of(int_param(body, obj, key, path, 1, u64::from(max)))
    };
    p.iterations = range(body, "iterations", MAX_ITERATIONS);
    p.key_length = range(body, "key_length", MAX_KEY_LENGTH);
    p.memory = range(body, "memory", MAX_MEMORY_KIB);
    p.parallelism = range(body, "parallelism", MAX_PARALLELISM);
    p.block_size = range(body, "block_size", MAX_BLOCK_SIZE);
    if let Some(n) = int_param(body, obj, "cost_factor", path, 2, MAX_COST_FACTOR) {
        if n.is_power_of_two() {
            p.cost_factor = Some(n);
        } else {
            body.error(
                "NotWithinRange",
                format!("{path}/cost_factor"),
                "'cost_factor' must be a power of 2",
            );
        }
    }
    let string = |body: &mut Body, key: &str| {
        member(body, obj, key, path, "string", false)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    p.salt = string(body, "salt");
    p.salt_separator = string(body, "salt_separator");
    p.signer_key = string(body, "signer_key");
    p.salt_order = match string(body, "salt_order").as_deref() {
        None => None,
        Some("prefix") => Some(SaltOrder::Prefix),
        Some("suffix") => Some(SaltOrder::Suffix),
        Some(_) => {
            body.error(
                "NotEnumMember",
                format!("{path}/salt_order"),
                "'salt_order' must be 'prefix' or 'suffix'",
            );
            None
        }
    };
    p.digest_algorithm = match string(body, "digest_algorithm").as_deref() {
        None => None,
        Some("SHA1") => Some(DigestAlg::Sha1),
        Some("SHA256") => Some(DigestAlg::Sha256),
        Some("SHA512") => Some(DigestAlg::Sha512),
        Some(_) => {
            body.error(
                "NotEnumMember",
                format!("{path}/digest_algorithm"),
                "'digest_algorithm' must be SHA1, SHA256 or SHA512",
            );
            None
        }
    };
    algorithm.map(|_| p)
}

/// `field_mappings` as a core mapping; schema problems are recorded in `body`.
fn read_mappings(body: &mut Body, items: Vec<Value>) -> Mapping {
    let mut mapping = Mapping {
        fields: Vec::new(),
        password: None,
    };
    for (i, item) in items.iter().enumerate() {
        let path = format!("/field_mappings/{i}");
        let Some(item) = item.as_object() else {
            body.error("InvalidObject", path, "a field mapping must be an object");
            continue;
        };
        only(body, item, &["source_field", "pangea_field"], &path);
        let source =
            member(body, item, "source_field", &path, "object", true).and_then(Value::as_object);
        let pangea =
            member(body, item, "pangea_field", &path, "object", true).and_then(Value::as_object);
        let column = source.and_then(|src| {
            let p = format!("{path}/source_field");
            only(
                body,
                src,
                &["source_field_name", "source_field_type", "tags"],
                &p,
            );
            member(body, src, "source_field_type", &p, "string", true);
            member(body, src, "tags", &p, "array", false);
            member(body, src, "source_field_name", &p, "string", true)
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        let Some(pangea) = pangea else { continue };
        let p = format!("{path}/pangea_field");
        only(
            body,
            pangea,
            &[
                "pangea_field_name",
                "pangea_field_type",
                "required",
                "is_profile_field",
                "tags",
                "password_hash_params",
            ],
            &p,
        );
        let name =
            member(body, pangea, "pangea_field_name", &p, "string", true).and_then(Value::as_str);
        let kind =
            member(body, pangea, "pangea_field_type", &p, "string", true).and_then(Value::as_str);
        member(body, pangea, "required", &p, "boolean", false);
        member(body, pangea, "tags", &p, "array", false);
        let is_profile = member(body, pangea, "is_profile_field", &p, "boolean", false)
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let params = member(body, pangea, "password_hash_params", &p, "object", false)
            .and_then(Value::as_object)
            .map(|o| (o, format!("{p}/password_hash_params")));
        let (Some(name), Some(column)) = (name, column) else {
            continue;
        };
        let offered = OFFERED.iter().find(|o| o.0 == name);
        let target = match offered {
            Some((_, offered_kind, _, _)) => {
                if kind.is_some_and(|k| k != *offered_kind) {
                    body.error(
                        "NotEnumMember",
                        format!("{p}/pangea_field_type"),
                        format!("'{name}' is of type '{offered_kind}'"),
                    );
                }
                match name {
                    "email" => Target::Email,
                    "username" => Target::Username,
                    "phone" => Target::Phone,
                    "verified" => Target::Verified,
                    "disabled" => Target::Disabled,
                    "password" => Target::Password,
                    "password_salt" => Target::PasswordSalt,
                    other => Target::Profile(other.to_owned()),
                }
            }
            None if is_profile => {
                if kind.is_some_and(|k| !FIELD_TYPES.contains(&k)) {
                    body.error(
                        "NotEnumMember",
                        format!("{p}/pangea_field_type"),
                        format!(
                            "'pangea_field_type' must be one of {}",
                            FIELD_TYPES.join(", ")
                        ),
                    );
                }
                Target::Profile(name.to_owned())
            }
            None => {
                body.error(
                    "NotEnumMember",
                    format!("{p}/pangea_field_name"),
                    format!("'{name}' is not a field an import can fill; mark profile fields with is_profile_field"),
                );
                continue;
            }
        };
        match (params, &target) {
            (Some((obj, pp)), Target::Password) => {
                if let Some(hp) = hash_params(body, obj, &pp) {
                    mapping.password.get_or_insert(hp);
                }
            }
            (Some((_, pp)), _) => body.error(
                "UnexpectedProperty",
                pp,
                "'password_hash_params' belongs to the password field",
            ),
            (None, _) => {}
        }
        mapping.fields.push(FieldMapping { column, target });
    }
    mapping
}

/// Where a mapping problem points, as a validation failure.
fn mapping_failure(e: &MappingError, mapping: &Mapping, positions: &[usize]) -> Failure {
    // `index` counts kept mappings; `positions` maps them back to request indices.
    let at = e.index.and_then(|i| positions.get(i)).copied();
    let path = |suffix: &str| match at {
        Some(i) => format!("/field_mappings/{i}{suffix}"),
        None => "/field_mappings".to_owned(),
    };
    let field = e
        .index
        .and_then(|i| mapping.fields.get(i))
        .map(|f| f.target.name().to_owned())
        .unwrap_or_default();
    match &e.kind {
        MappingErrorKind::NoEmail => Failure::field(
            "FieldRequired",
            "/field_mappings",
            "a mapping to 'email' is required",
        ),
        MappingErrorKind::Duplicate => Failure::field(
            "InvalidValue",
            &path("/pangea_field/pangea_field_name"),
            format!("'{field}' is mapped more than once"),
        ),
        MappingErrorKind::BadProfileKey => Failure::field(
            "DoesNotMatchPattern",
            &path("/pangea_field/pangea_field_name"),
            "a profile field name must match ^[A-Za-z0-9_.-]{1,64}$",
        ),
        MappingErrorKind::NoHashParams => Failure::field(
            "FieldRequired",
            &path("/pangea_field/password_hash_params"),
            "'password' needs 'password_hash_params'",
        ),
        MappingErrorKind::BadHashParams(reason) => Failure::field(
            "InvalidValue",
            &path("/pangea_field/password_hash_params"),
            reason.clone(),
        ),
        MappingErrorKind::UnknownColumn => Failure::field(
            "InvalidValue",
            &path("/source_field/source_field_name"),
            "the source has no such column",
        ),
        #[allow(unreachable_patterns)]
        _ => Failure::field("InvalidValue", &path(""), "the mapping is not valid"),
    }
}

/// Start an import job — spec §6.2.
#[utoipa::path(post, path = "/v2/users/import", tag = "pangea", operation_id = "pangea_users_import",
    security(("bearer" = [])),
    request_body = ImportBody,
    responses(
        (status = 200, description = "Import started (normally `pending`)", body = Envelope<ImportJobDoc>),
        (status = 400, description = "`ValidationError`: the body or a mapping breaks the schema or the mapping rules, or names a column the source does not have", body = BadRequest),
        (status = 401, description = "`Unauthorized`: no valid Bearer", body = Unauthorized),
        (status = 403, description = "`Forbidden`: the Bearer's role may not call this endpoint", body = Forbidden),
        (status = 404, description = "`NotFound`: the import source does not exist (or has expired)", body = NotFound),
        (status = 413, description = "`PayloadTooLarge`: the body is over the limit", body = TooLarge)))]
async fn import_start(State(s): State<AppState>, req: Request) -> Response {
    run(
        s,
        req,
        Access::Service(Capability::Administer),
        |mut call: Call| async move {
            let name = call.body.req_string("name");
            let source = call.body.req_string("source_id");
            call.body.pattern("source_id", &source, |s| {
                !matches!(
                    ids::decode(ids::IMPORT_SOURCE, s),
                    Err(ids::IdError::Pattern)
                )
            });
            let items = call.body.array("field_mappings", true);
            let (mapping, positions) = match items {
                Some(items) => {
                    let mapping = read_mappings(&mut call.body, items.clone());
                    // Request index of each kept mapping (items that failed schema were skipped).
                    let positions = kept_positions(&items, &mapping);
                    (mapping, positions)
                }
                None => (
                    Mapping {
                        fields: Vec::new(),
                        password: None,
                    },
                    Vec::new(),
                ),
            };
            let call = finish(call)?;
            let source = ids::decode(ids::IMPORT_SOURCE, source.as_deref().unwrap_or_default())
                .map_err(|_| Failure::not_found("import source"));
            // Mapping rules come before the source lookup (spec §9.2).
            if let Err(e) = mapping.check() {
                return Err(mapping_failure(&e, &mapping, &positions));
            }
            let job = call
                .state
                .aegis
                .start_import(
                    &call.actor(),
                    &name.unwrap_or_default(),
                    source?,
                    mapping.clone(),
                )
                .await
                .map_err(|e| match e {
                    StartImportError::Mapping(e) => mapping_failure(&e, &mapping, &positions),
                    StartImportError::Other(e) => e.into(),
                })?;
            Ok(("Import started".into(), job_object(&job, &[])))
        },
    )
    .await
}

/// The request index of each mapping kept by [`read_mappings`] (in order).
fn kept_positions(items: &[Value], mapping: &Mapping) -> Vec<usize> {
    // A kept mapping is one whose source and pangea names were readable; after a
    // schema error the whole request fails, so only the all-valid case matters.
    if items.len() == mapping.fields.len() {
        (0..items.len()).collect()
    } else {
        Vec::new()
    }
}

fn job_id(body: &mut Body) -> Option<String> {
    let id = body.req_string("id");
    body.pattern("id", &id, |s| {
        !matches!(ids::decode(ids::IMPORT_JOB, s), Err(ids::IdError::Pattern))
    });
    id
}

/// One import job, with the rows asked for — spec §6.3.
#[utoipa::path(post, path = "/v2/users/import/get", tag = "pangea", operation_id = "pangea_users_import_get",
    security(("bearer" = [])),
    request_body = ImportGetBody,
    responses(
        (status = 200, description = "Import found", body = Envelope<ImportJobDoc>),
        (status = 400, description = "`ValidationError`: the body breaks the schema", body = BadRequest),
        (status = 401, description = "`Unauthorized`: no valid Bearer", body = Unauthorized),
        (status = 403, description = "`Forbidden`: the Bearer's role may not call this endpoint", body = Forbidden),
        (status = 404, description = "`NotFound`: the import job does not exist", body = NotFound),
        (status = 413, description = "`PayloadTooLarge`: the body is over the limit", body = TooLarge)))]
async fn import_get(State(s): State<AppState>, req: Request) -> Response {
    run(
        s,
        req,
        Access::Service(Capability::ReadDirectory),
        |mut call: Call| async move {
            let id = job_id(&mut call.body);
            let mut statuses = Vec::new();
            for (key, status) in [
                ("verbose_failed", RowStatus::Failed),
                ("verbose_skipped", RowStatus::Skipped),
                ("verbose_success", RowStatus::Success),
            ] {
                if call.body.boolean(key) == Some(true) {
                    statuses.push(status);
                }
            }
            let call = finish(call)?;
            let id = ids::decode(ids::IMPORT_JOB, id.as_deref().unwrap_or_default())
                .map_err(|_| Failure::not_found("import job"))?;
            let actor = call.actor();
            let job = call.state.aegis.import_job(&actor, id).await?;
            let details = call.state.aegis.import_rows(&actor, id, &statuses).await?;
            Ok(("Import found".into(), job_object(&job, &details)))
        },
    )
    .await
}

/// What a listing sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortKey {
    Id,
    Name,
    CreatedAt,
    UpdatedAt,
}

impl SortKey {
    fn of(self, job: &ImportJob) -> Option<Q> {
        match self {
            Self::Id => None,
            Self::Name => Some(Q::Text(job.name.clone())),
            Self::CreatedAt => Some(Q::Time(job.created_at)),
            Self::UpdatedAt => Some(Q::Time(job.updated_at)),
        }
    }
}

fn compare(a: &Option<Q>, b: &Option<Q>) -> std::cmp::Ordering {
    match (a, b) {
        (Some(Q::Text(x)), Some(Q::Text(y))) => x.cmp(y),
        (Some(Q::Time(x)), Some(Q::Time(y))) => x.cmp(y),
        _ => std::cmp::Ordering::Equal,
    }
}

/// One filter condition on jobs.
enum Cond {
    Id(Vec<uuid::Uuid>),
    IdContains(Vec<String>),
    Name(Vec<String>),
    NameContains(Vec<String>),
    Time(bool, &'static str, DateTime<Utc>),
}

impl Cond {
    fn holds(&self, job: &ImportJob) -> bool {
        match self {
            Self::Id(ids) => ids.contains(&job.id),
            Self::IdContains(parts) => {
                let id = ids::encode(ids::IMPORT_JOB, job.id);
                parts.iter().all(|p| id.contains(p.as_str()))
            }
            Self::Name(names) => names.contains(&job.name),
            Self::NameContains(parts) => parts.iter().all(|p| job.name.contains(p.as_str())),
            Self::Time(created, op, t) => {
                let v = if *created {
                    job.created_at
                } else {
                    job.updated_at
                };
                match *op {
                    "gt" => v > *t,
                    "gte" => v >= *t,
                    "lt" => v < *t,
                    "lte" => v <= *t,
                    _ => v == *t,
                }
            }
        }
    }
}

fn string_list(body: &mut Body, v: &Value, path: &str) -> Vec<String> {
    match v.as_array() {
        Some(items) => items
            .iter()
            .filter_map(|i| {
                let s = i.as_str().map(str::to_owned);
                if s.is_none() {
                    body.error("InvalidString", path.to_owned(), "values must be strings");
                }
                s
            })
            .collect(),
        None => {
            body.error(
                "InvalidArray",
                path.to_owned(),
                "must be an array of strings",
            );
            Vec::new()
        }
    }
}

fn read_filter(body: &mut Body) -> Vec<Cond> {
    let Some(filter) = body.object("filter", false) else {
        return Vec::new();
    };
    let mut conds = Vec::new();
    for (key, v) in &filter {
        let path = format!("/filter/{key}");
        let single = |body: &mut Body| -> Option<String> {
            let s = v.as_str().map(str::to_owned);
            if s.is_none() {
                body.error(
                    "InvalidString",
                    path.clone(),
                    format!("'{key}' must be a string"),
                );
            }
            s
        };
        match key.as_str() {
            "id" | "id__in" => {
                let vals = if key == "id" {
                    single(body).into_iter().collect()
                } else {
                    string_list(body, v, &path)
                };
                // A foreign id matches nothing; a malformed one is a pattern error.
                let mut out = Vec::new();
                for s in vals {
                    match ids::decode(ids::IMPORT_JOB, &s) {
                        Ok(id) => out.push(id),
                        Err(ids::IdError::Foreign) => {}
                        Err(ids::IdError::Pattern) => {
                            body.error("DoesNotMatchPattern", path.clone(), "not an import job id")
                        }
                    }
                }
                conds.push(Cond::Id(out));
            }
            "id__contains" => conds.push(Cond::IdContains(string_list(body, v, &path))),
            "name" => conds.push(Cond::Name(single(body).into_iter().collect())),
            "name__in" => conds.push(Cond::Name(string_list(body, v, &path))),
            "name__contains" => conds.push(Cond::NameContains(string_list(body, v, &path))),
            k => {
                let parsed = k
                    .strip_prefix("created_at")
                    .map(|r| (true, r))
                    .or_else(|| k.strip_prefix("updated_at").map(|r| (false, r)));
                let op = parsed.and_then(|(c, r)| {
                    let op = match r {
                        "" => "eq",
                        "__gt" => "gt",
                        "__gte" => "gte",
                        "__lt" => "lt",
                        "__lte" => "lte",
                        _ => return None,
                    };
                    Some((c, op))
                });
                match op {
                    Some((created, op)) => {
                        let t = v.as_str().map(|s| {
                            DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc))
                        });
                        match t {
                            Some(Ok(t)) => conds.push(Cond::Time(created, op, t)),
                            Some(Err(_)) => body.error(
                                "BadFormatDateTime",
                                path.clone(),
                                format!("'{key}' must be an RFC 3339 timestamp"),
                            ),
                            None => body.error(
                                "InvalidString",
                                path.clone(),
                                format!("'{key}' must be a string"),
                            ),
                        }
                    }
                    None => body.error(
                        "UnexpectedProperty",
                        path.clone(),
                        format!("'{key}' is not an allowed filter"),
                    ),
                }
            }
        }
    }
    conds
}

/// List import jobs — spec §6.4. Jobs are few (one per migration), so they are
/// filtered and paged in memory; the cursor is the usual bound keyset cursor.
#[utoipa::path(post, path = "/v2/users/import/list", tag = "pangea", operation_id = "pangea_users_import_list",
    security(("bearer" = [])),
    request_body = ImportListBody,
    responses(
        (status = 200, description = "`user_imports`, `count`, and `last` when another page exists", body = Envelope<ImportList>),
        (status = 400, description = "`ValidationError`: the body breaks the schema, or `last` is not a cursor of this listing", body = BadRequest),
        (status = 401, description = "`Unauthorized`: no valid Bearer", body = Unauthorized),
        (status = 403, description = "`Forbidden`: the Bearer's role may not call this endpoint", body = Forbidden),
        (status = 413, description = "`PayloadTooLarge`: the body is over the limit", body = TooLarge)))]
async fn import_list(State(s): State<AppState>, req: Request) -> Response {
    run(
        s,
        req,
        Access::Service(Capability::ReadDirectory),
        |mut call: Call| async move {
            let raw_filter = call.body.peek("filter").cloned().unwrap_or(Value::Null);
            let conds = read_filter(&mut call.body);
            let order = paging::order(&mut call.body);
            let raw_by = call.body.string("order_by");
            let key = match raw_by.as_deref() {
                None | Some("created_at" | "type" | "published_at" | "text") => SortKey::CreatedAt,
                Some("id") => SortKey::Id,
                Some("name") => SortKey::Name,
                Some("updated_at") => SortKey::UpdatedAt,
                Some(_) => {
                    call.body.error(
                        "NotEnumMember",
                        "/order_by",
                        "'order_by' is not a sortable field",
                    );
                    SortKey::CreatedAt
                }
            };
            let size = paging::size(&mut call.body);
            // The effective filter and order: `{}` and no filter, or no `order`
            // and "asc", are the same listing.
            let filter = match raw_filter {
                Value::Object(map) if map.is_empty() => Value::Null,
                other => other,
            };
            let binding = paging::binding(json!({
                "e": "users/import/list", "f": filter, "o": format!("{order:?}"), "b": format!("{key:?}"),
            }));
            let cursor = paging::last(&mut call.body, &binding);
            let call = finish(call)?;
            let mut jobs: Vec<ImportJob> = call
                .state
                .aegis
                .import_jobs(&call.actor())
                .await?
                .into_iter()
                .filter(|j| conds.iter().all(|c| c.holds(j)))
                .collect();
            let cmp = |a: &ImportJob, b: &ImportJob| {
                compare(&key.of(a), &key.of(b)).then(a.id.cmp(&b.id))
            };
            jobs.sort_by(|a, b| match order {
                Order::Asc => cmp(a, b),
                Order::Desc => cmp(b, a),
            });
            let count = jobs.len() as u64;
            let start = match &cursor {
                None => 0,
                Some(c) => jobs
                    .iter()
                    .position(|j| {
                        let ord = compare(&key.of(j), &c.key).then(j.id.cmp(&c.id));
                        match order {
                            Order::Asc => ord.is_gt(),
                            Order::Desc => ord.is_lt(),
                        }
                    })
                    .unwrap_or(jobs.len()),
            };
            let page: Vec<&ImportJob> = jobs.iter().skip(start).take(size as usize).collect();
            let more = start + page.len() < jobs.len();
            let mut result = json!({
                "user_imports": page.iter().map(|j| job_object(j, &[])).collect::<Vec<_>>(),
                "count": count,
            });
            if let (true, Some(last)) = (more, page.last()) {
                result["last"] = json!(paging::encode(
                    &binding,
                    &Cursor {
                        key: key.of(last),
                        id: last.id,
                        total: count,
                        owner: None,
                    },
                ));
            }
            let n = page.len();
            let summary = format!("Listed {n} import{}", if n == 1 { "" } else { "s" });
            Ok((summary, result))
        },
    )
    .await
}
