//! HTTP tests: the real server on 127.0.0.1:0, called with a real client, on
//! SQLite and on PostgreSQL (`AEGIS_TEST_POSTGRES_URL`). One binary, one module
//! per dialect; every case runs on both backends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

mod aiohttp;
mod argon;
mod common;
mod connections;
mod cors;
mod cross;
mod imports;
mod metrics;
mod mfa;
mod oidc;
mod openapi;
mod outage;
mod pangea;
mod pangea_sessions;
mod pegasys;
mod userinfo;
mod web;
