//! aegis-core: the identity core shared by every dialect.
//!
//! It owns the user model, the rules (password policy, throttling, token role caps,
//! revocation), the services that apply them, and the [`Store`] trait the storage
//! backends implement. It knows nothing of HTTP or SQL.

pub mod api_token;
pub mod authz;
pub mod cache;
pub mod clock;
pub mod config;
pub mod error;
pub mod group;
pub mod identity;
pub mod import;
pub mod keys;
pub mod mfa;
pub mod oidc;
pub mod password;
pub mod pattern;
pub mod query;
pub mod secret;
pub mod service;
pub mod session;
pub mod store;
pub mod telemetry;
pub mod throttle;
pub mod token;
pub mod user;

pub use clock::{Clock, SystemClock};
pub use config::{ConfigError, CoreConfig};
pub use error::{AuthFailure, Error, Result};
pub use service::{Actor, Aegis, Credential, Principal};
pub use store::Store;
pub use user::{Role, User};
