//! `clx`: move content in and out of vCenter Content Library items.
//!
//! A thin binary over `cl-sdk`. With no vCenter configured it runs the `cl-sim` simulator
//! in-process and says so, so every command (and `clx demo`) works out of the box.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use cl_sdk::transfer::{DownloadOptions, TransferControl, UploadFile, UploadOptions};
use cl_sdk::types::ChecksumAlgorithm;
use cl_sdk::{Client, Dialect, ErrorKind};
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;

mod progress;

/// Exit codes: usage errors are clap's 2.
const EXIT_FAILURE: u8 = 1;
const EXIT_SERVER: u8 = 3;
const EXIT_VERIFICATION: u8 = 4;
const EXIT_CANCELED: u8 = 130;

#[derive(Parser, Debug)]
#[command(name = "clx", version, about = "Move content in and out of vCenter Content Library items.")]
struct Cli {
    /// vCenter URL (https://host); may carry user:password@. Without one, clx runs the built-in simulator.
    #[arg(long, global = true, env = "CLX_URL")]
    url: Option<String>,
    /// User name (also CLX_USERNAME or GOVC_USERNAME).
    #[arg(long, global = true, env = "CLX_USERNAME")]
    username: Option<String>,
    /// Trust any server certificate (test servers only; also GOVC_INSECURE=1).
    #[arg(long, global = true)]
    insecure: bool,
    /// Also trust the CA certificates in this PEM file.
    #[arg(long, global = true, value_name = "PEM")]
    ca_cert: Option<PathBuf>,
    /// Trust the server iff its certificate has this SHA-1 or SHA-256 thumbprint.
    #[arg(long, global = true)]
    thumbprint: Option<String>,
    /// API dialect.
    #[arg(long, global = true, value_enum, default_value = "auto")]
    dialect: DialectArg,
    /// Print results as JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum DialectArg {
    Auto,
    Api,
    Rest,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check the login and show the user and dialect.
    Login,
    /// Libraries.
    #[command(subcommand)]
    Library(LibraryCommand),
    /// Items.
    #[command(subcommand)]
    Item(ItemCommand),
    /// Upload files (or an OVF folder, or an .ova) into an item.
    Upload {
        /// Files, folders (their files) or .ova archives.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Library name.
        #[arg(long)]
        library: String,
        /// Item name.
        #[arg(long)]
        item: String,
        /// Create the item if it does not exist (removed again if the upload fails).
        #[arg(long)]
        create: bool,
        /// Checksum algorithm computed and verified by the server.
        #[arg(long, value_enum, default_value = "sha256")]
        checksum: ChecksumArg,
    },
    /// Download an item's files into a folder.
    Download {
        /// LIBRARY/ITEM
        target: String,
        /// Destination folder (created if missing).
        #[arg(long)]
        to: PathBuf,
        /// Replace files that already exist.
        #[arg(long)]
        overwrite: bool,
    },
    /// Transfer sessions.
    #[command(subcommand)]
    Session(SessionCommand),
    /// Run the simulator in the foreground.
    Sim(cl_sim::serve::ServeArgs),
    /// Upload a generated OVF set to the target (the simulator by default), download it back and verify every byte.
    Demo {
        /// Size of each generated disk, MiB.
        #[arg(long, default_value_t = 16)]
        disk_mib: u64,
    },
}

