//! The command line: global flags, commands and their arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "clx",
    version,
    about = "Move content in and out of vCenter Content Library items.",
    after_help = "Environment: CLX_URL, CLX_USERNAME, CLX_PASSWORD (or GOVC_URL, GOVC_USERNAME, GOVC_PASSWORD, \
                  GOVC_INSECURE); CLX_LOG sets the log filter (e.g. CLX_LOG=debug)."
)]
pub struct Cli {
    /// vCenter URL (https://host); may carry user:password@. Required but for `clx demo`, which runs the built-in simulator without one.
    #[arg(long, global = true, env = "CLX_URL", help_heading = "Connection")]
    pub url: Option<String>,
    /// User name (also CLX_USERNAME or GOVC_USERNAME).
    #[arg(long, global = true, env = "CLX_USERNAME", help_heading = "Connection")]
    pub username: Option<String>,
    /// Trust any server certificate (test servers only; also GOVC_INSECURE=1).
    #[arg(long, global = true, help_heading = "Connection")]
    pub insecure: bool,
    /// Also trust the CA certificates in this PEM file.
    #[arg(long, global = true, value_name = "PEM", help_heading = "Connection")]
    pub ca_cert: Option<PathBuf>,
    /// Trust the server iff its certificate has this SHA-1 or SHA-256 thumbprint.
    #[arg(long, global = true, help_heading = "Connection")]
    pub thumbprint: Option<String>,
    /// API dialect.
    #[arg(long, global = true, value_enum, default_value = "auto", help_heading = "Connection")]
    pub dialect: DialectArg,
    /// Print results as JSON.
    #[arg(long, global = true, help_heading = "Output")]
    pub json: bool,
    /// Progress of long commands on stderr: bars on a terminal (auto), one JSON object per
    /// line (json), or nothing (none).
    #[arg(long, global = true, value_enum, default_value = "auto", help_heading = "Output")]
    pub progress: ProgressArg,
    #[command(flatten)]
    pub transfer: TransferArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// The knobs of every transfer.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Transfer")]
pub struct TransferArgs {
    /// Files moved at once.
    #[arg(long, global = true, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// Times one file's transfer is repeated when it breaks (resumes and re-sends counted
    /// together); an attempt that moved bytes starts the count afresh.
    #[arg(long, global = true, default_value_t = 4)]
    pub retries: u32,
    /// Times one API call is repeated when the server was unavailable or its answer was lost.
    #[arg(long, global = true, default_value_t = 4)]
    pub call_retries: u32,
    /// How long the server may take to prepare a file for download (seconds, or 10m, 2h).
    #[arg(long, global = true, default_value = "1h", value_parser = parse_duration)]
    pub prepare_timeout: std::time::Duration,
    /// How long a transfer may go without a byte before it is resumed or sent again (seconds, or 30s, 2m).
    #[arg(long, global = true, default_value = "60s", value_parser = parse_duration)]
    pub stall_timeout: std::time::Duration,
    /// The most a whole transfer may take (seconds, or 90m, 4h; no limit by default).
    #[arg(long, global = true, value_parser = parse_duration)]
    pub deadline: Option<std::time::Duration>,
}

/// A duration as curl and wget take one: a bare number is seconds (`10`, `1.5`); with a unit,
/// anything humantime reads (`30s`, `10m`, `2h`).
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    if let Ok(seconds) = text.trim().parse::<f64>() {
        return std::time::Duration::try_from_secs_f64(seconds)
            .map_err(|_| format!("{text:?} is not a number of seconds (0 or more)"));
    }
    humantime::parse_duration(text).map_err(|e| format!("{text:?} is not a duration like 30s, 10m or 2h: {e}"))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn bare_numbers_are_seconds_and_units_still_work() {
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        for bad in ["-1", "NaN", "inf", "ten", ""] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DialectArg {
    Auto,
    Api,
    Rest,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check the login and show the user and dialect.
    Login,
    /// Libraries.
    #[command(subcommand)]
    Library(LibraryCommand),
    /// Items.
    #[command(subcommand)]
    Item(ItemCommand),
    /// Upload files (or an OVF folder, or an .ova) into an item, or have the server pull one.
    Upload(UploadArgs),
    /// Check an OVF folder, an .ova or VMDKs for what would fail an upload or a deploy, without a server.
    Check(CheckArgs),
    /// Publish a folder as a library any vCenter can subscribe to (a VCSP feed written in place;
    /// serve the folder with any web server), without a server.
    Publish(PublishArgs),
    /// Download an item's files into a folder, or one file to stdout.
    Download(DownloadArgs),
    /// Copy an item, or every item of a library, to another vCenter (or within this one): streamed, verified, no local disk.
    Copy(CopyArgs),
    /// Transfer sessions.
    #[command(subcommand)]
    Session(SessionCommand),
    /// Datastores (where local libraries keep their files).
    #[command(subcommand)]
    Datastore(DatastoreCommand),
    /// Run the simulator in the foreground (needs the default `sim` feature).
    Sim(crate::builtin::SimArgs),
    /// Upload a generated OVF set to the target (the built-in simulator without --url), download it back and verify every byte.
    Demo(DemoArgs),
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// How long commands report their progress.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressArg {
    /// Bars on a terminal; plain lines otherwise; nothing with --json.
    Auto,
    /// One JSON object per line on stderr.
    Json,
    /// Nothing.
    None,
}

#[derive(Subcommand, Debug)]
pub enum LibraryCommand {
    /// List libraries.
    Ls {
        /// List at most this many (listings longer than 100 000 need it).
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
    },
    /// Create a local library, or with --subscribe a library subscribed to a published one.
    Create {
        name: String,
        /// Datastore name or id (`clx datastore ls` lists them); the only one when there is one.
        #[arg(long)]
        datastore: Option<String>,
        #[command(flatten)]
        subscribe: SubscribeArgs,
    },
    /// Publish a local library and print the URL other libraries subscribe to.
    Publish {
        /// Library name or id.
        library: String,
        /// Protect the feed with the password in CLX_PUB_PASSWORD (subscribers send user `vcsp`).
        #[arg(long)]
        password: bool,
    },
    /// Check a subscription URL before subscribing: reachable, trusted, credentials accepted.
    Probe {
        /// The feed's URL (ends in /lib.json).
        #[arg(value_name = "URL")]
        feed_url: String,
        #[command(flatten)]
        feed: FeedArgs,
    },
    /// Sync a subscribed library with its publisher.
    Sync {
        /// Library name or id.
        library: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Drop the cached content of an on-demand subscribed library (its items stay listed).
    Evict {
        /// Library name or id.
        library: String,
    },
    /// Show a library: type, description, where it stores, its items and their total size.
    Info {
        /// Library name or id.
        library: String,
    },
    /// Rename a library or change its description.
    Update {
        /// Library name or id.
        library: String,
        #[command(flatten)]
        changes: ChangeArgs,
    },
    /// Delete a local library.
    Rm {
        /// Library name or id.
        library: String,
        /// Delete it even though it holds items (they go with it).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ItemCommand {
    /// List a library's items.
    Ls {
        /// Library name or id.
        library: String,
        /// List at most this many (listings longer than 100 000 need it).
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
    },
    /// Show an item and its files.
    Info {
        /// LIBRARY/ITEM (names or ids), or an item id.
        target: String,
    },
    /// Rename an item or change its description (its files stay as they are).
    Update {
        /// LIBRARY/ITEM (names or ids), or an item id.
        target: String,
        #[command(flatten)]
        changes: ChangeArgs,
    },
    /// Delete an item and its files.
    Rm {
        /// LIBRARY/ITEM (names or ids), or an item id.
        target: String,
    },
    /// Sync one item of a subscribed library.
    Sync {
        /// LIBRARY/ITEM (names or ids), or an item id.
        target: String,
        /// Fetch the content too in an on-demand library.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Drop the cached content of one item of an on-demand subscribed library.
    Evict {
        /// LIBRARY/ITEM (names or ids), or an item id.
        target: String,
    },
}

/// The arguments of `clx publish`.
#[derive(clap::Args, Debug)]
pub struct PublishArgs {
    /// The folder: item folders (an OVF set, ISOs, any files) and loose .ova and .iso files (with
    /// --mirror: where the mirror goes).
    #[arg(required_unless_present = "check")]
    pub dir: Option<PathBuf>,
    /// The library's name (the previous feed's, or the folder's, when not given).
    #[arg(long, conflicts_with = "check")]
    pub name: Option<String>,
    /// Read every file again, even those whose size and modification time are as last seen.
    #[arg(long, conflicts_with_all = ["check", "mirror"])]
    pub rehash: bool,
    /// Instead of publishing, check a feed as a subscriber reads it: its lib.json URL (credentials
    /// as user:password@, sent to its origin only) or folder. Exit 2 on errors.
    #[arg(long, value_name = "URL|DIR", conflicts_with = "dir")]
    pub check: Option<String>,
    /// With --check: a folder holding an earlier copy of the feed, to check that ids stayed and
    /// versions moved as they should.
    #[arg(long, value_name = "DIR", requires = "check")]
    pub previous: Option<PathBuf>,
    /// Instead of publishing, mirror the feed at this lib.json URL into DIR (itself a feed):
    /// only what changed, verified, resumable (credentials as user:password@, to its origin only).
    #[arg(long, value_name = "URL", requires = "dir", conflicts_with_all = ["check", "name"])]
    pub mirror: Option<String>,
    /// After publishing, write the feed and its files to S3-compatible storage, only what
    /// changed (endpoint, region and credentials from the standard AWS variables:
    /// AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).
    #[arg(long, value_name = "s3://BUCKET/PREFIX", conflicts_with_all = ["check", "mirror"])]
    pub to: Option<String>,
}

/// What `library create --subscribe` subscribes to.
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Subscription")]
pub struct SubscribeArgs {
    /// Subscribe to the published library (VCSP feed) whose lib.json is at this URL.
    #[arg(long, value_name = "URL")]
    pub subscribe: Option<String>,
    /// Fetch content only for items synced with --force (`clx item sync`), not with every sync.
    #[arg(long, requires = "subscribe")]
    pub on_demand: bool,
    /// Do not let the server sync the library on its own schedule.
    #[arg(long, requires = "subscribe")]
    pub no_auto_sync: bool,
    #[command(flatten)]
    pub feed: FeedArgs,
}

/// How to reach a feed.
#[derive(clap::Args, Debug)]
pub struct FeedArgs {
    /// User name the feed takes (a vCenter publisher takes `vcsp`); the password is read from
    /// CLX_SUB_PASSWORD.
    #[arg(long, value_name = "USER")]
    pub sub_username: Option<String>,
    /// Trust the feed iff its certificate has this thumbprint (`clx library probe` prints it).
    #[arg(long, value_name = "THUMBPRINT")]
    pub sub_thumbprint: Option<String>,
}

/// Whether and how long to wait for a sync.
#[derive(clap::Args, Debug)]
pub struct WaitArgs {
    /// Wait until the sync is done (every item it brings cached), with progress.
    #[arg(long)]
    pub wait: bool,
    /// The most to wait (seconds, or 30m, 2h).
    #[arg(long, default_value = "1h", value_parser = parse_duration, requires = "wait")]
    pub wait_timeout: std::time::Duration,
}

/// What `update` changes; at least one is needed.
#[derive(clap::Args, Debug)]
#[group(required = true, multiple = true)]
pub struct ChangeArgs {
    /// The new name.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// The new description ("" clears it).
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum DatastoreCommand {
    /// List datastores.
    Ls,
}

#[derive(Subcommand, Debug)]
pub enum SessionCommand {
    /// List download and update sessions.
    Ls {
        /// List at most this many (listings longer than 100 000 need it).
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
    },
    /// Cancel a session.
    Cancel { id: String },
    /// Delete a session.
    Rm { id: String },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ChecksumArg {
    None,
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

// The arguments of `clx upload`.
#[derive(clap::Args, Debug)]
pub struct UploadArgs {
    /// Files, folders (their files) or .ova archives; or http(s) URLs that clx fetches and streams
    /// into the item itself (an .ova split into members, an .ovf with the files it references).
    #[arg(required_unless_present = "pull", conflicts_with = "pull")]
    pub paths: Vec<PathBuf>,
    /// Have the server fetch the file itself from this http(s) URL (named after its last segment).
    #[arg(long, value_name = "URL")]
    pub pull: Option<String>,
    /// The source's certificate thumbprint: for --pull the SHA-1 vCenter 7 and 8 take; for a URL
    /// clx fetches, SHA-1 or SHA-256, trusted instead of any CA.
    #[arg(long, value_name = "THUMBPRINT", conflicts_with = "source_cert")]
    pub source_thumbprint: Option<String>,
    /// Also trust the CAs in this PEM file for a URL clx fetches.
    #[arg(long, value_name = "PEM", conflicts_with = "pull")]
    pub source_ca_cert: Option<PathBuf>,
    /// Trust any certificate of a URL clx fetches (test servers only).
    #[arg(long, conflicts_with = "pull")]
    pub source_insecure: bool,
    /// The pulled source's certificate, a PEM file (vSphere 9 and later).
    #[arg(long, value_name = "PEM", requires = "pull")]
    pub source_cert: Option<PathBuf>,
    /// The pulled file's checksum, ALGORITHM:HEX (e.g. sha256:ab12…), checked by the server.
    #[arg(long, value_name = "ALG:HEX", requires = "pull")]
    pub source_checksum: Option<String>,
    /// Accept this preview warning of signed content (repeatable), e.g. self-signed-certificate.
    #[arg(long, value_name = "TYPE")]
    pub ignore_warning: Vec<String>,
    /// Library name or id.
    #[arg(long)]
    pub library: String,
    /// Item name or id.
    #[arg(long)]
    pub item: String,
    /// Create the item if it does not exist (removed again if the upload fails).
    #[arg(long)]
    pub create: bool,
    /// Make the item's file set exactly these files (others it holds are removed).
    #[arg(long)]
    pub replace: bool,
    /// Checksum algorithm computed and verified by the server.
    #[arg(long, value_enum, default_value = "sha256")]
    pub checksum: ChecksumArg,
    /// Upload without checking the files first (see `clx check`); for a finding you know to be wrong.
    #[arg(long)]
    pub no_preflight: bool,
    /// Before connecting, also read and inflate every grain of every disk (what `clx check` does).
    /// The default preflight reads only headers, tables and markers: milliseconds for any size. The
    /// deep one costs the time to decompress the disks, on every core: about as long as `qemu-img
    /// convert` of them, seconds per GiB.
    #[arg(long, conflicts_with = "no_preflight")]
    pub deep_check: bool,
}

/// The arguments of `clx check`.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Files, OVF folders or .ova archives, as `clx upload` takes them.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Do not read whole files to verify a manifest's digests.
    #[arg(long)]
    pub skip_digests: bool,
    /// Check structure only: headers, tables, markers, descriptors, manifests' form, signatures;
    /// neither grains inflated nor digests verified. Milliseconds for any size, where the full
    /// check reads every byte and decompresses every disk (seconds per GiB, on every core).
    #[arg(long)]
    pub structure_only: bool,
}

// The arguments of `clx download`.
#[derive(clap::Args, Debug)]
pub struct DownloadArgs {
    /// LIBRARY/ITEM (names or ids), or an item id.
    pub target: String,
    /// Destination folder (created if missing), or `-` for one file on stdout.
    #[arg(long, required_unless_present = "ova", conflicts_with = "ova")]
    pub to: Option<PathBuf>,
    /// Write the item (an OVF template) as one OVA file instead, or `-` for stdout: the descriptor
    /// first, a manifest of the server's checksums, the disks in the descriptor's order.
    #[arg(long, value_name = "PATH")]
    pub ova: Option<PathBuf>,
    /// Only this file of the item (repeatable).
    #[arg(long, value_name = "NAME", conflicts_with = "ova")]
    pub only: Vec<String>,
    /// Replace files that already exist.
    #[arg(long)]
    pub overwrite: bool,
    /// Start over instead of resuming what an interrupted download into this folder kept.
    #[arg(long, conflicts_with = "ova")]
    pub no_resume: bool,
}

// The arguments of `clx demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Size of each generated disk, MiB.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub disk_mib: u64,
    /// Keep the demo's item (and a library it created) instead of removing them.
    #[arg(long)]
    pub keep: bool,
    /// Datastore name or id for the demo's library (the only one when there is one).
    #[arg(long)]
    pub datastore: Option<String>,
}

// The arguments of `clx copy`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "The source is the usual target (--url, CLX_URL, ...). The destination is --to-url (CLX_TO_URL), \
                        the source's vCenter when absent; its password is CLX_TO_PASSWORD or user:password@ in the URL. \
                        An item that already holds the source's file names, sizes and checksums is left alone (up to date)."
)]
pub struct CopyArgs {
    /// LIBRARY/ITEM (names or ids) or an item id to copy one item; LIBRARY to copy all its items.
    pub source: String,
    /// LIBRARY/ITEM, or LIBRARY (items keep their names).
    pub dest: String,
    /// The destination vCenter (https://host, may carry user:password@); the source's when absent.
    #[arg(long, env = "CLX_TO_URL", value_name = "URL")]
    pub to_url: Option<String>,
    /// The destination's user name (also CLX_TO_USERNAME).
    #[arg(long, env = "CLX_TO_USERNAME")]
    pub to_username: Option<String>,
    /// Also trust the CA certificates in this PEM file at the destination.
    #[arg(long, value_name = "PEM")]
    pub to_ca_cert: Option<PathBuf>,
    /// Trust the destination iff its certificate has this SHA-1 or SHA-256 thumbprint.
    #[arg(long, value_name = "THUMBPRINT")]
    pub to_thumbprint: Option<String>,
    /// Trust any certificate at the destination (test servers only).
    #[arg(long)]
    pub to_insecure: bool,
    /// Create destination items that do not exist (removed again if their copy fails).
    #[arg(long)]
    pub create: bool,
    /// Make each destination item's file set exactly the source's.
    #[arg(long)]
    pub replace: bool,
    /// Accept this preview warning of signed content at the destination (repeatable).
    #[arg(long, value_name = "TYPE")]
    pub ignore_warning: Vec<String>,
}
