//! `clx`: move content in and out of vCenter Content Library items.
//!
//! A thin binary over `cl-sdk`. Every command needs a vCenter (`--url`, `CLX_URL`, `GOVC_URL`)
//! but `clx demo`, which runs the `cl-sim` simulator in-process without one and says so, and
//! `clx sim`, which serves it.

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};
use commands::Ctx;
use output::Failure;

mod args;
mod builtin;
mod commands;
mod connect;
mod output;
mod progress;
mod report;
mod resolve;
mod signals;

#[tokio::main]
async fn main() -> ExitCode {
    // Colour only for a person at a terminal, and never when NO_COLOR is set (no-color.org).
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("CLX_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .init();
    let cli = Cli::parse();
    let json_out = cli.json;
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            // A canceled transfer exits as its signal asks (130 for Ctrl-C, 143 for SIGTERM).
            let code = match signals::exit_code() {
                Some(signal) if f.code == output::EXIT_CANCELED => signal,
                _ => f.code,
            };
            output::print_failure(json_out, &f, code);
            ExitCode::from(code)
        }
    }
}

/// Dispatches to the command's module.
async fn run(cli: Cli) -> Result<(), Failure> {
    match &cli.command {
        Command::Sim(args) => return builtin::serve(args.clone()).await,
        Command::Check(args) => return commands::check::run(args, cli.json).await,
        Command::Publish(args) => return commands::publish::run(args, cli.json).await,
        Command::Upload(args) => commands::check::before_upload(args, cli.json).await?,
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(*shell, &mut Cli::command(), "clx", &mut std::io::stdout());
            return Ok(());
        }
        _ => {}
    }
    signals::install();
    progress::set_mode(cli.progress);
    let target = connect::connect(&cli, matches!(cli.command, Command::Demo(_))).await?;
    let ctx = Ctx { client: &target.client, cli: &cli, json: cli.json, transfer: &cli.transfer };
    match &cli.command {
        Command::Login => commands::login::run(&ctx).await,
        Command::Library(command) => commands::library::run(command, &ctx).await,
        Command::Item(command) => commands::item::run(command, &ctx).await,
        Command::Upload(args) => commands::upload::run(args, &ctx).await,
        Command::Download(args) => commands::download::run(args, &ctx).await,
        Command::Copy(args) => commands::copy::run(args, &ctx).await,
        Command::Session(command) => commands::session::run(command, &ctx).await,
        Command::Datastore(command) => commands::datastore::run(command, &ctx).await,
        Command::Demo(args) => commands::demo::run(args, &ctx).await,
        Command::Sim(_) | Command::Check(_) | Command::Publish(_) | Command::Completions { .. } => {
            unreachable!("handled above")
        }
    }
}
