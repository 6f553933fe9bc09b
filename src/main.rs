//! The `tuntcp` binary: run the stack on a TUN device and serve or fetch over it.
//!
//! - `tuntcp serve`: HTTP/1.1 on port 80, echo on 7, discard on 9, inside the event loop
//!   (`--threaded`: over the socket API, with threads).
//! - `tuntcp get URL [-o FILE]`: an HTTP GET from a kernel server, over our stack.
//! - `tuntcp decode`: print one raw IPv4 packet (stdin) as a packet-log line.
//!
//! `-v` prints every segment in and out and every state change, with relative times.

mod cli_nstat;

use clap::{Args, Parser, Subcommand};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::process::ExitCode;
use tuntcp::api::{random_seed, NetConfig, NetStack, Parking, TcpListener, TcpStream};
use tuntcp::apps::{http, inloop, simple};
use tuntcp::device::tun::TunConfig;
use tuntcp::service::Service;
use tuntcp::stack::{report, StackConfig};

#[derive(Parser)]
#[command(
    name = "tuntcp",
    version,
    about = "A userspace TCP/IP stack on a Linux TUN device"
)]
struct Cli {
    /// More output: -v logs every segment and state change, -vv everything.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP on port 80 (GET /, GET /bytes/N, POST /sink), echo on 7, discard on 9.
    Serve {
        #[command(flatten)]
        net: NetArgs,
        /// Serve through the socket API with threads (accept threads, a pool of 128 HTTP
        /// workers, idle connections parked) instead of inside the event loop (the default).
        #[arg(long)]
        threaded: bool,
    },
    /// Fetch a URL (http://IPv4[:port]/path) over the stack; the body goes to stdout or -o.
    Get {
        url: String,
        /// Write the body to this file instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        net: NetArgs,
    },
    /// Read one raw IPv4 packet from stdin and print its packet-log line.
    Decode,
    /// Sockets of a running stack, like `ss -tn` (-l listeners, -a all, -i TCP internals, -s summary).
    Ss {
        #[arg(short, long)]
        listening: bool,
        #[arg(short, long)]
        all: bool,
        #[arg(short, long)]
        info: bool,
        #[arg(short, long)]
        summary: bool,
        #[command(flatten)]
        ctl: ControlArgs,
    },
    /// Counters of a running stack, named and shown like `nstat`: the change since this
    /// user's last call (history in $TUNTCP_NSTAT_HISTORY or /tmp), everything at first.
    Nstat {
        #[command(flatten)]
        flags: cli_nstat::NstatFlags,
        #[command(flatten)]
        ctl: ControlArgs,
    },
}

#[derive(Args, Clone)]
struct ControlArgs {
    /// The device of the running stack (its control socket is /run/tuntcp/DEVICE.sock).
    #[arg(long, default_value = "tun0")]
    tun: String,
    /// The control socket, if not the default for --tun.
    #[arg(long)]
    control: Option<PathBuf>,
}

impl ControlArgs {
    fn path(&self) -> PathBuf {
        self.control
            .clone()
            .unwrap_or_else(|| control_path(&self.tun))
    }
}

fn control_path(tun: &str) -> PathBuf {
    PathBuf::from(format!("/run/tuntcp/{tun}.sock"))
}

#[derive(Args, Clone)]
struct NetArgs {
    /// TUN device to create.
    #[arg(long, default_value = "tun0")]
    tun: String,
    /// The stack's own address.
    #[arg(long, default_value = "10.66.0.2")]
    addr: Ipv4Addr,
    /// The kernel's address on the TUN link, with prefix length.
    #[arg(long, default_value = "10.66.0.1/24")]
    host: String,
    #[arg(long, default_value_t = 1500)]
    mtu: usize,
    /// Record every packet to this pcap file (LINKTYPE_RAW; opens in tshark/Wireshark).
    #[arg(long)]
    pcap: Option<PathBuf>,
    /// Seed for ISN secrets and port choice (default: from /dev/urandom). Fix it to replay.
    #[arg(long)]
    seed: Option<u64>,
    /// Seeded impairment between the device and the stack, both directions, e.g.
    /// `loss=5%,delay=20ms,jitter=5ms,reorder=2%,dup=1%,corrupt=0.1%,seed=7`.
    #[arg(long)]
    impair: Option<tuntcp::device::impair::ImpairConfig>,
    /// Congestion control: cubic (default, as Linux) or newreno.
    #[arg(long, default_value = "cubic")]
    cc: tuntcp::tcp::congestion::Algorithm,
    /// HyStart++ (RFC 9406) slow-start exit.
    #[arg(long)]
    hystart: bool,
    /// Control socket for `tuntcp ss` / `tuntcp nstat` (default /run/tuntcp/DEVICE.sock).
    #[arg(long)]
    control: Option<PathBuf>,
    /// TUN offloads (IFF_VNET_HDR: checksum offload, TSO/GSO super-segments both ways),
    /// like `ethtool -K DEV tso on tx on`; off under --impair.
    #[arg(long, default_value = "on", value_parser = on_off, action = clap::ArgAction::Set)]
    offload: bool,
    /// Busy polling in microseconds, like `net.core.busy_poll` (50 is the value the kernel's
    /// documentation suggests): after traffic the event loop keeps polling the TUN instead
    /// of sleeping (lower latency; CPU only while traffic flows); 0 = off.
    #[arg(long, default_value_t = 50, value_name = "USECS")]
    busy_poll: u64,
    /// Receive buffer per connection in bytes (the window we can advertise), like the
    /// default of `tcp_rmem`.
    #[arg(long, default_value_t = 256 * 1024)]
    rmem: usize,
    /// Send buffer per connection in bytes, like the default of `tcp_wmem`.
    #[arg(long, default_value_t = 256 * 1024)]
    wmem: usize,
}

