//! Watching real connections (issue 20, root): `serve --step` answered from a file of
//! keys, `get --trace` against a kernel server, a Linux connection captured with tcpdump
//! and replayed through the stack, and the plot of a lossy download rendered by headless
//! Chromium.
//!
//! Each test creates its own namespace and removes it; nothing is sent outside it. In CI
//! (`CI=true`) a missing tool or privilege fails the test.

mod support;

use std::path::Path;
use std::time::Duration;
use support::netns::{require, Netns};
use tuntcp::replay::{replay, Role};
use tuntcp::stack::StackConfig;
use tuntcp::trace::TraceRecord;

const BIN: &str = env!("CARGO_BIN_EXE_tuntcp");

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// `serve --step` with its keys from a file: the first stops are the handshake, each with
/// the packet line and the TCB; `c` runs to the next state change and `q` lets the rest of
/// the exchange run (curl gets its page).
#[test]
fn tun_see_serve_step_shows_each_segment_and_the_tcb() {
    if require(&["curl"]).is_none() {
        return;
    }
    let mut ns = Netns::new("step");
    let keys = ns.dir.join("keys");
    // SYN in, SYN-ACK out, ACK in: n, n, c; then q at the first stop in ESTABLISHED.
    std::fs::write(&keys, "n\nn\nc\nq\n").unwrap();
    let log = ns.dir.join("serve.log");
    ns.start_tuntcp(&format!("serve --seed 1 --step < {}", keys.display()), &log);
    let page = ns.sh("curl -sS --max-time 10 http://10.66.0.2/");
    assert!(page.contains("tuntcp"), "{page}");
    let out = read(&log);
    assert!(
        out.contains("The kernel peer's clock keeps running while we wait"),
        "{out}"
    );
    let stops: Vec<&str> = out
        .split(tuntcp::step::PROMPT)
        .filter(|s| s.contains(" in  ") || s.contains(" out "))
        .collect();
    assert_eq!(stops.len(), 4, "{out}");
    assert!(stops[0].contains("[S] seq") && stops[0].contains("no connection"));
    assert!(stops[1].contains("[S.] seq") && stops[1].contains("SYN-RECEIVED  SND.UNA"));
    assert!(stops[1].contains("timers: rto 1000.000ms"), "{}", stops[1]);
    assert!(stops[2].contains(" in  ") && stops[2].contains("SYN-RECEIVED"));
    // After `c`: the first segment seen in ESTABLISHED (the request), then `q`.
    assert!(stops[3].contains(" in  ") && stops[3].contains("ESTABLISHED  SND.UNA"));
    assert!(stops[3].contains("srtt ") && !stops[3].contains("srtt -"));
}

/// `get --trace` against python's http.server: a record per ACK, in ESTABLISHED, whose
/// SND.UNA climbs to the end of the request (a client sends little; the trace is the
/// sender's state of our side).
#[test]
fn tun_see_get_trace_records_the_senders_state_live() {
    if require(&["python3"]).is_none() {
        return;
    }
    let mut ns = Netns::new("gettrace");
    let www = ns.dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("f.bin"), vec![7u8; 200_000]).unwrap();
    let py_log = ns.dir.join("http.log");
    ns.spawn(
        &format!(
            "python3 -m http.server 8000 --bind 0.0.0.0 --directory {}",
            www.display()
        ),
        &py_log,
    );
    ns.wait_for(
        "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", 8000)).close()'",
        &py_log,
    );
    let trace = ns.dir.join("get.trace");
    let got = ns.dir.join("got.bin");
    let out = ns
        .cmd(BIN)
        .args(["get", "--max-time", "20", "--seed", "1", "--trace"])
        .arg(&trace)
        .args(["http://10.66.0.1:8000/f.bin", "-o"])
        .arg(&got)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::metadata(&got).unwrap().len(), 200_000);
    let text = read(&trace);
    assert!(
        text.starts_with("{\"t\":0.000000,\"event\":\"start\""),
        "{text}"
    );
    let recs: Vec<TraceRecord> = text.lines().filter_map(TraceRecord::from_json).collect();
    assert!(!recs.is_empty(), "{text}");
    let first = &recs[0];
    assert_eq!(first.remote.to_string(), "10.66.0.1:8000");
    // Our SYN acknowledged by the SYN-ACK: the first record, one byte, an RTT sample.
    assert_eq!(first.event, tuntcp::trace::TraceEvent::Ack { acked: 1 });
    assert!(first.srtt.is_some());
    // Our request (the only data we send) acknowledged in full: nothing in flight after.
    let acked: u32 = recs
        .iter()
        .map(|r| match r.event {
            tuntcp::trace::TraceEvent::Ack { acked } => acked,
            _ => 0,
        })
        .sum();
    let last = recs.last().unwrap();
    assert_eq!(
        last.snd_una.wrapping_sub(first.snd_una),
        acked - 1,
        "{text}"
    );
    assert!(acked > 1, "the request was acknowledged: {text}");
}

