//! Liveness and readiness probes.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// The longest `/readyz` waits for the database: a load balancer's probe
/// (typically timing out after 1–2 s) gets its 503 before giving up.
const READY_TIMEOUT: Duration = Duration::from_millis(800);

/// A probe's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Probe {
    status: ProbeStatus,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum ProbeStatus {
    Ok,
    Unavailable,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, description = "alive", body = Probe)))]
async fn healthz() -> Json<Probe> {
    Json(Probe {
        status: ProbeStatus::Ok,
    })
}

/// Readiness: the database answers (within 800 ms, or `database_timeout_ms`
/// when shorter).
#[utoipa::path(get, path = "/readyz", tag = "ops", responses(
    (status = 200, description = "ready", body = Probe),
    (status = 503, description = "the database does not answer", body = Probe)))]
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Probe>) {
    let limit = state.config.store_options().timeout.min(READY_TIMEOUT);
    let status = match tokio::time::timeout(limit, state.aegis.ready()).await {
        Ok(Ok(())) => ProbeStatus::Ok,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            ProbeStatus::Unavailable
        }
        Err(_) => {
            tracing::warn!(
                limit_ms = limit.as_millis() as u64,
                "readiness check timed out"
            );
            ProbeStatus::Unavailable
        }
    };
    let code = match status {
        ProbeStatus::Ok => StatusCode::OK,
        ProbeStatus::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    };
    (code, Json(Probe { status }))
}