fn on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("expected on or off, not {s:?}")),
    }
}

impl NetArgs {
    fn config(&self) -> Result<NetConfig, String> {
        let (host, prefix) = match self.host.split_once('/') {
            Some((a, p)) => (
                a,
                p.parse::<u8>().map_err(|e| format!("--host prefix: {e}"))?,
            ),
            None => (self.host.as_str(), 24),
        };
        let host_addr: Ipv4Addr = host.parse().map_err(|e| format!("--host: {e}"))?;
        if prefix > 30 {
            return Err("--host prefix must be 30 or shorter".into());
        }
        if !(576..=65535).contains(&self.mtu) {
            return Err("--mtu must be in 576..=65535".into());
        }
        for (name, v) in [("--rmem", self.rmem), ("--wmem", self.wmem)] {
            if !(4096..=64 << 20).contains(&v) {
                return Err(format!("{name} must be in 4096..=67108864"));
            }
        }
        Ok(NetConfig {
            tun: TunConfig {
                name: self.tun.clone(),
                host_addr,
                prefix_len: prefix,
                mtu: self.mtu,
                offload: self.offload,
            },
            stack: StackConfig {
                addr: self.addr,
                prefix_len: prefix,
                mtu: self.mtu,
                seed: self.seed.unwrap_or_else(random_seed),
                tcp: tuntcp::tcp::Config {
                    congestion: self.cc,
                    hystart: self.hystart,
                    recv_buffer: self.rmem,
                    send_buffer: self.wmem,
                    ..tuntcp::tcp::Config::default()
                },
                ..StackConfig::default()
            },
            pcap: self.pcap.clone(),
            impair: self.impair.clone(),
        })
    }

    fn start(&self) -> Result<NetStack, String> {
        self.start_with(None)
    }

    fn start_with(&self, service: Option<Box<dyn Service>>) -> Result<NetStack, String> {
        let cfg = self.config()?;
        let net = NetStack::tun_with(cfg, service)
            .map_err(|e| format!("starting the stack on {}: {e} (root needed)", self.tun))?;
        net.set_busy_poll(std::time::Duration::from_micros(self.busy_poll));
        Ok(net)
    }
}