/// A kernel client and a kernel echo server (python) on two addresses of the namespace's
/// loopback (MTU 1500, one segment per GSO packet, so the capture holds wire-sized
/// segments), captured with tcpdump, replayed with our stack in the server's place.
#[test]
fn tun_see_replay_of_a_linux_echo_capture_lists_the_differences() {
    if require(&["python3", "tcpdump"]).is_none() {
        return;
    }
    let mut ns = Netns::new("lxreplay");
    ns.sh(
        "ip link set lo mtu 1500 gso_max_segs 1 && ip addr add 10.77.0.1/32 dev lo && \
         ip addr add 10.77.0.2/32 dev lo",
    );
    let echo = ns.dir.join("echo.py");
    std::fs::write(
        &echo,
        "import socket\n\
         s = socket.socket()\n\
         s.bind(('10.77.0.2', 7)); s.listen(1)\n\
         c, _ = s.accept()\n\
         while True:\n    b = c.recv(65536)\n    if not b: break\n    c.sendall(b)\n\
         c.close()\n",
    )
    .unwrap();
    let client = ns.dir.join("client.py");
    std::fs::write(
        &client,
        "import socket\n\
         c = socket.socket(); c.bind(('10.77.0.1', 0)); c.connect(('10.77.0.2', 7))\n\
         c.sendall(b'x' * 20000); c.shutdown(socket.SHUT_WR)\n\
         n = 0\n\
         while True:\n    b = c.recv(65536)\n    if not b: break\n    n += len(b)\n\
         print(n)\n",
    )
    .unwrap();
    let py_log = ns.dir.join("echo.log");
    ns.spawn(&format!("python3 {}", echo.display()), &py_log);
    ns.wait_for("ss -ltn | grep -q '10.77.0.2:7 '", &py_log);
    let cap = ns.dir.join("linux.pcap");
    let td_log = ns.dir.join("tcpdump.log");
    let td = ns.spawn(
        &format!(
            "tcpdump -Z root --immediate-mode -B 65536 -U -i lo -w {} 'tcp port 7'",
            cap.display()
        ),
        &td_log,
    );
    ns.wait_for(
        &format!("grep -q 'listening on' {}", td_log.display()),
        &td_log,
    );
    let got = ns.sh(&format!("python3 {}", client.display()));
    assert_eq!(got.trim(), "20000");
    // The capture is complete once tcpdump has seen the last ACK: stop it and read it.
    std::thread::sleep(Duration::from_millis(300));
    ns.kill(td, "INT");
    assert!(
        ns.wait_exit(td, Duration::from_secs(10)).is_some(),
        "tcpdump did not stop"
    );
    let td_said = read(&td_log);
    assert!(
        td_said.lines().any(|l| l == "0 packets dropped by kernel"),
        "{td_said}"
    );
    let pcap = std::fs::read(&cap).unwrap();

    let cfg = StackConfig {
        mtu: 1500,
        ..StackConfig::with_seed(1)
    };
    let r = replay(&pcap, Some(7), Role::Server, cfg).expect("replay");
    let text = r.text();
    println!("{text}");
    assert_eq!(r.us.to_string(), "10.77.0.2:7");
    // The handshake rows line up: both ends answer the SYN with a SYN-ACK at 0, each
    // with its own window and options (Linux: wscale 7 or more and a window of whole
    // MSS; ours: 64512 and wscale 7, the auto-tuned buffer's first 64 KiB in units of the
    // scale tcp_rmem's maximum gives), so the row is marked.
    let first = &r.rows[0];
    let (c, o) = (
        first.capture.as_ref().unwrap(),
        first.ours.as_ref().unwrap(),
    );
    assert!(
        c.flags.syn() && c.flags.ack() && o.flags.syn() && o.flags.ack(),
        "{text}"
    );
    assert_eq!(
        (c.seq, c.ack, o.seq, o.ack),
        (0, Some(1), 0, Some(1)),
        "{text}"
    );
    assert_eq!(o.win, 64512);
    assert_ne!(c.win, o.win, "{text}");
    // Both echo the 20,000 bytes and close after the client's FIN.
    for side in [
        r.rows
            .iter()
            .filter_map(|r| r.capture.as_ref())
            .collect::<Vec<_>>(),
        r.rows
            .iter()
            .filter_map(|r| r.ours.as_ref())
            .collect::<Vec<_>>(),
    ] {
        assert_eq!(side.iter().map(|s| s.len).sum::<u32>(), 20_000, "{text}");
        assert!(side.iter().any(|s| s.flags.fin()), "{text}");
    }
    // The differences are listed, row by row.
    assert!(r.differences() > 0);
    assert_eq!(
        text.lines().filter(|l| l.starts_with('!')).count(),
        r.differences(),
        "{text}"
    );
}