#[derive(Subcommand, Debug)]
enum LibraryCommand {
    /// List libraries.
    Ls,
    /// Create a local library.
    Create {
        name: String,
        /// Datastore id (required on vCenter; any id works on the simulator).
        #[arg(long)]
        datastore: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum ItemCommand {
    /// List a library's items.
    Ls { library: String },
    /// Show an item and its files.
    Info {
        /// LIBRARY/ITEM
        target: String,
    },
}

#[derive(Subcommand, Debug)]
enum SessionCommand {
    /// List download and update sessions.
    Ls,
    /// Cancel a session.
    Cancel { id: String },
    /// Delete a session.
    Rm { id: String },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ChecksumArg {
    None,
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

/// An error worth a sentence and an exit code.
struct Failure {
    message: String,
    code: u8,
}

impl From<cl_sdk::Error> for Failure {
    fn from(e: cl_sdk::Error) -> Self {
        let hint = match e.kind() {
            ErrorKind::Unauthenticated => " Check the user name and password (CLX_USERNAME, CLX_PASSWORD).",
            ErrorKind::Tls => " Pass --ca-cert or --thumbprint to trust this server (or --insecure for a test server).",
            ErrorKind::Transport => " Check the URL and that the server is reachable.",
            ErrorKind::NotFound => " Check the names with `clx library ls` and `clx item ls`.",
            ErrorKind::ResourceBusy => " Another update of this item is running; try again when it is done.",
            _ => "",
        };
        let code = match e.kind() {
            ErrorKind::Verification | ErrorKind::UnsafePath => EXIT_VERIFICATION,
            ErrorKind::Canceled => EXIT_CANCELED,
            ErrorKind::InvalidInput | ErrorKind::Io => EXIT_FAILURE,
            _ => EXIT_SERVER,
        };
        Failure { message: format!("{e}.{hint}"), code }
    }
}

fn fail(message: impl Into<String>) -> Failure {
    Failure { message: message.into(), code: EXIT_FAILURE }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("CLX_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("clx: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

/// The server clx talks to: a configured vCenter, or the simulator it started.
struct Target {
    client: Client,
    /// Keeps the embedded simulator running.
    _sim: Option<cl_sim::Simulator>,
    simulated: bool,
}

fn env_any(names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
}

async fn connect(cli: &Cli) -> Result<Target, Failure> {
    let url = cli.url.clone().or_else(|| env_any(&["GOVC_URL"]));
    let Some(url) = url else {
        let sim = cl_sim::Simulator::start(cl_sim::SimConfig::default())
            .await
            .map_err(|e| fail(format!("could not start the built-in simulator: {e}")))?;
        eprintln!(
            "clx: no vCenter configured (--url, CLX_URL or GOVC_URL); using the built-in simulator at {}",
            sim.url()
        );
        let client = Client::builder(sim.url())
            .credentials(sim.username(), sim.password())
            .add_ca_pem(sim.ca_pem().expect("the simulator serves HTTPS"))
            .connect()
            .await?;
        return Ok(Target { client, _sim: Some(sim), simulated: true });
    };
    let mut parsed =
        reqwest::Url::parse(if url.contains("://") { url.clone() } else { format!("https://{url}") }.as_str())
            .map_err(|e| fail(format!("{url:?} is not a URL: {e}")))?;
    // user:password@ in a URL are percent-encoded (administrator%40vsphere.local).
    let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
    let url_user = (!parsed.username().is_empty()).then(|| decode(parsed.username()));
    let url_password = parsed.password().map(decode);
    let _ = parsed.set_username("");
    let _ = parsed.set_password(None);
    parsed.set_path("");
    let base = parsed.as_str().trim_end_matches('/').to_owned();
    let username = cli.username.clone().or_else(|| env_any(&["GOVC_USERNAME"])).or(url_user);
    let password = env_any(&["CLX_PASSWORD", "GOVC_PASSWORD"]).or(url_password);
    let (Some(username), Some(password)) = (username, password) else {
        return Err(fail("give a user name (--username, CLX_USERNAME) and a password (CLX_PASSWORD)"));
    };
    let mut builder = Client::builder(&base).credentials(&username, &password);
    let insecure =
        cli.insecure || env_any(&["GOVC_INSECURE"]).is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    if insecure {
        builder = builder.danger_accept_invalid_certificates(true);
    }
    if let Some(path) = &cli.ca_cert {
        let pem = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
        builder = builder.add_ca_pem(&pem);
    }
    if let Some(thumbprint) = &cli.thumbprint {
        builder = builder.pin_thumbprint(thumbprint);
    }
    builder = match cli.dialect {
        DialectArg::Auto => builder,
        DialectArg::Api => builder.dialect(Dialect::Api),
        DialectArg::Rest => builder.dialect(Dialect::Rest),
    };
    Ok(Target { client: builder.connect().await?, _sim: None, simulated: false })
}

fn split_target(target: &str) -> Result<(&str, &str), Failure> {
    target
        .split_once('/')
        .filter(|(l, i)| !l.is_empty() && !i.is_empty())
        .ok_or_else(|| fail(format!("{target:?}: give LIBRARY/ITEM")))
}

/// A ctrl-c handler that cancels `control`.
fn cancel_on_interrupt(control: &TransferControl) {
    let control = control.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("clx: interrupted; canceling and cleaning up");
            control.cancel();
        }
    });
}

async fn run(cli: Cli) -> Result<(), Failure> {
    if let Command::Sim(args) = &cli.command {
        return cl_sim::serve::serve(args.clone()).await.map_err(|e| fail(format!("the simulator failed: {e}")));
    }
    let target = connect(&cli).await?;
    let client = &target.client;
    let json_out = cli.json;
    match &cli.command {
        Command::Login => {
            let user = client.session_user().await?;
            print(
                json_out,
                json!({"user": user, "dialect": client.dialect().to_string(), "url": client.url()}),
                || format!("logged in to {} as {user} over {}", client.url(), client.dialect()),
            );
        }
        Command::Library(LibraryCommand::Ls) => {
            let mut rows = Vec::new();
            for id in client.libraries().await? {
                let library = client.library(&id).await?;
                rows.push(json!({"id": id, "name": library.name, "type": library.type_.map(|t| t.to_string())}));
            }
            print(json_out, json!(rows), || {
                rows.iter()
                    .map(|r| format!("{}\t{}", r["name"].as_str().unwrap_or(""), r["id"].as_str().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Command::Library(LibraryCommand::Create { name, datastore }) => {
            let datastore = match (datastore, target.simulated) {
                (Some(d), _) => d.clone(),
                (None, true) => cl_sim::DATASTORE_ID.to_owned(),
                (None, false) => return Err(fail("give --datastore: the id of the datastore to back the library")),
            };
            let id = client.create_local_library(name, &datastore).await?;
            print(json_out, json!({"id": id, "name": name}), || format!("created library {name} ({id})"));
        }
        Command::Item(ItemCommand::Ls { library }) => {
            let library_id = client.find_library(library).await?;
            let mut rows = Vec::new();
            for id in client.items(&library_id).await? {
                let item = client.item(&id).await?;
                rows.push(json!({"id": id, "name": item.name, "type": item.type_, "size": item.size}));
            }
            print(json_out, json!(rows), || {
                rows.iter()
                    .map(|r| {
                        format!(
                            "{}\t{}\t{}",
                            r["name"].as_str().unwrap_or(""),
                            r["size"],
                            r["id"].as_str().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Command::Item(ItemCommand::Info { target: spec }) => {
            let (library, item) = split_target(spec)?;
            let id = client.find_item(&client.find_library(library).await?, item).await?;
            let model = client.item(&id).await?;
            let files = client.item_files(&id).await?;
            let value = json!({"id": id, "name": model.name, "type": model.type_, "size": model.size,
                "content_version": model.content_version, "files": files});
            print(json_out, value, || {
                let mut out =
                    format!("{item} ({id}), content version {}\n", model.content_version.as_deref().unwrap_or("?"));
                for f in &files {
                    let sum = f.checksum_info.as_ref().map(|c| c.checksum.as_str()).unwrap_or("-");
                    out.push_str(&format!("  {}\t{}\t{sum}\n", f.name, f.size.unwrap_or(0)));
                }
                out.trim_end().to_owned()
            });
        }
        Command::Upload { paths, library, item, create, checksum } => {
            let report = upload(client, paths, library, item, *create, *checksum, json_out).await?;
            print(json_out, report, String::new);
        }
        Command::Download { target: spec, to, overwrite } => {
            let (library, item) = split_target(spec)?;
            let id = client.find_item(&client.find_library(library).await?, item).await?;
            std::fs::create_dir_all(to).map_err(|e| fail(format!("cannot create {}: {e}", to.display())))?;
            let control = TransferControl::new();
            cancel_on_interrupt(&control);
            let bars = progress::show(&control, json_out);
            let mut options = DownloadOptions::default().control(control);
            if *overwrite {
                options = options.overwrite(cl_sdk::transfer::Overwrite::Always);
            }
            let report = client.download_item(&id, to, options).await;
            bars.finish().await;
            let report = report?;
            let files: Vec<_> = report.files.iter().map(|f| json!({"name": f.name, "path": f.path, "size": f.size,
                "checksum": f.verified_checksum.as_ref().map(|(a, h)| json!({"algorithm": a.to_string(), "checksum": h}))})).collect();
            let value =
                json!({"item": id, "files": files, "bytes": report.bytes(), "seconds": report.elapsed.as_secs_f64()});
            print(json_out, value, || summary("downloaded", report.files.len(), report.bytes(), report.elapsed));
        }
        Command::Session(SessionCommand::Ls) => {
            let downloads = client.download_sessions(None).await?;
            let updates = client.update_sessions(None).await?;
            let mut rows = Vec::new();
            for id in &downloads {
                let s = client.download_session(id).info().await?;
                rows.push(json!({"id": id, "kind": "download", "item": s.library_item_id, "state": s.state.map(|x| x.to_string())}));
            }
            for id in &updates {
                let s = client.update_session(id).info().await?;
                rows.push(json!({"id": id, "kind": "update", "item": s.library_item_id, "state": s.state.map(|x| x.to_string())}));
            }
            print(json_out, json!(rows), || {
                rows.iter()
                    .map(|r| {
                        format!(
                            "{}\t{}\t{}",
                            r["kind"].as_str().unwrap_or(""),
                            r["state"].as_str().unwrap_or(""),
                            r["id"].as_str().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Command::Session(SessionCommand::Cancel { id } | SessionCommand::Rm { id }) => {
            let cancel = matches!(cli.command, Command::Session(SessionCommand::Cancel { .. }));
            let kind = if client.download_sessions(None).await?.contains(id) {
                let s = client.download_session(id);
                if cancel {
                    s.cancel().await?
                } else {
                    s.delete().await?
                }
                "download"
            } else if client.update_sessions(None).await?.contains(id) {
                let s = client.update_session(id);
                if cancel {
                    s.cancel().await?
                } else {
                    s.delete().await?
                }
                "update"
            } else {
                return Err(Failure { message: format!("there is no session {id}"), code: EXIT_SERVER });
            };
            let done = if cancel { "canceled" } else { "deleted" };
            print(json_out, json!({"id": id, "kind": kind, "done": done}), || format!("{done} {kind} session {id}"));
        }
        Command::Demo { disk_mib } => demo(client, *disk_mib, json_out).await?,
        Command::Sim(_) => unreachable!("handled above"),
    }
    Ok(())
}

fn print(json_out: bool, value: serde_json::Value, text: impl FnOnce() -> String) {
    if json_out {
        println!("{value}");
    } else {
        let text = text();
        if !text.is_empty() {
            println!("{text}");
        }
    }
}

fn summary(what: &str, files: usize, bytes: u64, elapsed: Duration) -> String {
    let mib = bytes as f64 / (1024.0 * 1024.0);
    let rate = mib / elapsed.as_secs_f64().max(1e-6);
    format!("{what} {files} files, {mib:.1} MiB in {:.2} s ({rate:.1} MiB/s)", elapsed.as_secs_f64())
}

/// Expands folders into their files.
fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Failure> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            inside.sort();
            files.extend(inside);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

async fn upload(
    client: &Client,
    paths: &[PathBuf],
    library: &str,
    item: &str,
    create: bool,
    checksum: ChecksumArg,
    json_out: bool,
) -> Result<serde_json::Value, Failure> {
    let files: Vec<UploadFile> = expand(paths)?.into_iter().map(UploadFile::path).collect();
    let library_id = client.find_library(library).await?;
    let item_type = if paths.iter().any(|p| {
        let name = p.to_string_lossy().to_ascii_lowercase();
        name.ends_with(".ovf") || name.ends_with(".ova") || p.is_dir()
    }) {
        "ovf"
    } else if paths.iter().all(|p| p.to_string_lossy().to_ascii_lowercase().ends_with(".iso")) {
        "iso"
    } else {
        "file"
    };
    let algorithm = match checksum {
        ChecksumArg::None => None,
        ChecksumArg::Md5 => Some(ChecksumAlgorithm::Md5),
        ChecksumArg::Sha1 => Some(ChecksumAlgorithm::Sha1),
        ChecksumArg::Sha256 => Some(ChecksumAlgorithm::Sha256),
        ChecksumArg::Sha512 => Some(ChecksumAlgorithm::Sha512),
    };
    let control = TransferControl::new();
    cancel_on_interrupt(&control);
    let bars = progress::show(&control, json_out);
    let options = UploadOptions::default().checksum(algorithm).control(control);
    let result = match client.find_item(&library_id, item).await {
        Ok(id) => client.upload_item(&id, files, options).await,
        Err(e) if e.kind() == ErrorKind::NotFound && create => {
            client.upload_new_item(&library_id, item, item_type, files, options).await
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            bars.finish().await;
            return Err(Failure { message: format!("{e}. Pass --create to create the item."), code: EXIT_SERVER });
        }
        Err(e) => Err(e),
    };
    bars.finish().await;
    let report = result?;
    if !json_out {
        println!("{}", summary("uploaded", report.files.len(), report.bytes(), report.elapsed));
    }
    let files: Vec<_> =
        report.files.iter().map(|f| json!({"name": f.name, "size": f.size, "checksum": f.checksum})).collect();
    Ok(
        json!({"item": report.item_id, "files": files, "bytes": report.bytes(), "seconds": report.elapsed.as_secs_f64()}),
    )
}

/// Writes a small OVF set: descriptor, manifest and two disks of `disk_mib` MiB.
fn generate_ovf_set(dir: &Path, disk_mib: u64) -> std::io::Result<()> {
    use sha2::Digest;
    let mut manifest = String::new();
    let mut refs = String::new();
    for (i, seed) in [(0u8, 17u8), (1, 91)] {
        let name = format!("demo-disk{i}.vmdk");
        let mut bytes = vec![0u8; (disk_mib * 1024 * 1024) as usize];
        for (j, b) in bytes.iter_mut().enumerate() {
            *b = (j as u8).wrapping_mul(seed).wrapping_add((j >> 12) as u8);
        }
        std::fs::write(dir.join(&name), &bytes)?;
        manifest.push_str(&format!("SHA256({name})= {}\n", hex::encode(sha2::Sha256::digest(&bytes))));
        refs.push_str(&format!("    <File ovf:href=\"{name}\" ovf:id=\"file{i}\"/>\n"));
    }
    let ovf = format!("<?xml version=\"1.0\"?>\n<Envelope>\n  <References>\n{refs}  </References>\n</Envelope>\n");
    manifest.push_str(&format!("SHA256(demo.ovf)= {}\n", hex::encode(sha2::Sha256::digest(ovf.as_bytes()))));
    std::fs::write(dir.join("demo.ovf"), ovf)?;
    std::fs::write(dir.join("demo.mf"), manifest)
}

async fn demo(client: &Client, disk_mib: u64, json_out: bool) -> Result<(), Failure> {
    let work = tempfile::tempdir().map_err(|e| fail(format!("cannot make a work folder: {e}")))?;
    let (src, dest) = (work.path().join("upload"), work.path().join("download"));
    std::fs::create_dir_all(&src).and_then(|_| std::fs::create_dir_all(&dest)).map_err(|e| fail(e.to_string()))?;
    generate_ovf_set(&src, disk_mib).map_err(|e| fail(format!("cannot generate the demo files: {e}")))?;
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis();
    let library = match client.find_library("clx-demo").await {
        Ok(id) => id,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            client.create_local_library("clx-demo", cl_sim::DATASTORE_ID).await?
        }
        Err(e) => return Err(e.into()),
    };
    let item = format!("demo-{stamp}");
    let files: Vec<UploadFile> = expand(std::slice::from_ref(&src))?.into_iter().map(UploadFile::path).collect();
    let control = TransferControl::new();
    cancel_on_interrupt(&control);
    let bars = progress::show(&control, json_out);
    let up = client.upload_new_item(&library, &item, "ovf", files, UploadOptions::default().control(control)).await;
    bars.finish().await;
    let up = up?;

    let control = TransferControl::new();
    cancel_on_interrupt(&control);
    let bars = progress::show(&control, json_out);
    let down = client.download_item(&up.item_id, &dest, DownloadOptions::default().control(control)).await;
    bars.finish().await;
    let down = down?;

    // Every byte: each downloaded file equals its source (the manifest stays behind in the item's
    // session, as OVF manifests do).
    for f in &down.files {
        let original = std::fs::read(src.join(&f.name)).map_err(|e| fail(e.to_string()))?;
        let copy = std::fs::read(&f.path).map_err(|e| fail(e.to_string()))?;
        if original != copy {
            return Err(Failure {
                message: format!("{} differs after the round trip", f.name),
                code: EXIT_VERIFICATION,
            });
        }
    }
    let value = json!({
        "item": up.item_id,
        "uploaded": {"files": up.files.len(), "bytes": up.bytes(), "seconds": up.elapsed.as_secs_f64()},
        "downloaded": {"files": down.files.len(), "bytes": down.bytes(), "seconds": down.elapsed.as_secs_f64()},
        "verified": true,
    });
    print(json_out, value, || {
        format!(
            "{}\n{}\nverified: every downloaded byte matches the upload",
            summary("uploaded", up.files.len(), up.bytes(), up.elapsed),
            summary("downloaded", down.files.len(), down.bytes(), down.elapsed)
        )
    });
    Ok(())
}
