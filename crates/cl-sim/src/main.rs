//! `cl-sim`: run the Content Library transfer simulator on its own, to test automation offline.

use clap::Parser;

/// A faithful simulator of the vCenter Content Library item transfer service (`/api` and `/rest`).
#[derive(Parser, Debug)]
#[command(name = "cl-sim", version)]
struct Cli {
    #[command(flatten)]
    args: cl_sim::serve::ServeArgs,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("CL_SIM_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    cl_sim::serve::serve(Cli::parse().args).await
}
