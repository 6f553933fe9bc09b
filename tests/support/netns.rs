//! Root-only helpers for tests that run the real binary on a TUN device, each inside a
//! network namespace the test creates and removes (nothing touches the host namespace).
//!
//! Outside CI a missing prerequisite skips the test with a loud message; with `CI=true`
//! it fails instead.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Checks root, /dev/net/tun and the tools; `None` means "skip" (never in CI).
pub fn require(tools: &[&str]) -> Option<()> {
    let mut missing = Vec::new();
    // SAFETY-free root check: /proc/self/status Uid line.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    if !root {
        missing.push("root".to_string());
    }
    if !Path::new("/dev/net/tun").exists() {
        missing.push("/dev/net/tun".to_string());
    }
    for t in tools.iter().chain(&["ip"]) {
        let found = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {t}"))
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            missing.push((*t).to_string());
        }
    }
    if missing.is_empty() {
        return Some(());
    }
    let msg = format!("missing: {}", missing.join(", "));
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true and this TUN test cannot run: {msg}");
    }
    // Straight to file descriptor 2: the test harness captures `eprintln!`, and a skip
    // hidden behind an "ok" is the failure this message exists to prevent.
    let test = std::thread::current()
        .name()
        .unwrap_or("a TUN test")
        .to_string();
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("\n!!!! SKIPPED {test} (not in CI): {msg} !!!!\n").as_bytes(),
    );
    None
}

/// A network namespace, removed (with every process we started in it) on drop.
pub struct Netns {
    pub name: String,
    children: Vec<Child>,
    pub dir: PathBuf,
}

impl Netns {
    pub fn new(what: &str) -> Netns {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("tuntcp-{what}-{}-{n}", std::process::id());
        run_ok(Command::new("ip").args(["netns", "add", &name]));
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let ns = Netns {
            name,
            children: Vec::new(),
            dir,
        };
        ns.sh("ip link set lo up");
        ns
    }

    /// A command prefixed with `ip netns exec NAME`.
    pub fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Runs a shell command inside the namespace; panics with its output if it fails.
    pub fn sh(&self, script: &str) -> String {
        let out = self.sh_output(script);
        assert!(
            out.status.success(),
            "`{script}` failed in {}: {}\n{}",
            self.name,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn sh_output(&self, script: &str) -> Output {
        self.cmd("sh")
            .args(["-c", script])
            .output()
            .expect("ip netns exec")
    }

    /// Starts a background process inside the namespace (killed by PID on drop).
    pub fn spawn(&mut self, script: &str, log: &Path) -> u32 {
        let f = std::fs::File::create(log).expect("log file");
        let child = self
            .cmd("sh")
            .args(["-c", &format!("exec {script}")])
            .stdout(f.try_clone().expect("dup"))
            .stderr(f)
            .spawn()
            .expect("spawn");
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// Sends `sig` (a name for kill(1): TERM, INT) to a process started here.
    pub fn kill(&self, pid: u32, sig: &str) {
        assert!(
            self.children.iter().any(|c| c.id() == pid),
            "{pid} was not started here"
        );
        run_ok(Command::new("kill").args([format!("-{sig}"), pid.to_string()]));
    }

    /// Waits up to `limit` for a process started here to exit; its status.
    pub fn wait_exit(&mut self, pid: u32, limit: Duration) -> Option<std::process::ExitStatus> {
        let child = self.children.iter_mut().find(|c| c.id() == pid)?;
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Starts `tuntcp ARGS` and waits until its device is up; its PID.
    pub fn start_tuntcp(&mut self, args: &str, log: &Path) -> u32 {
        let bin = env!("CARGO_BIN_EXE_tuntcp");
        let pid = self.spawn(&format!("{bin} {args}"), log);
        let dev = args
            .split("--tun ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or("tun0");
        self.wait_for(&format!("ip -4 addr show dev {dev} up | grep -q inet"), log);
        pid
    }

    /// Polls a shell condition for up to 30 s (generous: a loaded 2-core machine).
    pub fn wait_for(&self, cond: &str, log: &Path) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if self.sh_output(cond).status.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "timed out waiting for `{cond}`; log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run_ok(c: &mut Command) {
    let out = c.output().expect("run");
    assert!(
        out.status.success(),
        "{:?}: {}",
        c,
        String::from_utf8_lossy(&out.stderr)
    );
}
