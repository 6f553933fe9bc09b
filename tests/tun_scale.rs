//! The connection table at scale (root): 20,000 concurrent kernel clients, a SYN flood
//! answered with SYN cookies while real clients get through, and `tuntcp ss` beside the
//! kernel's `ss`. Each test runs in its own namespace; load is bounded in count and time.
//! Memory and timing figures are printed (`--nocapture`), not asserted beyond sanity bounds.

mod support;

use std::time::{Duration, Instant};
use support::netns::{require, Netns};

const STACK: &str = "10.66.0.2";

/// `VmRSS` of a process in kB.
fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// `tuntcp nstat` value of one counter.
fn counter(ns: &Netns, ctl: &std::path::Path, name: &str) -> u64 {
    let bin = env!("CARGO_BIN_EXE_tuntcp");
    let out = ns.sh(&format!("{bin} nstat -asz --control {}", ctl.display()));
    out.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{out}"))
}

/// `tuntcp serve` with a control socket; returns (namespace, control path, stack pid).
fn served(what: &str) -> (Netns, std::path::PathBuf, u32) {
    let mut ns = Netns::new(what);
    let log = ns.dir.join("serve.log");
    let ctl = ns.dir.join("ctl.sock");
    let bin = env!("CARGO_BIN_EXE_tuntcp");
    let pid = ns.spawn(&format!("{bin} serve --control {}", ctl.display()), &log);
    ns.wait_for("ip -4 addr show dev tun0 up | grep -q inet", &log);
    ns.wait_for(&format!("test -S {}", ctl.display()), &log);
    (ns, ctl, pid)
}

