//! Installed apps (Stripe accounts, secrets encrypted), customers' app data, stored Checkout
//! Sessions and processed webhook events.

use sea_orm_migration::prelude::*;

use crate::run_statements;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    r#"CREATE TABLE apps (
        id TEXT{C} NOT NULL PRIMARY KEY,
        namespace TEXT{C} NOT NULL,
        app_type TEXT NOT NULL,
        name TEXT NOT NULL,
        description TEXT NULL,
        metadata TEXT NOT NULL,
        status TEXT NOT NULL,
        is_default BOOLEAN NOT NULL,
        stripe_account_id TEXT{C} NOT NULL,
        livemode BOOLEAN NOT NULL,
        masked_api_key TEXT NOT NULL,
        api_key_ciphertext TEXT NULL,
        webhook_endpoint_id TEXT NULL,
        webhook_url TEXT NULL,
        webhook_secret_ciphertext TEXT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        deleted_at BIGINT NULL
    )"#,
    // One installation per Stripe account and mode in a namespace.
    "CREATE UNIQUE INDEX apps_live_account ON apps (namespace, stripe_account_id, livemode) WHERE deleted_at IS NULL",
    // At most one default app per namespace.
    "CREATE UNIQUE INDEX apps_live_default ON apps (namespace) WHERE deleted_at IS NULL AND is_default",
    "CREATE INDEX apps_ns_created ON apps (namespace, created_at, id)",
    r#"CREATE TABLE customer_apps (
        id TEXT{C} NOT NULL PRIMARY KEY,
        namespace TEXT{C} NOT NULL,
        customer_id TEXT{C} NOT NULL,
        app_id TEXT{C} NOT NULL,
        stripe_customer_id TEXT{C} NOT NULL,
        stripe_default_payment_method_id TEXT NULL,
        default_payment_method_event_created BIGINT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        deleted_at BIGINT NULL
    )"#,
    // One entry per customer and app; one patron customer per Stripe customer and app.
    "CREATE UNIQUE INDEX customer_apps_live_customer ON customer_apps (app_id, customer_id) WHERE deleted_at IS NULL",
    "CREATE UNIQUE INDEX customer_apps_live_stripe_customer ON customer_apps (app_id, stripe_customer_id) WHERE deleted_at IS NULL",
    "CREATE INDEX customer_apps_ns_customer ON customer_apps (namespace, customer_id)",
    r#"CREATE TABLE checkout_sessions (
        session_id TEXT{C} NOT NULL PRIMARY KEY,
        namespace TEXT{C} NOT NULL,
        app_id TEXT{C} NOT NULL,
        customer_id TEXT{C} NOT NULL,
        stripe_customer_id TEXT NOT NULL,
        setup_intent_id TEXT NULL,
        status TEXT NOT NULL,
        ui_mode TEXT NOT NULL,
        url TEXT NULL,
        client_secret_ciphertext TEXT NULL,
        currency TEXT NULL,
        success_url TEXT NULL,
        cancel_url TEXT NULL,
        return_url TEXT NULL,
        client_reference_id TEXT NULL,
        customer_email TEXT NULL,
        metadata TEXT NOT NULL,
        request_id TEXT NULL,
        expires_at BIGINT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
    )"#,
    "CREATE INDEX checkout_sessions_ns_created ON checkout_sessions (namespace, created_at, session_id)",
    "CREATE INDEX checkout_sessions_ns_customer ON checkout_sessions (namespace, customer_id, created_at)",
    // Stripe events already processed, per app (each event id at most once).
    r#"CREATE TABLE webhook_events (
        app_id TEXT{C} NOT NULL,
        event_id TEXT{C} NOT NULL,
        event_type TEXT NOT NULL,
        event_created BIGINT NOT NULL,
        processed_at BIGINT NOT NULL,
        PRIMARY KEY (app_id, event_id)
    )"#,
];

const DOWN: &[&str] = &[
    "DROP TABLE webhook_events",
    "DROP TABLE checkout_sessions",
    "DROP TABLE customer_apps",
    "DROP TABLE apps",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_statements(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_statements(manager, DOWN).await
    }
}
