//! `tuntcp nstat` against a stand-in control socket (no TUN, no root): the server answers
//! absolute counters and the client keeps the history, as iproute2's `nstat` does.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A control socket that answers each `nstat` request with the next of `dumps`.
fn control_socket(dir: &Path, dumps: Vec<&'static str>) -> PathBuf {
    let path = dir.join("ctl.sock");
    let listener = UnixListener::bind(&path).unwrap();
    std::thread::spawn(move || {
        for dump in dumps {
            let (mut c, _) = listener.accept().unwrap();
            let mut line = String::new();
            BufReader::new(&c).read_line(&mut line).unwrap();
            assert_eq!(line, "nstat\n");
            c.write_all(dump.as_bytes()).unwrap();
        }
    });
    path
}

fn nstat(ctl: &Path, history: &Path, flags: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tuntcp"))
        .arg("nstat")
        .args(flags)
        .arg("--control")
        .arg(ctl)
        .env("TUNTCP_NSTAT_HISTORY", history)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// Name and value of each line after `#kernel`.
fn values(report: &str) -> Vec<(String, u64)> {
    report
        .lines()
        .skip_while(|l| *l != "#kernel")
        .skip(1)
        .map(|l| {
            let mut w = l.split_whitespace();
            (
                w.next().unwrap().to_string(),
                w.next().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

fn v(pairs: &[(&str, u64)]) -> Vec<(String, u64)> {
    pairs.iter().map(|(n, x)| (n.to_string(), *x)).collect()
}

#[test]
fn first_call_shows_all_since_start_then_changes_per_history_file() {
    let dir = std::env::temp_dir().join(format!("tuntcp-nstat-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ctl = control_socket(
        &dir,
        vec![
            "#kernel\nIpInReceives 10\nTcpInSegs 4\nTcpCurrEstab 1\n",
            "#kernel\nIpInReceives 15\nTcpInSegs 4\nTcpCurrEstab 1\n",
            "#kernel\nIpInReceives 18\nTcpInSegs 5\nTcpCurrEstab 0\n",
            "#kernel\nIpInReceives 20\nTcpInSegs 5\nTcpCurrEstab 0\n",
            "#kernel\nIpInReceives 21\nTcpInSegs 6\nTcpCurrEstab 0\n",
            "#kernel\nIpInReceives 22\nTcpInSegs 6\nTcpCurrEstab 0\n",
        ],
    );
    let (mine, theirs) = (dir.join("mine"), dir.join("theirs"));
    // No history yet: everything since the start.
    let first = nstat(&ctl, &mine, &[]);
    assert_eq!(
        values(&first),
        v(&[("IpInReceives", 10), ("TcpInSegs", 4), ("TcpCurrEstab", 1)])
    );
    // The change since my last call; zero changes left out; the gauge as it is.
    assert_eq!(
        values(&nstat(&ctl, &mine, &[])),
        v(&[("IpInReceives", 5), ("TcpCurrEstab", 1)])
    );
    // Another user's first call is not affected by mine.
    assert_eq!(
        values(&nstat(&ctl, &theirs, &[])),
        v(&[("IpInReceives", 18), ("TcpInSegs", 5)])
    );
    // -n updates my history silently; -a ignores it; -z shows zeros.
    assert_eq!(nstat(&ctl, &mine, &["-n"]), "");
    assert_eq!(
        values(&nstat(&ctl, &mine, &["-a", "-z"])),
        v(&[("IpInReceives", 21), ("TcpInSegs", 6), ("TcpCurrEstab", 0)])
    );
    // -r forgets the history: absolute again.
    assert_eq!(
        values(&nstat(&ctl, &mine, &["-r"])),
        v(&[("IpInReceives", 22), ("TcpInSegs", 6)])
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_history_of_another_stack_instance_is_not_a_base() {
    let dir = std::env::temp_dir().join(format!("tuntcp-nstat-inst-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // A later serve whose counters happen to reach the old ones (a reused namespace gives
    // the history file the same name): without the instance check its first call showed
    // "no change" for everything.
    let ctl = control_socket(
        &dir,
        vec![
            "#stack 1-100\n#kernel\nTcpPassiveOpens 1\nTcpInSegs 4\n",
            "#stack 2-200\n#kernel\nTcpPassiveOpens 1\nTcpInSegs 4\n",
            "#stack 2-200\n#kernel\nTcpPassiveOpens 2\nTcpInSegs 4\n",
        ],
    );
    let h = dir.join("h");
    nstat(&ctl, &h, &[]);
    assert_eq!(
        values(&nstat(&ctl, &h, &[])),
        v(&[("TcpPassiveOpens", 1), ("TcpInSegs", 4)]),
        "a new instance starts from zero"
    );
    assert_eq!(
        values(&nstat(&ctl, &h, &[])),
        v(&[("TcpPassiveOpens", 1)]),
        "then changes against its own history"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
