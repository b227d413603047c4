//! The state every handler shares.

use std::sync::Arc;

use aegis_core::Aegis;

use crate::config::Config;

/// Shared application state: the identity services and the configuration.
#[derive(Clone)]
pub struct AppState {
    /// The identity core.
    pub aegis: Arc<Aegis>,
    /// The server configuration.
    pub config: Arc<Config>,
    /// When this instance last sampled the gauges that cost a query.
    pub sampled: Arc<parking_lot::Mutex<Option<std::time::Instant>>>,
}
