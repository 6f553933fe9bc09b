//! `tuntcp nstat`, the client side, as iproute2's `nstat` works: the server answers the
//! absolute counters, and "since the last call" is a history file of this user's (so two
//! users, or two shells with their own `TUNTCP_NSTAT_HISTORY`, never take each other's
//! changes). The first call, with no history, shows everything since the stack started.

use crate::cli::control::ControlAddr;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use tuntcp::stack::report;

/// nstat's flags that make sense here.
#[derive(clap::Args, Clone, Copy, Debug, Default)]
pub struct NstatFlags {
    /// Absolute values since the stack started, ignoring the history (like `nstat -a`).
    #[arg(short = 'a', long)]
    pub absolute: bool,
    /// Also show counters that are zero (like `nstat -z`).
    #[arg(short = 'z', long)]
    pub zeros: bool,
    /// Update the history, print nothing (like `nstat -n`).
    #[arg(short = 'n', long)]
    pub no_output: bool,
    /// Do not update the history (like `nstat -s`).
    #[arg(short = 's', long)]
    pub no_update: bool,
    /// Forget the history first (like `nstat -r`).
    #[arg(short = 'r', long)]
    pub reset: bool,
}

/// Asks the stack behind `control` for its counters and prints them against the history.
pub fn run(control: &ControlAddr, f: NstatFlags) -> Result<(), String> {
    let reply = fetch(control)?;
    let now = report::parse_nstat(&reply);
    let stack = stack_id(&reply);
    let path = history_path(control);
    if f.reset {
        let _ = std::fs::remove_file(&path);
    }
    let history = if f.absolute {
        None
    } else {
        // A history of another stack instance (a namespace's inode number is reused once
        // it is gone, and so is this file's name) is not a base for changes.
        read_history(&path)
            .filter(|(text, _)| stack_id(text) == stack)
            .map(|(text, at)| (report::parse_nstat(&text), at))
            .filter(|(h, _)| !report::nstat_history_stale(&now, h))
    };
    if !f.no_output {
        let elapsed = history.as_ref().and_then(|(_, at)| {
            std::time::SystemTime::now()
                .duration_since(*at)
                .ok()
                .map(|d| d.as_secs_f64())
        });
        let h = history.as_ref().map(|(h, _)| h.as_slice());
        print!("{}", report::nstat(&now, h, elapsed, f.zeros));
    }
    if !f.no_update {
        write_history(&path, stack, &now).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

fn fetch(control: &ControlAddr) -> Result<String, String> {
    let mut s = control.connect().map_err(|e| {
        format!(
            "control socket {control}: {e} (is `tuntcp serve` running in this network namespace?)"
        )
    })?;
    writeln!(s, "nstat").map_err(|e| e.to_string())?;
    s.shutdown(std::net::Shutdown::Write)
        .map_err(|e| e.to_string())?;
    let mut reply = String::new();
    s.read_to_string(&mut reply).map_err(|e| e.to_string())?;
    Ok(reply)
}

/// `$TUNTCP_NSTAT_HISTORY`, else `/tmp/.tuntcp-nstat.u<UID>.<netns>.<control>`: per user
/// (as nstat's `/tmp/.nstat.u<UID>`), per network namespace and per control socket, so
/// stacks in two namespaces with the same device name keep apart.
fn history_path(control: &ControlAddr) -> PathBuf {
    if let Some(p) = std::env::var_os("TUNTCP_NSTAT_HISTORY") {
        return PathBuf::from(p);
    }
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the process's effective user; no libc call needed.
    let uid = std::fs::metadata("/proc/self").map_or(0, |m| m.uid());
    // "net:[4026531840]" -> "4026531840".
    let netns: String = std::fs::read_link("/proc/self/ns/net")
        .map(|l| {
            l.to_string_lossy()
                .chars()
                .filter(char::is_ascii_digit)
                .collect()
        })
        .unwrap_or_default();
    let ctl: String = control
        .to_string()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    std::env::temp_dir().join(format!(".tuntcp-nstat.u{uid}.{netns}.{ctl}"))
}

/// The `#stack ID` line `serve` puts in its reply: which stack instance answered.
fn stack_id(text: &str) -> Option<&str> {
    text.lines().find_map(|l| l.strip_prefix("#stack "))
}

/// The text of the last call's history and when it was saved.
fn read_history(path: &Path) -> Option<(String, std::time::SystemTime)> {
    let text = std::fs::read_to_string(path).ok()?;
    let at = std::fs::metadata(path).ok()?.modified().ok()?;
    Some((text, at))
}

/// Written whole and renamed into place: a reader never sees half a file, and a symlink
/// planted at the temporary name is refused (`create_new`).
fn write_history(path: &Path, stack: Option<&str>, now: &[(String, u64)]) -> std::io::Result<()> {
    let mut text = String::from("#kernel\n");
    if let Some(id) = stack {
        text.push_str(&format!("#stack {id}\n"));
    }
    for (n, v) in now {
        text.push_str(&format!("{n} {v}\n"));
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    drop(f);
    std::fs::rename(&tmp, path)
}
