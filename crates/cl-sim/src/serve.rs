//! The simulator as a program of its own: its flags and its serve loop, one definition for the
//! `cl-sim` binary and `clx sim`.

use std::net::SocketAddr;
use std::time::Duration;

/// The flags of a simulator run on its own, shared by the `cl-sim` binary and `clx sim`.
///
/// Prints the URL, credentials and certificate thumbprint it serves with, then serves until
/// interrupted. Fault flags apply to the first matching requests after start.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8989")]
    pub listen: SocketAddr,
    /// Serve plain HTTP instead of HTTPS.
    #[arg(long)]
    pub http: bool,
    /// User name to accept.
    #[arg(long, env = "CL_SIM_USERNAME", default_value = "administrator@vsphere.local")]
    pub username: String,
    /// Password to accept.
    #[arg(long, env = "CL_SIM_PASSWORD", default_value = "cl-sim-password", hide_default_value = true)]
    pub password: String,
    /// Time from prepare to PREPARED, e.g. 500ms or 2s.
    #[arg(long, default_value = "100ms", value_parser = parse_duration)]
    pub prepare_delay: Duration,
    /// Idle lifetime of download and update sessions.
    #[arg(long, default_value = "300s", value_parser = parse_duration)]
    pub session_timeout: Duration,
    /// Idle lifetime of API sessions.
    #[arg(long, default_value = "1800s", value_parser = parse_duration)]
    pub api_session_timeout: Duration,
    /// Write the CA certificate (PEM) that signed the server certificate to this file.
    #[arg(long)]
    pub ca_out: Option<std::path::PathBuf>,
    /// Fault: add this latency to every request.
    #[arg(long, value_parser = parse_duration)]
    pub latency: Option<Duration>,
    /// Fault: answer the first N requests with 503 ServiceUnavailable.
    #[arg(long, value_name = "N")]
    pub fail_first: Option<u32>,
    /// Fault: cut the first transfer's connection after N bytes.
    #[arg(long, value_name = "BYTES")]
    pub drop_after: Option<u64>,
    /// Fault: flip the byte at this offset of the first download.
    #[arg(long, value_name = "OFFSET")]
    pub corrupt_at: Option<u64>,
    /// Fault: pause the first transfer, as BYTES:DURATION (e.g. 1048576:10s).
    #[arg(long, value_parser = parse_stall)]
    pub stall: Option<(u64, Duration)>,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{text:?} is not a duration like 500ms, 10s or 5m: {e}"))
}

fn parse_stall(text: &str) -> Result<(u64, Duration), String> {
    let (bytes, pause) = text.split_once(':').ok_or_else(|| format!("{text:?} is not BYTES:DURATION"))?;
    Ok((bytes.parse().map_err(|_| format!("{bytes:?} is not a byte count"))?, parse_duration(pause)?))
}

/// Starts a simulator as `args` say, prints how to reach it (`CL_SIM_*` lines on stdout, the URL
/// last) and serves until Ctrl-C or SIGTERM.
pub async fn serve(args: ServeArgs) -> Result<(), Box<dyn std::error::Error>> {
    let mut config = crate::SimConfig { listen: args.listen, tls: !args.http, ..Default::default() };
    config.service.username = args.username;
    config.service.password = args.password;
    config.service.prepare_delay = args.prepare_delay;
    config.service.session_timeout = args.session_timeout;
    config.service.api_session_timeout = args.api_session_timeout;
    let sim = crate::Simulator::start(config).await?;

    let faults = sim.faults();
    if let Some(latency) = args.latency {
        faults.set_latency(latency);
    }
    if let Some(n) = args.fail_first {
        faults.fail_next(n);
    }
    if let Some(bytes) = args.drop_after {
        faults.drop_next_transfer_after(bytes);
    }
    if let Some(offset) = args.corrupt_at {
        faults.corrupt_next_download_at(offset);
    }
    if let Some((bytes, pause)) = args.stall {
        faults.stall_next_transfer(bytes, pause);
    }

    println!("CL_SIM_USERNAME={}", sim.username());
    // The simulator's own test credentials: printing them is the point.
    println!("CL_SIM_PASSWORD={}", sim.password());
    println!("CL_SIM_DATASTORE={}", crate::DATASTORE_ID);
    println!("CL_SIM_DATASTORE_NAME={}", crate::DATASTORE_NAME);
    if let Some(thumbprint) = sim.thumbprint_sha1() {
        println!("CL_SIM_THUMBPRINT_SHA1={thumbprint}");
    }
    if let (Some(path), Some(pem)) = (&args.ca_out, sim.ca_pem()) {
        std::fs::write(path, pem)?;
        println!("CL_SIM_CA={}", path.display());
    }
    // Last, so whoever waits for the URL has read every other line.
    println!("CL_SIM_URL={}", sim.url());
    interrupted().await?;
    sim.shutdown().await;
    Ok(())
}

async fn interrupted() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! { r = tokio::signal::ctrl_c() => r, _ = term.recv() => Ok(()) }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_stalls_parse() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("3x").is_err());
        assert_eq!(parse_stall("1024:2s"), Ok((1024, Duration::from_secs(2))));
        assert!(parse_stall("1024").is_err());
    }
}
