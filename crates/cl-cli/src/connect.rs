//! Reaching the server: a configured vCenter (flags, `CLX_*` and `GOVC_*` variables), or the
//! built-in simulator.

use cl_sdk::{Client, Dialect};

use crate::args::{Cli, DialectArg};
use crate::output::{Failure, usage};

/// The server clx talks to: a configured vCenter, or the simulator it started.
pub struct Target {
    pub client: Client,
    /// Keeps the embedded simulator running.
    _sim: Option<crate::builtin::Simulator>,
}

pub fn env_any(names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
}

/// How to reach one vCenter: what the flags and variables say.
pub struct Server<'a> {
    /// The URL (may carry `user:password@`).
    pub url: String,
    pub username: Option<String>,
    /// The password's variables, first found wins (before the URL's).
    pub password_vars: &'a [&'a str],
    pub insecure: bool,
    pub ca_cert: Option<&'a std::path::Path>,
    pub thumbprint: Option<&'a str>,
    /// The flags' names, for messages (`--` or `--to-`).
    pub flags: &'a str,
}

/// Connects to the configured vCenter; without one, starts the built-in simulator when
/// `builtin` allows (only `clx demo`), and otherwise says how to name a server.
pub async fn connect(cli: &Cli, builtin: bool) -> Result<Target, Failure> {
    let url = cli.url.clone().or_else(|| env_any(&["GOVC_URL"]));
    let Some(url) = url else {
        if !builtin {
            return Err(usage(
                "no vCenter given: pass --url (or set CLX_URL or GOVC_URL); to try clx offline, run `clx sim` \
                 and point --url at the URL it prints, or run `clx demo`",
            ));
        }
        return connect_builtin(cli).await;
    };
    let insecure =
        cli.insecure || env_any(&["GOVC_INSECURE"]).is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    let server = Server {
        url,
        username: cli.username.clone().or_else(|| env_any(&["GOVC_USERNAME"])),
        password_vars: &["CLX_PASSWORD", "GOVC_PASSWORD"],
        insecure,
        ca_cert: cli.ca_cert.as_deref(),
        thumbprint: cli.thumbprint.as_deref(),
        flags: "--",
    };
    Ok(Target { client: connect_to(&server, cli).await?, _sim: None })
}

/// Logs in to `server` with the transfer knobs and dialect of `cli`.
pub async fn connect_to(server: &Server<'_>, cli: &Cli) -> Result<Client, Failure> {
    let url = &server.url;
    let mut parsed =
        reqwest::Url::parse(if url.contains("://") { url.clone() } else { format!("https://{url}") }.as_str())
            .map_err(|e| usage(format!("{:?} is not a URL: {e}", cl_sdk::redact_url(url))))?;
    // user:password@ in a URL are percent-encoded (administrator%40vsphere.local).
    let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
    let url_user = (!parsed.username().is_empty()).then(|| decode(parsed.username()));
    let url_password = parsed.password().map(decode);
    let _ = parsed.set_username("");
    let _ = parsed.set_password(None);
    parsed.set_path("");
    let base = parsed.as_str().trim_end_matches('/').to_owned();
    let username = server.username.clone().or(url_user);
    let password = env_any(server.password_vars).or(url_password);
    let (Some(username), Some(password)) = (username, password) else {
        let flags = server.flags;
        let vars = server.password_vars.join(" or ");
        return Err(usage(format!(
            "give {base} a user name ({flags}username, or user@ in the URL) and a password ({vars})"
        )));
    };
    let mut builder = settings(Client::builder(&base), cli).credentials(&username, &password);
    if server.insecure {
        builder = builder.danger_accept_invalid_certificates(true);
    }
    if let Some(path) = server.ca_cert {
        let flag = format!("{}ca-cert", server.flags);
        let pem = std::fs::read_to_string(path).map_err(|e| usage(format!("{flag} {}: {e}", path.display())))?;
        builder = builder.add_ca_pem(&pem);
    }
    if let Some(thumbprint) = server.thumbprint {
        builder = builder.pin_thumbprint(thumbprint);
    }
    builder = match cli.dialect {
        DialectArg::Auto => builder,
        DialectArg::Api => builder.dialect(Dialect::Api),
        DialectArg::Rest => builder.dialect(Dialect::Rest),
    };
    Ok(builder.connect().await?)
}

/// Starts the built-in simulator in-process and connects to it.
#[cfg(feature = "sim")]
async fn connect_builtin(cli: &Cli) -> Result<Target, Failure> {
    let sim = cl_sim::Simulator::start(cl_sim::SimConfig::default())
        .await
        .map_err(|e| crate::output::fail(format!("could not start the built-in simulator: {e}")))?;
    eprintln!("clx: no vCenter configured (--url, CLX_URL or GOVC_URL); using the built-in simulator at {}", sim.url());
    let mut builder = settings(Client::builder(sim.url()), cli).credentials(sim.username(), sim.password());
    if let Some(ca) = sim.ca_pem() {
        builder = builder.add_ca_pem(ca);
    }
    let client = builder.connect().await?;
    Ok(Target { client, _sim: Some(sim) })
}

/// Without the `sim` feature there is no built-in simulator: say how to get one.
#[cfg(not(feature = "sim"))]
async fn connect_builtin(_cli: &Cli) -> Result<Target, Failure> {
    Err(usage(crate::builtin::MISSING))
}

/// The knobs that live on the client: the API calls' retries and the stall timeout (a file's
/// retries go with each transfer's options).
fn settings(builder: cl_sdk::ClientBuilder, cli: &Cli) -> cl_sdk::ClientBuilder {
    let retry = cl_sdk::RetryPolicy::default().max_attempts(cli.transfer.call_retries.saturating_add(1));
    builder.retry(retry).stall_timeout(cli.transfer.stall_timeout)
}
