//! The store contract: one suite of cases, each an `async fn(Arc<dyn Store>)`,
//! run on SQLite (a temporary file) and on PostgreSQL (a fresh schema per case,
//! when `AEGIS_TEST_POSTGRES_URL` is set). The plan checks of `plans` need each
//! backend's own diagnostics and run outside the shared cases.

// Test code: a failed unwrap is a failed case.
#![allow(clippy::unwrap_used)]

#[path = "contract/admin_guard.rs"]
mod admin_guard;
#[path = "contract/fixtures.rs"]
mod fixtures;
#[path = "contract/groups.rs"]
mod groups;
#[path = "contract/imports.rs"]
mod imports;
#[path = "contract/invalidations.rs"]
mod invalidations;
#[path = "contract/listing.rs"]
mod listing;
#[path = "contract/login_codes.rs"]
mod login_codes;
#[path = "contract/mfa.rs"]
mod mfa;
#[path = "contract/migration.rs"]
mod migration;
#[path = "contract/oidc.rs"]
mod oidc;
#[path = "contract/outage.rs"]
mod outage;
#[path = "contract/plans.rs"]
mod plans;
#[path = "contract/purge.rs"]
mod purge;
#[path = "contract/query_plans.rs"]
mod query_plans;
#[path = "contract/reference.rs"]
mod reference;
#[path = "contract/session_list.rs"]
mod session_list;
#[path = "contract/sessions.rs"]
mod sessions;
#[path = "contract/throttle.rs"]
mod throttle;
#[path = "contract/tokens.rs"]
mod tokens;
#[path = "contract/user_query.rs"]
mod user_query;
#[path = "contract/users.rs"]
mod users;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aegis_core::store::Invalidation;
use aegis_core::Store;
use aegis_store::testing::{drop_schema, isolated_postgres, open_schema, postgres_test_url};
use aegis_store::SqliteStore;
use uuid::Uuid;

/// Runs a case on a fresh SQLite file.
async fn with_sqlite<F, Fut>(case: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("aegis.db").display());
    let store = SqliteStore::open(&url).await.unwrap();
    case(Arc::new(store)).await;
}

/// Runs a case on a fresh PostgreSQL schema, dropped afterwards even if the case fails.
async fn with_postgres<F, Fut>(case: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(url) = postgres_test_url() else {
        eprintln!("skipping PostgreSQL");
        return;
    };
    let (store, schema) = isolated_postgres(&url).await.unwrap();
    let outcome = tokio::spawn(case(Arc::new(store))).await;
    drop_schema(&url, &schema).await.unwrap();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Runs a PostgreSQL-only case on a fresh schema, dropped afterwards even if the
/// case fails: the store, and the options of a connection to the same schema (to
/// look at or write the tables as another client would). Skipped without a server.
pub(crate) async fn with_postgres_schema<F, Fut>(case: F)
where
    F: FnOnce(aegis_store::PgStore, sqlx::postgres::PgConnectOptions) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    use std::str::FromStr;

    let Some(url) = postgres_test_url() else {
        eprintln!("skipping PostgreSQL");
        return;
    };
    let (store, schema) = isolated_postgres(&url).await.unwrap();
    let options = sqlx::postgres::PgConnectOptions::from_str(&url)
        .unwrap()
        .options([("search_path", schema.as_str())]);
    let outcome = tokio::spawn(case(store, options)).await;
    drop_schema(&url, &schema).await.unwrap();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// `ANALYZE users` on the schema of `options`, so that PostgreSQL plans with the
/// statistics of the users a case wrote.
pub(crate) async fn analyze_users(options: &sqlx::postgres::PgConnectOptions) {
    use sqlx::Connection;

    let mut conn = sqlx::PgConnection::connect_with(options).await.unwrap();
    sqlx::query("ANALYZE users")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}

/// Declares every case once per backend.
macro_rules! contract {
    ($($module:ident :: $case:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    crate::with_sqlite(crate::$module::$case).await
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    crate::with_postgres(crate::$module::$case).await
                }
            )*
        }
    };
}