/// The plot of a lossy download (`--impair loss=2%`, seeded) rendered by headless
/// Chromium: the PNG exists and shows the plot's colours, not one blank colour.
#[test]
fn tun_see_plot_of_a_lossy_download_draws_in_chromium() {
    if require(&["curl", "chromium"]).is_none() {
        return;
    }
    let mut ns = Netns::new("plot");
    let (pcap, trace) = (ns.dir.join("s.pcap"), ns.dir.join("s.trace"));
    let log = ns.dir.join("serve.log");
    let pid = ns.start_tuntcp(
        &format!(
            "serve --seed 1 --impair loss=2%,delay=5ms,seed=3 --pcap {} --trace {}",
            pcap.display(),
            trace.display()
        ),
        &log,
    );
    ns.sh("curl -sS --max-time 60 -o /dev/null http://10.66.0.2/bytes/300000");
    ns.kill(pid, "TERM");
    assert!(ns.wait_exit(pid, Duration::from_secs(10)).is_some());
    let svg = ns.dir.join("s.svg");
    let out = std::process::Command::new(BIN)
        .arg("plot")
        .arg(&pcap)
        .arg("--trace")
        .arg(&trace)
        .arg("-o")
        .arg(&svg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let drawn = read(&svg);
    // The impairment is seeded per packet: the same first packets are lost every run.
    let title = drawn.split(" retransmitted").next().unwrap_or("");
    let n: u32 = title
        .rsplit(", ")
        .next()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0);
    assert!(n > 0, "no retransmission drawn: {title}");
    // The cwnd cut: a record with ssthresh set.
    assert!(read(&trace)
        .lines()
        .filter_map(TraceRecord::from_json)
        .any(|r| r.ssthresh.is_some()));

    let png = ns.dir.join("s.png");
    let (w, h) = svg_size(&drawn);
    // --no-sandbox: root cannot use Chromium's sandbox. Outside the namespace (no network
    // needed): it reads a local file.
    let out = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .arg(format!("--window-size={w},{h}"))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", svg.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success() && png.exists(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoder = png::Decoder::new(std::fs::File::open(&png).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (w, h));
    let px = info.line_size * info.height as usize / (info.width * info.height) as usize;
    assert!(px >= 3, "{:?}", info.color_type);
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(px).collect();
    let white = pixels.iter().filter(|p| p[..3] == [255, 255, 255]).count();
    let near = |c: [u8; 3]| {
        pixels
            .iter()
            .filter(|p| p[..3].iter().zip(c).all(|(&a, b)| a.abs_diff(b) < 40))
            .count()
    };
    // Mostly white paper, but not only: ink, the retransmissions' red, cwnd's blue, the
    // ACK line's green (thin lines: their pixels are fewer and blended at the edges).
    assert!(white > pixels.len() / 2, "{white} of {}", pixels.len());
    assert!(
        white < pixels.len() * 99 / 100,
        "blank: {white} of {}",
        pixels.len()
    );
    assert!(near([220, 0, 0]) > 50, "no red drawn");
    assert!(near([0, 0, 255]) > 200, "no blue drawn");
    assert!(near([0, 150, 0]) > 50, "no green drawn");
}

/// The `width` and `height` of the SVG's root element.
fn svg_size(svg: &str) -> (u32, u32) {
    let attr = |name: &str| -> u32 {
        svg.split(&format!("{name}=\""))
            .nth(1)
            .and_then(|r| r.split('"').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in the SVG"))
    };
    (attr("width"), attr("height"))
}