#[test]
fn tun_scale_20000_concurrent_connections_served_and_closed() {
    if require(&["python3"]).is_none() {
        return;
    }
    let (ns, ctl, pid) = served("20k");
    // Five kernel source addresses, two client processes (file descriptor limits).
    for i in 11..=14 {
        ns.sh(&format!("ip addr add 10.66.0.{i}/24 dev tun0"));
    }
    let before = rss_kb(pid);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/many_conns.py");
    let stats = format!("grep VmRSS /proc/{pid}/status");
    // As many client processes as the file descriptor limit needs.
    let hard: usize = ns.sh("ulimit -Hn").trim().parse().unwrap_or(1024);
    let per = 10_000.min(hard.saturating_sub(200)).max(500);
    let procs = 20_000usize.div_ceil(per);
    let sources = "10.66.0.1,10.66.0.11,10.66.0.12,10.66.0.13,10.66.0.14";
    let mut cmd = String::new();
    for p in 0..procs {
        let n = per.min(20_000 - p * per);
        let st = if p == 0 {
            format!(" --stats '{stats}'")
        } else {
            String::new()
        };
        cmd += &format!(
            "timeout 240 python3 {script} {STACK} 80 {n} {sources}{st} > {d}/{p}.out 2>&1 & ",
            d = ns.dir.display()
        );
    }
    cmd += &format!("wait; cat {}/*.out", ns.dir.display());
    let t = Instant::now();
    let out = ns.sh(&cmd);
    println!("{out}");
    let done: Vec<&str> = out.lines().filter(|l| l.starts_with("served=")).collect();
    assert_eq!(done.len(), 2, "both clients finished:\n{out}");
    assert!(
        done.iter()
            .all(|l| l.starts_with("served=10000 closed=10000 failed=0")),
        "{out}"
    );
    let peak = out
        .lines()
        .filter_map(|l| l.split("VmRSS:").nth(1))
        .filter_map(|v| {
            v.split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
        })
        .max()
        .unwrap_or(0);
    // All closed cleanly: the table empties (FIN handshakes, no TIME-WAIT on our side as
    // the clients closed first).
    let deadline = Instant::now() + Duration::from_secs(30);
    let bin = env!("CARGO_BIN_EXE_tuntcp");
    loop {
        let s = ns.sh(&format!("{bin} ss -s --control {}", ctl.display()));
        if s.contains("estab 0,") && s.contains("TCP:   3 ") {
            break;
        }
        if Instant::now() >= deadline {
            let all = ns.sh(&format!(
                "{bin} ss -a --control {} | head -20",
                ctl.display()
            ));
            panic!("connections left over:\n{s}\n{all}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(counter(&ns, &ctl, "TcpEstabResets"), 0);
    let after = rss_kb(pid);
    println!(
        "20000 connections in {:.1} s; RSS before {before} kB, peak with the first client's connections open {peak} kB \
         (~{:.1} kB per open connection incl. the HTTP server), after {after} kB ({procs} clients)",
        t.elapsed().as_secs_f64(),
        (peak.saturating_sub(before)) as f64 / per as f64
    );
    assert!(after < 1_000_000, "memory stays bounded");
}

#[test]
fn tun_scale_syn_flood_answered_with_cookies_while_100_curls_succeed() {
    if require(&["hping3", "curl", "timeout"]).is_none() {
        return;
    }
    let (mut ns, ctl, pid) = served("flood");
    let before = rss_kb(pid);
    let flood_log = ns.dir.join("hping3.log");
    // 100,000 SYNs at up to 10,000/s (hping3 -i u100), bounded again by `timeout`: at full
    // rate the kernel itself dropped ~36% of everything at the TUN queue before the stack
    // could read it, and a curl whose SYN the kernel dropped twice failed for the kernel's
    // reasons, not ours. The SYNs come from 10.66.0.77, an address nobody holds: our
    // SYN-ACKs to it are dropped unanswered (no forwarding in the namespace), so half-open
    // connections pile up as in a real spoofed flood and the 1,024-entry SYN queue must
    // overflow into cookies (from an address the kernel owns, its RSTs would empty the
    // queue as fast as a paced flood fills it). Not from curl's own address either: its
    // incrementing source ports would sometimes hit curl's handshake in progress, and a
    // second SYN on a SYN-RECEIVED tuple resets it (RFC 9293 §3.10.7.4, as Linux).
    let flood = ns.spawn(
        &format!("timeout 30 hping3 -q -S -i u100 -c 100000 -a 10.66.0.77 -p 80 {STACK}"),
        &flood_log,
    );
    // Running, not a zombie waiting to be reaped (the namespace guard reaps at the end).
    let flooding = || {
        std::fs::read_to_string(format!("/proc/{flood}/stat"))
            .ok()
            .and_then(|st| st.rsplit(") ").next().map(|r| !r.starts_with('Z')))
            .unwrap_or(false)
    };
    std::thread::sleep(Duration::from_millis(500));
    let mut during = 0;
    let mut ok = 0;
    let mut ok_during_flood = 0;
    let t = Instant::now();
    for i in 0..100 {
        // --max-time 40: longer than the flood, so even a curl whose SYNs the kernel
        // dropped gets its next retransmission (1, 3, 7, 15, 31 s) answered.
        let code = ns.sh_output(&format!(
            "curl -sS --max-time 40 -o /dev/null -w '%{{http_code}}' http://{STACK}/"
        ));
        if String::from_utf8_lossy(&code.stdout) == "200" {
            ok += 1;
            if flooding() {
                ok_during_flood += 1;
            }
        } else {
            println!(
                "curl {i}: {:?} {}",
                code.status.code(),
                String::from_utf8_lossy(&code.stderr)
            );
        }
        if i == 50 {
            during = rss_kb(pid);
        }
    }
    println!(
        "100 curls took {:.1} s, {ok_during_flood} of them done while the flood ran; {}",
        t.elapsed().as_secs_f64(),
        ns.sh("ip -s link show tun0 | tail -4 | tr -s ' \\n' ' '")
    );
    assert_eq!(ok, 100, "every curl succeeded during the flood");
    assert!(
        ok_during_flood > 0,
        "curls were answered while the flood ran"
    );
    let sent = counter(&ns, &ctl, "TcpExtSyncookiesSent");
    println!(
        "SyncookiesSent {sent}, ListenDrops {}",
        counter(&ns, &ctl, "TcpExtListenDrops")
    );
    assert!(sent > 0, "the SYN queue overflowed and cookies answered");
    // `timeout 30` bounds the flood.
    let end = Instant::now() + Duration::from_secs(35);
    while flooding() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(200));
    }
    let after = rss_kb(pid);
    println!("RSS before {before} kB, during {during} kB, after {after} kB");
    assert!(
        during < 512 * 1024 && after < 512 * 1024,
        "memory stays bounded under the flood"
    );
}

#[test]
fn tun_ss_output_has_the_kernel_shape() {
    if require(&["ss", "curl"]).is_none() {
        return;
    }
    let (mut ns, ctl, _pid) = served("ss");
    let bin = env!("CARGO_BIN_EXE_tuntcp");
    // A long, slow download keeps one connection established while both tools look.
    let curl_log = ns.dir.join("curl.log");
    ns.spawn(
        &format!(
            "curl -sS --max-time 20 --limit-rate 2M -o /dev/null http://{STACK}/bytes/20000000"
        ),
        &curl_log,
    );
    ns.wait_for(
        &format!("{bin} ss --control {} | grep -q ESTAB", ctl.display()),
        &curl_log,
    );
    let ours = ns.sh(&format!("{bin} ss -a --control {}", ctl.display()));
    let kernel = ns.sh("ss -tan");
    println!("tuntcp ss -a:\n{ours}\nkernel ss -tan:\n{kernel}");
    let header = |s: &str| {
        s.lines()
            .next()
            .unwrap_or("")
            .split_whitespace()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    let (h_ours, h_kernel) = (header(&ours), header(&kernel));
    // Same columns in the same order (the kernel glues "Process" to the last one).
    assert_eq!(
        h_ours[..6],
        h_kernel[..6],
        "same columns, in the same order"
    );
    assert!(h_kernel[6].starts_with(&h_ours[6]));
    assert!(ours
        .lines()
        .any(|l| l.starts_with("LISTEN") && l.contains("10.66.0.2:80") && l.contains("1024")));
    // The kernel's client side and our server side of the same connection.
    let estab = ours
        .lines()
        .find(|l| l.starts_with("ESTAB"))
        .expect("our side ESTAB");
    let peer = estab.split_whitespace().nth(4).unwrap().to_string();
    assert!(
        kernel
            .lines()
            .any(|l| l.starts_with("ESTAB") && l.contains(&peer)),
        "kernel shows {peer}"
    );
    let listening = ns.sh(&format!("{bin} ss -l --control {}", ctl.display()));
    assert!(!listening.contains("ESTAB"), "-l lists listeners only");
    let summary = ns.sh(&format!("{bin} ss -s --control {}", ctl.display()));
    assert!(
        summary.starts_with("Total:") && summary.contains("TCP:") && summary.contains("estab 1"),
        "{summary}"
    );
}
