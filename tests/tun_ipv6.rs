//! IPv6 over the TUN (root): `tuntcp serve` in a fresh network namespace, the kernel at
//! `fd66::1/64`, the stack at `fd66::2`, driven by curl and ping. Each test creates its
//! own namespace and removes it; nothing is sent outside it. With `CI=true` a missing tool
//! or privilege fails the test (see `support::netns::require`).

mod support;

use std::path::PathBuf;
use support::netns::{require, Netns};
use support::tun::{self, largest_field, pattern_sha256};

const URL: &str = "http://[fd66::2]";

/// A namespace running `tuntcp serve -v --pcap` (and `extra` flags), with the kernel's
/// IPv6 address in place.
fn served6(what: &str, extra: &str) -> (Netns, PathBuf, PathBuf) {
    let (ns, log, pcap) = tun::served(what, extra);
    tun::wait_ipv6(&ns, "tun0", &log);
    (ns, log, pcap)
}

#[test]
fn tun_v6_curl_gets_the_page_over_ipv6_and_the_log_shows_bracketed_tuples() {
    if require(&["curl"]).is_none() {
        return;
    }
    let (ns, log, _pcap) = served6("v6root", "");
    let page = ns.sh(&format!("curl -g -sS --max-time 10 '{URL}/'"));
    assert!(page.contains("tuntcp"), "{page}");
    assert!(
        page.contains("[fd66::1]:") && page.contains("[fd66::2]:80"),
        "{page}"
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    let text = std::fs::read_to_string(&log).unwrap();
    let syn = text
        .lines()
        .find(|l| l.contains(" in  ") && l.contains("[S]"))
        .unwrap_or_else(|| panic!("no SYN in the log:\n{text}"));
    assert!(
        syn.contains("[fd66::1]:") && syn.contains(" > [fd66::2]:80 [S]"),
        "{syn}"
    );
    assert!(
        syn.contains("mss 1440"),
        "the kernel's MSS over IPv6: {syn}"
    );
    let synack = text
        .lines()
        .find(|l| l.contains(" out ") && l.contains("[S.]"))
        .unwrap_or_else(|| panic!("no SYN-ACK in the log:\n{text}"));
    assert!(
        synack.contains("[fd66::2]:80 > [fd66::1]:") && synack.contains("mss 1440"),
        "MSS = MTU - 60: {synack}"
    );
}

#[test]
fn tun_v6_ipv4_still_works_beside_ipv6_on_one_listener() {
    if require(&["curl"]).is_none() {
        return;
    }
    let (ns, _log, _pcap) = served6("v6both", "");
    let four = ns.sh("curl -sS --max-time 10 http://10.66.0.2/");
    let six = ns.sh(&format!("curl -g -sS --max-time 10 '{URL}/'"));
    assert!(four.contains("10.66.0.2:80"), "{four}");
    assert!(six.contains("[fd66::2]:80"), "{six}");
}

#[test]
fn tun_v6_ping6_of_the_stack_address_answers() {
    if require(&["ping"]).is_none() {
        return;
    }
    let (ns, _log, _pcap) = served6("v6ping", "");
    let out = ns.sh("ping -6 -c 3 -i 0.2 -W 2 fd66::2");
    assert!(out.contains("3 received"), "{out}");
    // 1400 bytes of data: 1448 on the link, one packet within the MTU.
    let out = ns.sh("ping -6 -c 1 -W 2 -s 1400 fd66::2");
    assert!(out.contains("1 received"), "{out}");
    // 3000 bytes: the kernel fragments the request (RFC 8200 §4.5), the stack reassembles
    // it; the reply leaves whole (we do not fragment, see the README).
    let out = ns.sh("ping -6 -c 2 -i 0.2 -W 2 -s 3000 fd66::2");
    assert!(out.contains("2 received"), "{out}");
}

#[test]
fn tun_v6_curl_100mb_download_is_byte_exact_with_and_without_offloads() {
    if require(&["curl", "sha256sum"]).is_none() {
        return;
    }
    let n: u64 = 100 * 1024 * 1024;
    for offload in ["on", "off"] {
        let (ns, _log, _pcap) =
            served6(&format!("v6down{offload}"), &format!("--offload {offload}"));
        let out = ns.sh(&format!(
            "curl -g -sS --max-time 300 '{URL}/bytes/{n}' | sha256sum"
        ));
        assert_eq!(
            out.split_whitespace().next().unwrap(),
            pattern_sha256(n),
            "--offload {offload}"
        );
    }
}

#[test]
fn tun_v6_curl_100mb_upload_is_byte_exact() {
    if require(&["curl", "head", "sha256sum"]).is_none() {
        return;
    }
    let (ns, _log, _pcap) = served6("v6up", "");
    let file = ns.dir.join("upload.bin");
    ns.sh(&format!(
        "head -c 104857600 /dev/urandom > {}",
        file.display()
    ));
    let want = ns.sh(&format!("sha256sum {}", file.display()));
    let want = want.split_whitespace().next().unwrap();
    let got = ns.sh(&format!(
        "curl -g -sS --max-time 300 --data-binary @{} -H 'Content-Type: application/octet-stream' '{URL}/sink'",
        file.display()
    ));
    assert!(got.contains("length=104857600"), "{got}");
    assert!(got.contains(want), "{got} vs {want}");
}

#[test]
fn tun_v6_pcap_holds_ipv6_packets_tshark_reads() {
    if require(&["curl", "tshark"]).is_none() {
        return;
    }
    let (ns, _log, pcap) = served6("v6pcap", "");
    ns.sh(&format!("curl -g -sS --max-time 10 -o /dev/null '{URL}/'"));
    std::thread::sleep(std::time::Duration::from_millis(300));
    // Every TCP checksum verified (the kernel's 0xffff for a zero sum is valid: RFC 1624).
    let tshark = |filter: &str| {
        ns.sh(&format!(
            "tshark -r {} -o tcp.check_checksum:TRUE -Y '{filter}' 2>/dev/null | wc -l",
            pcap.display()
        ))
    };
    let bad =
        tshark("ipv6 && (_ws.malformed || (tcp.checksum.status == 0 && tcp.checksum != 0xffff))");
    assert_eq!(
        bad.trim(),
        "0",
        "malformed or bad TCP checksums in the capture"
    );
    let good = tshark("ipv6 && tcp.checksum.status == 1");
    assert!(
        good.trim().parse::<u32>().unwrap() >= 6,
        "{good} verified IPv6 segments"
    );
    let out = ns.sh(&format!(
        "tshark -r {} -Y 'ipv6.src == fd66::2 && tcp.flags.syn == 1' -T fields -e ipv6.flow 2>/dev/null",
        pcap.display()
    ));
    let flow = out.trim();
    assert!(
        !flow.is_empty() && flow != "0x00000" && flow != "0x00000000",
        "flow label: {out:?}"
    );
}

/// The largest IPv6 payload length in `pcap` from `src`, 0 if none.
fn largest_plen(ns: &Netns, pcap: &std::path::Path, src: &str) -> u32 {
    largest_field(ns, pcap, &format!("ipv6.src == {src}"), "ipv6.plen")
}

#[test]
fn tun_v6_offload_super_segments_cross_the_tun_both_ways() {
    if require(&["curl", "tshark", "head"]).is_none() {
        return;
    }
    for offload in ["on", "off"] {
        let (ns, _log, pcap) = served6(&format!("v6tso{offload}"), &format!("--offload {offload}"));
        let file = ns.dir.join("up.bin");
        ns.sh(&format!("head -c 4000000 /dev/zero > {}", file.display()));
        ns.sh(&format!(
            "curl -g -sS --max-time 60 -o /dev/null '{URL}/bytes/4000000' && \
             curl -g -sS --max-time 60 -o /dev/null --data-binary @{} \
             -H 'Content-Type: application/octet-stream' '{URL}/sink'",
            file.display()
        ));
        std::thread::sleep(std::time::Duration::from_millis(300));
        let (ours, theirs) = (
            largest_plen(&ns, &pcap, "fd66::2"),
            largest_plen(&ns, &pcap, "fd66::1"),
        );
        if offload == "on" {
            // TSO6 out (GSO TCPV6) and the kernel's super-segments in.
            assert!(ours > 1460 && theirs > 1460, "ours {ours}, theirs {theirs}");
        } else {
            // MTU 1500: at most 1460 bytes after the IPv6 header.
            assert!(
                ours <= 1460 && theirs <= 1460,
                "ours {ours}, theirs {theirs}"
            );
        }
    }
}

#[test]
fn tun_v6_get_from_python_http_server_on_ipv6_is_byte_exact() {
    if require(&["python3", "head", "sha256sum"]).is_none() {
        return;
    }
    let mut ns = Netns::new("v6get");
    let www = ns.dir.join("www");
    let want = tun::random_file(&ns, &www, "f.bin", 8_000_000);
    // Bound to `::` before `get` creates the device (and the kernel's fd66::1 on it).
    let py_log = tun::python_http_server(&mut ns, &www, "::", "::1");
    let out = ns.dir.join("got.bin");
    let get_log = ns.dir.join("get.log");
    let status = ns
        .cmd(env!("CARGO_BIN_EXE_tuntcp"))
        .args([
            "get",
            "--connect-timeout",
            "20",
            "http://[fd66::1]:8000/f.bin",
            "-o",
        ])
        .arg(&out)
        .stderr(std::fs::File::create(&get_log).unwrap())
        .status()
        .unwrap();
    let get_text = std::fs::read_to_string(&get_log).unwrap_or_default();
    assert!(status.success(), "{get_text}");
    assert!(get_text.contains("HTTP 200, 8000000 bytes"), "{get_text}");
    let got = ns.sh(&format!("sha256sum {}", out.display()));
    assert_eq!(got.split_whitespace().next().unwrap(), want);
    // The server saw the request come from the stack's IPv6 address.
    let served = std::fs::read_to_string(&py_log).unwrap();
    assert!(
        served
            .lines()
            .any(|l| l.starts_with("fd66::2 ") && l.contains("\"GET /f.bin HTTP/1.1\" 200")),
        "{served}"
    );
}