contract!(
    users::users_round_trip,
    users::identifiers_are_unique_across_each_other,
    users::username_may_equal_own_email,
    users::update_changes_only_given_fields,
    users::update_conflict_leaves_record_untouched,
    users::update_and_delete_unknown_user,
    users::delete_cascades,
    users::num_id_is_never_reused,
    users::logins_and_admin_count,
    users::password_set_at_and_phone,
    user_query::pages_walk_every_user_once,
    user_query::null_keys_sort_last_and_resume,
    user_query::every_operator_on_every_field,
    user_query::hostile_substrings_are_literal,
    user_query::never_and_unfit_values,
    user_query::page_and_total,
    groups::groups_round_trip_and_conflicts,
    groups::groups_list_by_name,
    groups::assignment_is_atomic_and_idempotent,
    groups::members_page_by_user_id,
    admin_guard::last_admin_is_kept,
    admin_guard::second_admin_allows_the_change,
    admin_guard::non_admins_are_not_guarded,
    admin_guard::concurrent_removals_keep_one_admin,
    listing::users_match_by_login_key,
    listing::hostile_literals_match_only_themselves,
    sessions::sessions_round_trip,
    sessions::revoke_one_session,
    sessions::revoke_user_sessions_except,
    sessions::active_sessions_are_counted,
    sessions::refresh_tokens_are_single_use,
    sessions::refresh_token_race_has_one_winner,
    session_list::sessions_list_only_live_with_their_users,
    session_list::sessions_pages_walk_every_order,
    session_list::sessions_filter_on_every_field,
    session_list::sessions_refuse_unfit_values_and_cursors,
    tokens::api_tokens_round_trip,
    tokens::api_tokens_list_order_and_filter,
    tokens::api_tokens_list_names_the_creator,
    tokens::signing_keys_round_trip,
    throttle::throttle_counts_and_restarts,
    throttle::throttle_lock,
    mfa::mfa_factors_round_trip_in_order,
    mfa::mfa_factors_enable_and_advance_monotonically,
    mfa::mfa_factor_step_race_has_one_winner,
    mfa::mfa_factors_delete_and_drop_pending,
    mfa::mfa_recovery_codes_are_single_use,
    mfa::mfa_recovery_code_race_has_one_winner,
    mfa::mfa_follows_user_deletion,
    mfa::mfa_passkey_credentials_are_updated_when_enabled,
    mfa::mfa_nonces_are_spent_once,
    login_codes::login_code_is_used_once,
    login_codes::login_code_race_has_one_winner,
    login_codes::login_code_expired_is_never_used,
    login_codes::login_code_follows_session_and_user_deletion,
    login_codes::login_code_session_gets_another_refresh_token,
    login_codes::login_code_purge_removes_only_what_ended,
    oidc::oidc_clients_round_trip,
    oidc::oidc_client_deletion_revokes_its_sessions,
    oidc::oidc_consents_round_trip_and_withdrawal,
    oidc::oidc_codes_are_used_once,
    oidc::oidc_code_race_has_one_winner,
    oidc::oidc_follows_user_deletion,
    oidc::oidc_sessions_end_with_their_browser_session,
    oidc::oidc_purge_removes_ended_codes,
    purge::purge_removes_only_what_ended,
    invalidations::publish_is_harmless,
    imports::import_sources_round_trip_and_purge,
    imports::import_jobs_are_claimed_once,
    imports::released_jobs_are_claimed_at_once,
    imports::import_batches_create_skip_and_report,
    imports::import_batch_needs_the_lease,
    imports::import_batches_commit_in_turn,
    imports::created_rows_are_read_in_pages,
    users::nul_in_a_lookup_is_bad_input,
);

/// A change published by one instance reaches another sharing the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_publish_reaches_other_instances() {
    let Some(url) = postgres_test_url() else {
        eprintln!("skipping PostgreSQL");
        return;
    };
    let (first, schema) = isolated_postgres(&url).await.unwrap();
    let outcome = tokio::spawn({
        let url = url.clone();
        let schema = schema.clone();
        async move {
            let second = open_schema(&url, &schema).await.unwrap();
            let mut changes = second
                .subscribe()
                .expect("PostgreSQL carries invalidations");
            let sent = Invalidation::User(Uuid::now_v7());
            first.publish(&sent).await.unwrap();
            // Other suites share the server and channel, so skip their changes.
            let received = tokio::time::timeout(Duration::from_secs(5), async {
                loop {
                    match changes.recv().await {
                        Ok(change) if change == sent => return,
                        Ok(_) => {}
                        Err(e) => panic!("subscription ended: {e}"),
                    }
                }
            })
            .await;
            assert!(received.is_ok(), "no invalidation within 5 s");
        }
    })
    .await;
    drop_schema(&url, &schema).await.unwrap();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
