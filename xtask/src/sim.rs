//! A `cl-sim` binary run as a child process on a loopback port of its choosing, with the
//! `CL_SIM_*` lines it prints (URL, credentials, datastore, CA path).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, bail};

pub struct Sim {
    child: Child,
    pub vars: BTreeMap<String, String>,
    pub url: String,
}

impl Drop for Sim {
    /// SIGTERM first, so the simulator removes its store (gigabytes after a benchmark); SIGKILL
    /// only when it has not exited within 5 s.
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sim {
    /// The simulator process's peak resident memory so far, MiB.
    pub fn peak_rss_mib(&self) -> Result<f64> {
        cl_testkit::peak_rss_mib(Some(self.child.id())).context("reading the simulator's peak RSS (Linux only)")
    }
}

/// Starts `binary` on 127.0.0.1 (port 0) with `args` and waits for its URL line. Its store (a
/// temporary folder) goes under `store_in` when given.
pub fn start(binary: &Path, args: &[&str], store_in: Option<&Path>) -> Result<Sim> {
    let mut command = Command::new(binary);
    if let Some(dir) = store_in {
        command.env("TMPDIR", dir);
    }
    let mut child = command
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let stdout = child.stdout.take().context("cl-sim's stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut vars = BTreeMap::new();
    for line in lines.by_ref() {
        let line = line?;
        let Some((key, value)) = line.split_once('=').filter(|(k, _)| k.starts_with("CL_SIM_")) else { continue };
        vars.insert(key.to_owned(), value.to_owned());
        // The URL line comes last.
        if let Some(url) = vars.get("CL_SIM_URL").cloned() {
            // Keep reading: a closed pipe would end the simulator at its next line.
            std::thread::spawn(move || lines.for_each(drop));
            return Ok(Sim { child, vars, url });
        }
    }
    bail!("{} printed no URL", binary.display())
}