fn init_logging(verbose: u8) {
    let clock = tuntcp::runtime::Clock::new();
    let default = match verbose {
        0 => "warn",
        1 => "info,tuntcp=debug",
        _ => "trace",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default))
        .format(move |f, rec| writeln!(f, "{:>10} {}", clock.now().to_string(), rec.args()))
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let r = match cli.cmd {
        Command::Serve { net, threaded } => {
            if threaded {
                serve_threaded(&net)
            } else {
                serve(&net)
            }
        }
        Command::Get { url, output, net } => get(&url, output, &net),
        Command::Decode => decode(),
        Command::Ss {
            listening,
            all,
            info,
            summary,
            ctl,
        } => {
            let mut cmd = String::from("ss");
            for (on, flag) in [
                (listening, " -l"),
                (all, " -a"),
                (info, " -i"),
                (summary, " -s"),
            ] {
                if on {
                    cmd.push_str(flag);
                }
            }
            query(&ctl.path(), &cmd)
        }
        Command::Nstat { flags, ctl } => cli_nstat::run(&ctl.path(), flags),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tuntcp: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Opens the control socket for `tuntcp ss`/`nstat` and says what is served.
fn announce(args: &NetArgs, net: &std::sync::Arc<NetStack>, how: &str) {
    let ctl = args
        .control
        .clone()
        .unwrap_or_else(|| control_path(&args.tun));
    match control_socket(&ctl, net.clone()) {
        Ok(()) => log::info!("control socket {}", ctl.display()),
        Err(e) => eprintln!("tuntcp: no control socket at {}: {e}", ctl.display()),
    }
    eprintln!(
        "tuntcp: serving HTTP on {}:80, echo on 7, discard on 9 (device {}, kernel side {}; {how})",
        args.addr, args.tun, args.host
    );
}

/// The apps inside the runtime's event loop (`apps::inloop`): no thread per connection.
fn serve(args: &NetArgs) -> Result<(), String> {
    let servers = inloop::Servers::new(inloop::InLoopConfig::default());
    let net = std::sync::Arc::new(args.start_with(Some(Box::new(servers)))?);
    announce(args, &net, "in the event loop");
    // The runtime thread does the work; this one keeps the stack alive.
    loop {
        std::thread::park();
    }
}

/// The apps over the socket API: accept threads, a pool of HTTP workers, parking.
fn serve_threaded(args: &NetArgs) -> Result<(), String> {
    let net = std::sync::Arc::new(args.start()?);
    let stack_name = concat!("tuntcp ", env!("CARGO_PKG_VERSION"));
    let http_l = TcpListener::bind(&net, 80, 1024).map_err(|e| e.to_string())?;
    let echo_l = TcpListener::bind(&net, 7, 128).map_err(|e| e.to_string())?;
    let discard_l = TcpListener::bind(&net, 9, 128).map_err(|e| e.to_string())?;
    announce(args, &net, "threaded");
    let parking = Parking::new(&net);
    let (work_tx, work_rx) = std::sync::mpsc::channel::<TcpStream>();
    let work_rx = std::sync::Mutex::new(work_rx);
    std::thread::scope(|scope| {
        scope.spawn(|| accept_loop(&echo_l, |mut s| drop(simple::echo(&mut s))));
        scope.spawn(|| accept_loop(&discard_l, |mut s| drop(simple::discard(&mut s))));
        // HTTP: a pool of workers serves readable connections; an idle keep-alive
        // connection is parked (no thread) until its next request arrives.
        for _ in 0..HTTP_WORKERS {
            let (parking, work_rx, work_tx) = (&parking, &work_rx, work_tx.clone());
            scope.spawn(move || loop {
                let next = work_rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                let Ok(s) = next else { return };
                if let Some(ready) = serve_http(s, stack_name, parking) {
                    let _ = work_tx.send(ready);
                }
            });
        }
        let dispatch_tx = work_tx.clone();
        let parking = &parking;
        scope.spawn(move || loop {
            for s in parking.wait() {
                if dispatch_tx.send(s).is_err() {
                    return;
                }
            }
        });
        loop {
            match http_l.accept() {
                // A new connection waits parked for its first request.
                Ok((s, _)) => {
                    if let Some(ready) = parking.park(s) {
                        let _ = work_tx.send(ready);
                    }
                }
                Err(e) => {
                    log::warn!("accept: {e}");
                    break;
                }
            }
        }
    });
    Ok(())
}

/// HTTP worker threads (each streams one response at a time).
const HTTP_WORKERS: usize = 128;

/// Serves what a readable connection has asked; returns it if it is ready again at once,
/// parks it when idle, or closes it.
fn serve_http(mut s: TcpStream, stack_name: &'static str, parking: &Parking) -> Option<TcpStream> {
    let (Ok(local), Ok(peer)) = (s.local_addr(), s.peer_addr()) else {
        return None;
    };
    let info = http::ConnInfo {
        local,
        peer,
        stack: stack_name,
    };
    // A short wait for the next pipelined or keep-alive request, then park.
    let _ = s.set_read_timeout(Some(std::time::Duration::from_millis(20)));
    match http::serve_connection(&mut s, &info, &http::HttpConfig::default()) {
        Ok(stats) if stats.parked => {
            let _ = s.set_read_timeout(None);
            return parking.park(s);
        }
        Ok(_) => {}
        Err(e) => log::info!("{peer}: {e}"),
    }
    // RFC 9112 §9.6 lingering close: FIN first, then drain what the client still sends, so
    // unread bytes do not turn the close into a RST.
    let _ = s.shutdown(std::net::Shutdown::Write);
    let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(1)));
    let _ = simple::discard(&mut s);
    None
}

