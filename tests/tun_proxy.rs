//! `tuntcp proxy` in namespaces (root): curl in the proxy's namespace reaches a server at
//! 198.51.100.7 through the TUN, the transparent listener and a relay.
//!
//! Set-up (no loop possible): namespace P holds the TUN (kernel side 10.66.0.1, the stack
//! 10.66.0.2) with `198.51.100.0/24 dev tun0` in its main table, and a veth to namespace S
//! (10.77.0.1 <-> 10.77.0.2) where 198.51.100.7 lives (python3 -m http.server, microsocks).
//! The proxy marks its upstream sockets (`--mark 119`) and `ip rule fwmark 119 lookup 100`
//! sends them by table 100, where the prefix is `via 10.77.0.2 dev veth-p`: curl's packets
//! go into the TUN, the proxy's out of the veth. SOCKS5 needs no mark: microsocks runs in S.

mod support;

use std::path::PathBuf;
use support::netns::{require, Netns};

const SERVER: &str = "198.51.100.7";

struct World {
    p: Netns,
    s: Netns,
    www: PathBuf,
    log: PathBuf,
    want: String,
}

/// P with the TUN and the route into it, S with the server; the proxy not started yet.
fn world(what: &str) -> World {
    let p = Netns::new(&format!("{what}-p"));
    let mut s = Netns::new(&format!("{what}-s"));
    p.sh(&format!(
        "ip link add veth-p type veth peer name veth-s netns {} && \
         ip addr add 10.77.0.1/24 dev veth-p && ip link set veth-p up && \
         ip route add 198.51.100.0/24 via 10.77.0.2 dev veth-p table 100 && \
         ip rule add fwmark 119 lookup 100",
        s.name
    ));
    s.sh(&format!(
        "ip addr add 10.77.0.2/24 dev veth-s && ip link set veth-s up && \
         ip addr add {SERVER}/32 dev lo"
    ));
    let www = s.dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    // 3 MB of random bytes (the page size does not divide it).
    s.sh(&format!(
        "head -c 3000017 /dev/urandom > {}/blob",
        www.display()
    ));
    let want = s.sh(&format!("sha256sum {}/blob", www.display()));
    let want = want.split_whitespace().next().unwrap().to_string();
    let py_log = s.dir.join("http.log");
    s.spawn(
        &format!(
            "python3 -m http.server 8000 --bind 0.0.0.0 --directory {}",
            www.display()
        ),
        &py_log,
    );
    s.wait_for(
        &format!(
            "python3 -c 'import socket; socket.create_connection((\"{SERVER}\", 8000)).close()'"
        ),
        &py_log,
    );
    let log = p.dir.join("proxy.log");
    World {
        p,
        s,
        www,
        log,
        want,
    }
}

impl World {
    fn start_proxy(&mut self, upstream: &str) {
        self.start_proxy_with(upstream, "");
    }

    fn start_proxy_with(&mut self, upstream: &str, extra: &str) {
        let idle = if extra.contains("--idle-timeout") {
            ""
        } else {
            "--idle-timeout 30"
        };
        let args = format!(
            "-v proxy --prefix 198.51.100.0/24 --upstream {upstream} --mark 119 {idle} --seed 1 {extra}"
        );
        self.p.start_tuntcp(&args, &self.log);
        self.p.sh("ip route add 198.51.100.0/24 dev tun0");
    }

    fn download(&self) -> String {
        let out = self.p.sh(&format!(
            "curl -sS --max-time 60 http://{SERVER}:8000/blob | sha256sum"
        ));
        out.split_whitespace().next().unwrap().to_string()
    }

    /// `tuntcp ss -a` in P.
    fn ss(&self) -> String {
        let bin = env!("CARGO_BIN_EXE_tuntcp");
        self.p.sh(&format!("{bin} ss -a"))
    }

