//! The `patron` binary.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use patron::app::{Application, open_store};
use patron::config::{Settings, SettingsInput};

/// mimalloc instead of glibc malloc: under load a gRPC call allocates and frees many small
/// buffers across threads, where glibc's arenas spent a third of the server's CPU (see
/// BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// patron: customers of a usage-billing platform, connected to Stripe, over gRPC.
#[derive(Parser, Debug)]
#[command(name = "patron", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    settings: SettingsInput,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve gRPC and HTTP until SIGTERM or SIGINT (the default).
    Serve,
    /// Apply the database migrations and exit.
    Migrate,
    /// Print the version and exit.
    Version,
    /// API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Print a new API key for a namespace and the `namespace:sha256hex` entry to configure
    /// (PATRON_API_KEYS / PATRON_API_KEYS_FILE hold only the entry, never the key).
    New {
        /// The namespace the key acts for.
        #[arg(long)]
        namespace: String,
    },
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called, not when the
/// future is first polled, so a signal that arrives right after the "listening" lines still stops
/// the server gracefully instead of killing it.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let handlers = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        );
        async move {
            match handlers {
                (Ok(mut term), Ok(mut interrupt)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = interrupt.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// SIGHUP, installed before the server starts: from then on SIGHUP never stops the process (its
/// default action would); each one re-reads the API keys file.
#[cfg(unix)]
fn reload_signal() -> Option<tokio::signal::unix::Signal> {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::hangup()) {
        Ok(hup) => Some(hup),
        Err(e) => {
            tracing::warn!(error = %e, "cannot handle SIGHUP: API keys reload only by file change");
            None
        }
    }
}

async fn serve(settings: Settings) -> ExitCode {
    let signal = shutdown_signal();
    #[cfg(unix)]
    let hangup = reload_signal();
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            eprintln!("patron: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    #[cfg(unix)]
    if let Some(mut hangup) = hangup {
        let reload = app.reload_handle();
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                tracing::info!("SIGHUP: re-reading the API keys file");
                reload.reload();
            }
        });
    }
    let shutdown = app.shutdown_handle();
    tokio::spawn(async move {
        signal.await;
        tracing::info!("signal received");
        shutdown.shutdown();
    });
    app.run_until_stopped().await;
    ExitCode::SUCCESS
}

async fn migrate(settings: Settings) -> ExitCode {
    match open_store(&settings, true).await {
        Ok(store) => {
            tracing::info!("migrations applied");
            store.close().await;
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("patron: migrate failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    match runtime() {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("patron: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The runtime: tokio's multi-threaded scheduler, one worker per core (`TOKIO_WORKER_THREADS`
/// overrides), as `#[tokio::main]` builds it, but without the LIFO slot when the build has
/// `--cfg tokio_unstable` (set in `.cargo/config.toml`; the option is unstable in tokio).
///
/// With the slot, a task woken by the running task runs right after it. A call's task wakes its
/// HTTP/2 connection's task when it queues its response, so that connection task ran, and wrote to
/// its socket, once per answered call: the calls a merged PostgreSQL read answers together were
/// written one system call each. Without the slot, woken tasks run in the order they were woken:
/// the answered calls queue their responses first and the connection task writes them together
/// (GetCustomer on PostgreSQL, 32 concurrent, the same build with the slot and without: 0.85-0.90
/// -> 0.28-0.29 writes per call, CPU per call about -20 %, calls per second about +15 %;
/// BENCHMARKS.md, issue 15's seventh round).
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    #[cfg(tokio_unstable)]
    builder.disable_lifo_slot();
    builder.build()
}

async fn run() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Some(Command::Version)) {
        println!("patron {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    if let Some(Command::Keys {
        command: KeysCommand::New { namespace },
    }) = &cli.command
    {
        if let Err(e) = patron::config::parse_api_keys(
            "--namespace",
            &format!("{namespace}:{}", "0".repeat(64)),
        ) {
            eprintln!("patron: {e}");
            return ExitCode::from(2);
        }
        let (key, entry) = patron::grpc::auth::new_key(namespace);
        println!("api key (give it to the caller; it is not stored): {key}");
        println!("config entry (PATRON_API_KEYS or one line of PATRON_API_KEYS_FILE): {entry}");
        return ExitCode::SUCCESS;
    }
    let settings = match Settings::resolve(cli.settings) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("patron: {e}");
            return ExitCode::from(2);
        }
    };
    let _telemetry = patron::telemetry::init(settings.log_format);
    match cli.command {
        Some(Command::Migrate) => {
            // Migrations may legitimately run longer than any call's statement.
            let mut settings = settings;
            settings.limits.db_statement_timeout = std::time::Duration::ZERO;
            migrate(settings).await
        }
        _ => serve(settings).await,
    }
}
