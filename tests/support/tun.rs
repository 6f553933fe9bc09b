//! Helpers the root TUN tests share (`tun_curl`, `tun_ipv6`, `tun_pmtu`, `tun_pmtu6`):
//! the expected digest of `/bytes/N`, `tuntcp serve` in a fresh namespace, counters,
//! tshark field maxima and a kernel HTTP server (python3) in the namespace.
#![allow(dead_code)]

use super::netns::Netns;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tuntcp::apps::http::pattern_fill;

/// The SHA-256 (hex) of the first `n` bytes `GET /bytes/N` serves.
pub fn pattern_sha256(n: u64) -> String {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut off = 0;
    while off < n {
        let k = (n - off).min(buf.len() as u64) as usize;
        pattern_fill(off, &mut buf[..k]);
        h.update(&buf[..k]);
        off += k as u64;
    }
    h.finalize().iter().map(|x| format!("{x:02x}")).collect()
}

/// A namespace running `tuntcp -v serve --pcap P --seed 1 EXTRA`: the namespace, the log
/// and the pcap path.
pub fn served(what: &str, extra: &str) -> (Netns, PathBuf, PathBuf) {
    let mut ns = Netns::new(what);
    let log = ns.dir.join("serve.log");
    let pcap = ns.dir.join("serve.pcap");
    ns.start_tuntcp(
        &format!("-v serve --pcap {} --seed 1 {extra}", pcap.display()),
        &log,
    );
    (ns, log, pcap)
}

/// Waits until the kernel's `fd66::1/64` is on `dev` and no longer tentative (a tentative
/// source cannot send: a packet to the stack in that window is lost before the TUN).
pub fn wait_ipv6(ns: &Netns, dev: &str, log: &Path) {
    ns.wait_for(
        &format!(
            "ip -6 addr show dev {dev} | grep -q 'fd66::1/64' && \
             ! ip -6 addr show dev {dev} | grep -q tentative"
        ),
        log,
    );
}

/// `tuntcp nstat` value of one counter of the stack in `ns` (0 when absent).
pub fn nstat_counter(ns: &Netns, name: &str) -> u64 {
    let bin = env!("CARGO_BIN_EXE_tuntcp");
    let out = ns.sh(&format!("{bin} nstat -asz"));
    out.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The largest value of tshark field `field` (`ip.len`, `ipv6.plen`) over the packets of
/// `pcap` that match `filter`, 0 if none.
pub fn largest_field(ns: &Netns, pcap: &Path, filter: &str, field: &str) -> u32 {
    ns.sh(&format!(
        "tshark -r {} -Y '{filter}' -T fields -e {field} 2>/dev/null",
        pcap.display()
    ))
    .lines()
    .filter_map(|l| l.trim().parse().ok())
    .max()
    .unwrap_or(0)
}

/// Writes `n` random bytes to `www/name` (creating `www`); their SHA-256 (hex).
pub fn random_file(ns: &Netns, www: &Path, name: &str, n: u64) -> String {
    std::fs::create_dir_all(www).unwrap();
    let file = www.join(name);
    ns.sh(&format!("head -c {n} /dev/urandom > {}", file.display()));
    let sum = ns.sh(&format!("sha256sum {}", file.display()));
    sum.split_whitespace().next().unwrap().to_string()
}

/// Starts `python3 -m http.server 8000` bound to `bind` (`0.0.0.0`, `::`) serving `www`,
/// and waits until it accepts on `probe` (`127.0.0.1`, `::1`); its log path.
pub fn python_http_server(ns: &mut Netns, www: &Path, bind: &str, probe: &str) -> PathBuf {
    let py_log = ns.dir.join("http.log");
    ns.spawn(
        &format!(
            "python3 -u -m http.server 8000 --bind {bind} --directory {}",
            www.display()
        ),
        &py_log,
    );
    ns.wait_for(
        &format!(
            "python3 -c 'import socket; socket.create_connection((\"{probe}\", 8000)).close()'"
        ),
        &py_log,
    );
    py_log
}

/// Downloads `n` pattern bytes from `url` with curl in `ns` and asserts their SHA-256
/// (`what` names the download; the serve `log` is shown on failure).
pub fn assert_pattern_download(ns: &Netns, url: &str, n: u64, log: &Path, what: &str) {
    let want = pattern_sha256(n);
    let out = ns.sh_output(&format!("curl -g -sS --max-time 60 '{url}' | sha256sum"));
    let got = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        got.split_whitespace().next(),
        Some(want.as_str()),
        "{what}: {}\nserve log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(log).unwrap_or_default()
    );
}
