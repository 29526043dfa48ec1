//! Logging: JSON lines (or pretty on a terminal), level from PATRON_LOG or RUST_LOG.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// The filter used when neither PATRON_LOG nor RUST_LOG is set.
const DEFAULT_FILTER: &str = "info,sqlx::postgres::notice=warn,sea_orm_migration=warn";

/// Installs the global subscriber (once; later calls do nothing).
pub fn init(format: Option<LogFormat>) {
    let filter = std::env::var("PATRON_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new(DEFAULT_FILTER));
    let format = format.unwrap_or(if std::io::stderr().is_terminal() {
        LogFormat::Pretty
    } else {
        LogFormat::Json
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}
