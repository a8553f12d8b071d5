//! `switchboard`: run one node. See `switchboard --help` and docs/operations.md.

use std::sync::Arc;

use clap::Parser;
use switchboard::clock::SystemClock;
use switchboard::config::{Cli, Config};
use switchboard::server::{self, DEMO_ADMIN_EMAIL, DEMO_AGENT_EMAIL, DEMO_PASSWORD, DEMO_SITE_KEY};

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.log_json {
        builder.json().with_current_span(true).init();
    } else {
        builder.init();
    }
}

/// SIGTERM or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            tracing::warn!("cannot listen for signals; stop the node with SIGKILL");
            std::future::pending::<()>().await;
        }
    }
}

fn main() -> std::process::ExitCode {
    let mut cli = Cli::parse();
    let command = cli.command.take();
    let config = match Config::from_cli(cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("switchboard: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    init_logging(&config);
    if let Some(command) = command {
        // `switchboard site ...` and friends: work on the store and exit.
        return switchboard::cli::run(command, config);
    }
    let demo = config.demo;
    let tls = config.tls_cert.is_some();
    let result = actix::System::new().block_on(async move {
        let started = server::start(config, Arc::new(SystemClock)).await?;
        let scheme = if tls { "https" } else { "http" };
        let url = format!("{scheme}://{}", started.addr);
        // Tests and scripts read this first line to find the port.
        println!("switchboard listening on {url}");
        if demo {
            println!("  demo customer page: {url}/demo");
            println!("  agent console:      {url}/console");
            println!("  log in as {DEMO_AGENT_EMAIL} or {DEMO_ADMIN_EMAIL} (admin), password {DEMO_PASSWORD}; site key {DEMO_SITE_KEY}");
        }
        let mut started = started;
        let fate = {
            let cluster = started.hub.cluster.get().cloned();
            async move {
                match cluster {
                    Some(cluster) => cluster.membership.fate().await,
                    None => std::future::pending().await,
                }
            }
        };
        let result = tokio::select! {
            result = &mut started.server => result,
            () = shutdown_signal() => {
                tracing::info!("shutting down: draining");
                started.drain().await;
                (&mut started.server).await
            }
            fate = fate => {
                // Another node declared this one dead (or a newer life of it started): its
                // shards are gone. Exit; the supervisor starts a new life.
                tracing::error!(?fate, "this node's life is over; exiting");
                std::process::exit(3);
            }
        };
        started.finish();
        result
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchboard: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