    fn proxy_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

#[test]
fn tun_proxy_direct_relays_a_download_byte_exact() {
    if require(&["curl", "python3", "sha256sum"]).is_none() {
        return;
    }
    let mut w = world("pxd");
    w.start_proxy("direct");
    assert_eq!(w.download(), w.want, "log:\n{}", w.proxy_log());
    // Three more, one after the other, on fresh connections.
    for _ in 0..3 {
        assert_eq!(w.download(), w.want);
    }
    // The relayed connections were ours: the stack's table shows the server's address as
    // the local end (TIME-WAIT or closing), and none is still established.
    let ss = w.ss();
    assert!(ss.contains(&format!("{SERVER}:8000")), "{ss}");
    assert!(
        ss.lines()
            .any(|l| l.starts_with("LISTEN") && l.contains(" *:*")),
        "{ss}"
    );
    assert!(!ss.contains("ESTAB"), "{ss}");
    let _ = &w.www;
    let _ = &w.s;
}

/// A kernel server in S on port 9000 that reads until EOF, then answers with the length
/// and SHA-256 of what it read, and closes: it answers only if the client's FIN arrived.
fn start_sink(w: &mut World) {
    let script = w.s.dir.join("sink.py");
    std::fs::write(
        &script,
        "import hashlib, socket, threading\n\
         def serve(c):\n\
         \x20   h, n = hashlib.sha256(), 0\n\
         \x20   while True:\n\
         \x20       b = c.recv(65536)\n\
         \x20       if not b: break\n\
         \x20       h.update(b); n += len(b)\n\
         \x20   c.sendall(f'{n} {h.hexdigest()}\\n'.encode()); c.close()\n\
         s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind(('0.0.0.0', 9000)); s.listen(64)\n\
         while True:\n\
         \x20   c, _ = s.accept(); threading.Thread(target=serve, args=(c,)).start()\n",
    )
    .unwrap();
    let log = w.s.dir.join("sink.log");
    w.s.spawn(&format!("python3 {}", script.display()), &log);
    w.s.wait_for(
        &format!(
            "python3 -c 'import socket; socket.create_connection((\"{SERVER}\", 9000)).close()'"
        ),
        &log,
    );
}

#[test]
fn tun_proxy_half_close_carries_an_upload_and_the_answer_after_it() {
    if require(&["nc", "python3", "sha256sum", "head"]).is_none() {
        return;
    }
    let mut w = world("pxh");
    start_sink(&mut w);
    w.start_proxy("direct");
    let file = w.p.dir.join("up.bin");
    w.p.sh(&format!(
        "head -c 2000003 /dev/urandom > {}",
        file.display()
    ));
    let want = w.p.sh(&format!("sha256sum {}", file.display()));
    let want = want.split_whitespace().next().unwrap();
    // nc -N: shutdown(Write) after the file; the proxy passes the FIN on as
    // shutdown(Write) upstream, the server answers on the still open other half.
    let got = w.p.sh(&format!(
        "timeout 60 nc -N {SERVER} 9000 < {}",
        file.display()
    ));
    assert_eq!(
        got.trim(),
        format!("2000003 {want}"),
        "log:\n{}",
        w.proxy_log()
    );
}

#[test]
fn tun_proxy_200_concurrent_downloads_and_an_empty_table_after() {
    if require(&["curl", "python3", "sha256sum", "xargs"]).is_none() {
        return;
    }
    let mut w = world("pxc");
    w.s.sh(&format!(
        "head -c 65536 /dev/urandom > {}/small",
        w.www.display()
    ));
    let want = w.s.sh(&format!("sha256sum {}/small", w.www.display()));
    let want = want.split_whitespace().next().unwrap().to_string();
    // python's http.server listens with a backlog of 5: the kernel drops the upstream SYNs
    // of a burst of 200 and retries them (1, 3, 7, 15 s...); the clients' SYNs are held
    // meanwhile, so give the upstream connects room (held up to 30 + 5 s).
    w.start_proxy_with("direct", "--connect-timeout 30");
    let out = w.p.dir.join("many");
    std::fs::create_dir_all(&out).unwrap();
    let run = w.p.sh_output(&format!(
        "seq 200 | xargs -P 200 -I N curl -sS --max-time 90 -o {}/N http://{SERVER}:8000/small",
        out.display()
    ));
    if !run.status.success() {
        let log = w.proxy_log();
        let tail: Vec<&str> = log
            .lines()
            .filter(|l| !l.contains("tuntcp::packet"))
            .collect();
        panic!(
            "{}\n{}\n{}",
            String::from_utf8_lossy(&run.stderr),
            tail[tail.len().saturating_sub(300)..].join("\n"),
            w.ss()
        );
    }
    let sums = w.p.sh(&format!(
        "ls {} | wc -l; cat {}/* | wc -c; sha256sum {}/* | cut -d' ' -f1 | sort -u",
        out.display(),
        out.display(),
        out.display()
    ));
    assert_eq!(sums, format!("200\n13107200\n{want}\n"));
    // Nothing left in the stack's table: no SYN held (the listener's Recv-Q is 0) and no
    // connection but those in TIME-WAIT (RFC 9293 §3.6: ours where we closed first).
    let ss = w.ss();
    let mut listeners = 0;
    for l in ss.lines().skip(1) {
        let f: Vec<&str> = l.split_whitespace().collect();
        match f.first() {
            Some(&"LISTEN") => {
                listeners += 1;
                assert_eq!(f[1], "0", "held SYNs or queued connections left:\n{ss}");
            }
            Some(&"TIME-WAIT") => {}
            _ => panic!("left in the table: {l}\n{ss}"),
        }
    }
    assert_eq!(listeners, 1, "{ss}");
}

#[test]
fn tun_proxy_download_survives_loss_on_the_tun_side() {
    if require(&["curl", "python3", "sha256sum"]).is_none() {
        return;
    }
    let mut w = world("pxl");
    w.start_proxy_with("direct", "--impair loss=3%,seed=5");
    assert_eq!(w.download(), w.want, "log:\n{}", w.proxy_log());
    // The loss was real: the stack resent.
    let bin = env!("CARGO_BIN_EXE_tuntcp");
    let nstat = w.p.sh(&format!("{bin} nstat -a"));
    let resent: u64 = nstat
        .lines()
        .find(|l| l.starts_with("TcpRetransSegs"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(resent > 0, "{nstat}");
}

#[test]
fn tun_proxy_refused_upstream_is_a_refused_connection() {
    if require(&["curl", "python3"]).is_none() {
        return;
    }
    let mut w = world("pxr");
    w.start_proxy("direct");
    // Nothing listens on 8001 in S: the kernel refuses the upstream connect, the proxy
    // refuses the client's held SYN with a RST, and curl's connect fails as refused.
    let out = w.p.sh_output(&format!(
        "curl -sS -v --max-time 20 -o /dev/null http://{SERVER}:8001/"
    ));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{err}\n{}", w.proxy_log());
    // curl -v names the connect's errno: ECONNREFUSED, not a reset after connecting.
    assert!(err.contains("failed: Connection refused"), "{err}");
    let log = w.proxy_log();
    assert!(
        log.contains("upstream failed") && log.contains("refused"),
        "{log}"
    );
    // The packet log (-v): no SYN-ACK ever went to the client, a RST,ACK did.
    let out_of = |flags: &str| {
        log.lines()
            .filter(|l| l.contains(&format!("out {SERVER}:8001 > ")) && l.contains(flags))
            .count()
    };
    assert_eq!(out_of("[S.]"), 0, "{log}");
    assert!(out_of("[R.]") >= 1, "{log}");
}

#[test]
fn tun_proxy_socks5_relays_a_download_byte_exact() {
    if require(&["curl", "python3", "sha256sum", "microsocks"]).is_none() {
        return;
    }
    let mut w = world("pxs");
    let socks_log = w.s.dir.join("socks.log");
    w.s.spawn("microsocks -i 10.77.0.2 -p 1080", &socks_log);
    w.s.wait_for(
        "python3 -c 'import socket; socket.create_connection((\"10.77.0.2\", 1080)).close()'",
        &socks_log,
    );
    w.start_proxy("socks5://10.77.0.2:1080");
    assert_eq!(w.download(), w.want, "log:\n{}", w.proxy_log());
}

/// A client in P: connects to `port`, reads until EOF or an error, prints what it read
/// and how it ended (`eof` or `reset`) with the seconds it took.
fn client_until_end(w: &World, port: u16) -> String {
    w.p.sh(&format!(
        "python3 -c \"
import socket, time
s = socket.create_connection(('{SERVER}', {port}), timeout=30)
t, got, how = time.time(), b'', 'eof'
try:
    while True:
        b = s.recv(4096)
        if not b: break
        got += b
except ConnectionResetError:
    how = 'reset'
print(got.decode(), how, round(time.time() - t))
\""
    ))
}

#[test]
fn tun_proxy_upstream_reset_reaches_the_client_as_a_reset() {
    if require(&["python3"]).is_none() {
        return;
    }
    let mut w = world("pxrst");
    // Port 9001 in S: says hi, then closes with SO_LINGER 0 (a RST).
    let script = w.s.dir.join("rst.py");
    std::fs::write(
        &script,
        "import socket, struct, time\n\
         s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind(('0.0.0.0', 9001)); s.listen(8)\n\
         while True:\n\
         \x20   c, _ = s.accept(); c.sendall(b'hi'); time.sleep(0.5)\n\
         \x20   c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0)); c.close()\n",
    )
    .unwrap();
    let log = w.s.dir.join("rst.log");
    w.s.spawn(&format!("python3 {}", script.display()), &log);
    w.s.wait_for("ss -ltn | grep -q ':9001 '", &log);
    w.start_proxy("direct");
    let out = client_until_end(&w, 9001);
    assert!(out.starts_with("hi reset"), "{out}\n{}", w.proxy_log());
}

#[test]
fn tun_proxy_idle_timeout_resets_a_quiet_connection() {
    if require(&["python3"]).is_none() {
        return;
    }
    let mut w = world("pxidle");
    start_sink(&mut w); // waits for our EOF forever: only the idle timeout ends it
    w.start_proxy_with("direct", "--idle-timeout 2");
    let out = client_until_end(&w, 9000);
    let secs: u64 = out.split_whitespace().last().unwrap().parse().unwrap();
    assert!(
        out.starts_with(" reset") || out.starts_with("reset"),
        "{out}"
    );
    // Reset after the 2 s of quiet (checked every 0.5 s), well before the client's 30 s.
    assert!((2..=10).contains(&secs), "{out}");
}

#[test]
fn tun_proxy_an_upstream_routed_back_into_the_tun_is_caught_not_looped() {
    if require(&["curl", "python3"]).is_none() {
        return;
    }
    let mut w = world("pxloop");
    // No policy rule: the marked upstream socket follows the main table, into the TUN.
    w.p.sh("ip rule del fwmark 119 lookup 100");
    w.start_proxy("direct");
    let out = w.p.sh_output(&format!(
        "curl -sS --max-time 20 -o /dev/null http://{SERVER}:8000/blob"
    ));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(!err.contains("timed out"), "{err}");
    let log = w.proxy_log();
    assert_eq!(log.matches("routed back into the TUN").count(), 1, "{log}");
}

#[test]
fn tun_proxy_client_reset_reaches_the_upstream_as_a_reset() {
    if require(&["python3"]).is_none() {
        return;
    }
    let mut w = world("pxcrst");
    // Port 9002 in S: reads until EOF or a reset, and says which.
    let script = w.s.dir.join("ends.py");
    std::fs::write(
        &script,
        r#"import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', 9002)); s.listen(8)
while True:
    c, _ = s.accept()
    try:
        while c.recv(4096): pass
        print('eof', flush=True)
    except ConnectionResetError:
        print('reset', flush=True)
"#,
    )
    .unwrap();
    let log = w.s.dir.join("ends.log");
    w.s.spawn(&format!("python3 -u {}", script.display()), &log);
    w.s.wait_for("ss -ltn | grep -q ':9002 '", &log);
    w.start_proxy("direct");
    // The client sends, then closes with SO_LINGER 0: a RST into the TUN.
    w.p.sh(&format!(
        "python3 -c \"
import socket, struct, time
s = socket.create_connection(('{SERVER}', 9002), timeout=30)
s.sendall(b'x' * 1000); time.sleep(0.5)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0)); s.close()
\""
    ));
    w.s.wait_for(&format!("grep -q reset {}", log.display()), &log);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("eof"), "{text}");
}