/// Serves `ss ...` and `nstat` requests (one line in, the report out) on a Unix socket.
fn control_socket(path: &std::path::Path, net: std::sync::Arc<NetStack>) -> io::Result<()> {
    use std::os::unix::net::UnixListener;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)?;
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut line = String::new();
            if io::BufRead::read_line(&mut io::BufReader::new(&conn), &mut line).is_err() {
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            let reply = match words.first() {
                Some(&"ss") => {
                    let has = |f: &str| words.contains(&f);
                    let opts = report::SsOptions {
                        listening: has("-l"),
                        all: has("-a"),
                        info: has("-i"),
                        summary: has("-s"),
                    };
                    let now = net.now();
                    net.with_stack(|s| report::ss(s, opts, now))
                }
                // Absolute: the history is the client's (cli_nstat).
                Some(&"nstat") => report::nstat_dump(&net.with_stack(|s| s.counters())),
                _ => "unknown request: try `ss [-l] [-a] [-i] [-s]` or `nstat`\n".to_string(),
            };
            let _ = conn.write_all(reply.as_bytes());
        }
    });
    Ok(())
}

/// Sends one request to a running stack's control socket and prints the reply.
fn query(path: &std::path::Path, request: &str) -> Result<(), String> {
    let mut s = std::os::unix::net::UnixStream::connect(path)
        .map_err(|e| format!("{}: {e} (is `tuntcp serve` running?)", path.display()))?;
    writeln!(s, "{request}").map_err(|e| e.to_string())?;
    s.shutdown(std::net::Shutdown::Write)
        .map_err(|e| e.to_string())?;
    let mut reply = String::new();
    s.read_to_string(&mut reply).map_err(|e| e.to_string())?;
    print!("{reply}");
    Ok(())
}

/// One thread per connection (bounded by the listen backlog and the peers' patience).
fn accept_loop(l: &TcpListener, handler: impl Fn(TcpStream) + Send + Sync + Copy + 'static) {
    loop {
        match l.accept() {
            Ok((s, _)) => {
                // Small stacks: the handlers keep their buffers on the heap, and a busy
                // server may hold tens of thousands of connections.
                let spawned = std::thread::Builder::new()
                    .stack_size(128 * 1024)
                    .spawn(move || handler(s));
                if let Err(e) = spawned {
                    log::warn!("no thread for a connection: {e}");
                }
            }
            Err(e) => {
                log::warn!("accept: {e}");
                return;
            }
        }
    }
}

/// Splits `http://a.b.c.d[:port]/path`.
fn parse_url(url: &str) -> Result<(SocketAddrV4, String), String> {
    let rest = url.strip_prefix("http://").ok_or("only http:// URLs")?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|e| format!("port: {e}"))?),
        None => (hostport, 80),
    };
    let ip: Ipv4Addr = host
        .parse()
        .map_err(|_| format!("{host}: an IPv4 address is needed (no DNS)"))?;
    Ok((SocketAddrV4::new(ip, port), path.to_string()))
}

fn get(url: &str, output: Option<PathBuf>, args: &NetArgs) -> Result<(), String> {
    let (addr, path) = parse_url(url)?;
    let net = args.start()?;
    let mut s = TcpStream::connect(&net, addr).map_err(|e| format!("connect {addr}: {e}"))?;
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: tuntcp\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut out: Box<dyn Write> = match &output {
        Some(p) => Box::new(io::BufWriter::new(
            std::fs::File::create(p).map_err(|e| e.to_string())?,
        )),
        None => Box::new(io::stdout().lock()),
    };
    let (status, n) = tuntcp::apps::client::read_response(&mut s, &mut out)
        .map_err(|e| format!("reading the response: {e}"))?;
    out.flush().map_err(|e| e.to_string())?;
    eprintln!("tuntcp: {url}: HTTP {status}, {n} bytes");
    drop(s);
    // Let the close handshake finish (our FIN acknowledged) before the device goes away.
    for _ in 0..200 {
        if net.with_stack(|st| {
            st.connections().all(|(_, c)| {
                !c.state().is_synchronized() || c.state() == tuntcp::tcp::State::TimeWait
            })
        }) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(format!("HTTP status {status}"))
    }
}

fn decode() -> Result<(), String> {
    let mut buf = Vec::new();
    io::stdin()
        .read_to_end(&mut buf)
        .map_err(|e| e.to_string())?;
    let p = tuntcp::wire::Packet::parse(&buf).map_err(|e| e.to_string())?;
    println!("{p}");
    Ok(())
}
