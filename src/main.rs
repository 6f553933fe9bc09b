//! The `tuntcp` binary: run the stack on a TUN device and serve or fetch over it.
//!
//! - `tuntcp serve`: HTTP/1.1 on port 80, echo on 7, discard on 9, inside the event loop
//!   (`--threaded`: over the socket API, with threads).
//! - `tuntcp get URL [-o FILE]`: an HTTP GET from a kernel server, over our stack.
//! - `tuntcp decode [--pcap FILE]`: packets (raw IPv4, hex text or a pcap file) as
//!   packet-log lines.
//! - `tuntcp ss` / `nstat`: ask a running `serve` over its control socket (`cli::control`).
//!
//! `-v` prints every segment in and out and every state change, with relative times.

mod cli;
mod cli_nstat;

use clap::{Args, Parser, Subcommand};
use cli::control::{ControlAddr, ControlSocket};
use cli::validate;
use std::io::{self, Read, Write};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;
use tuntcp::api::{NetConfig, NetStack, Parking, TcpListener, TcpStream};
use tuntcp::apps::{http, inloop, simple};
use tuntcp::device::tun::TunConfig;
use tuntcp::service::Service;
use tuntcp::stack::{report, StackConfig};

mod stopping;

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
    /// Transparent TCP relay: every TCP connection routed into the TUN to an address in a
    /// --prefix is terminated here and relayed to its destination (UDP is not relayed).
    Proxy {
        #[command(flatten)]
        net: NetArgs,
        /// Destinations to terminate (repeatable, IPv4 or IPv6), e.g. 198.51.100.0/24;
        /// route them into the TUN (`ip route add PREFIX dev tun0`).
        #[arg(long, required = true, value_name = "ADDR/LEN")]
        prefix: Vec<tuntcp::stack::Prefix>,
        /// `direct` (a kernel socket to the destination) or `socks5://HOST:PORT` (RFC 1928,
        /// no authentication).
        #[arg(long, default_value = "direct")]
        upstream: cli::proxy::Upstream,
        /// Reset a relayed connection after this many seconds with no byte either way.
        #[arg(long, value_name = "SECONDS", default_value_t = 300)]
        idle_timeout: u64,
        /// Upstream connect timeout in seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 10)]
        connect_timeout: u64,
        /// SO_MARK on upstream sockets (with `ip rule add fwmark M lookup main` or a table
        /// without the TUN routes: keeps them from looping into the TUN).
        #[arg(long, value_name = "MARK")]
        mark: Option<u32>,
        /// SO_BINDTODEVICE on upstream sockets (their way out, never the TUN).
        #[arg(long, value_name = "DEV")]
        bind_device: Option<String>,
        /// Listen backlog of the transparent listener: client SYNs held while their
        /// upstream connect is tried (beyond, SYNs are dropped and the clients retry).
        #[arg(long, default_value_t = 1024)]
        backlog: usize,
        /// Relayed connections at most (a thread each); beyond, new clients wait in
        /// the backlog.
        #[arg(long, default_value_t = 4096)]
        max_conns: usize,
        /// Control socket for `tuntcp ss` / `nstat` (as for `serve`).
        #[arg(long, value_name = "PATH")]
        control: Option<PathBuf>,
    },
    /// Serve HTTP on port 80 (GET /, GET /bytes/N, GET /zeros/N, POST or PUT /sink), echo on
    /// 7, discard on 9, until SIGINT or SIGTERM.
    Serve {
        #[command(flatten)]
        net: NetArgs,
        /// Control socket for `tuntcp ss` / `tuntcp nstat`: a socket file at this path
        /// (its directory must exist) instead of the default, the abstract socket
        /// @tuntcp/DEVICE of this network namespace.
        #[arg(long, value_name = "PATH")]
        control: Option<PathBuf>,
        /// Serve through the socket API with threads (accept threads, a pool of 128 HTTP
        /// workers, idle connections parked) instead of inside the event loop (the default).
        #[arg(long)]
        threaded: bool,
        /// On SIGINT/SIGTERM, stop accepting but let open connections finish for up to
        /// this long before resetting the rest (default: reset them at once).
        #[arg(long, value_name = "SECONDS")]
        drain: Option<u64>,
    },
    /// Fetch a URL (http://IPv4[:port]/path or http://[IPv6][:port]/path) over the stack;
    /// the body goes to stdout or -o.
    Get {
        url: String,
        /// Write the body to this file instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Give up if the connection is not established within this many seconds (like
        /// curl's; default: the stack's own limit of 3 minutes of SYN retries).
        #[arg(long, value_name = "SECONDS", value_parser = validate::parse_seconds)]
        connect_timeout: Option<std::time::Duration>,
        /// Give up if the whole transfer takes longer than this many seconds (like curl's).
        #[arg(short = 'm', long, value_name = "SECONDS", value_parser = validate::parse_seconds)]
        max_time: Option<std::time::Duration>,
        #[command(flatten)]
        net: NetArgs,
    },
    /// Print packets as packet-log lines: raw IPv4 packets (back to back), hex text
    /// (`4500 003c ...`, `45:00:...`, tcpdump -x) or a pcap file, from stdin or --pcap.
    Decode {
        /// Read this file (pcap, raw or hex) instead of stdin.
        #[arg(long, value_name = "FILE")]
        pcap: Option<PathBuf>,
    },
    /// A time-sequence graph (tcptrace style) of one connection in a pcap file, as SVG;
    /// with --trace (from `serve --trace`), cwnd, ssthresh and RTT over time below it.
    Plot {
        /// The capture (pcap: raw IP, Ethernet, Linux cooked or loopback).
        capture: PathBuf,
        /// The sender-state trace of the same run.
        #[arg(long, value_name = "FILE")]
        trace: Option<PathBuf>,
        /// The first connection with this port at either end (default: the first one).
        #[arg(long)]
        port: Option<u16>,
        /// The SVG file to write.
        #[arg(short, long, value_name = "OUT.svg")]
        output: PathBuf,
    },
    /// Feed one connection's peer packets from a pcap into the stack at their recorded
    /// times and print, side by side, what the capture's stack sent and what tuntcp sends.
    Replay {
        /// The capture (pcap: raw IP, Ethernet, Linux cooked or loopback frames).
        capture: PathBuf,
        /// The first connection with this port at either end (default: the first SYN's).
        #[arg(long)]
        port: Option<u16>,
        /// Which end tuntcp plays: server (received the SYN; runs serve's apps) or client.
        #[arg(long = "as", value_name = "server|client", default_value = "server", value_parser = parse_role)]
        role: tuntcp::replay::Role,
        /// Seed of our ISN and TSval offset (the capture's are mapped onto ours).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The link MTU our stack assumes (its MSS is MTU - 40).
        #[arg(long, default_value_t = 1500)]
        mtu: usize,
    },
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
    /// The device of the running stack in this network namespace (its control socket is
    /// the abstract @tuntcp/DEVICE).
    #[arg(long, default_value = "tun0")]
    tun: String,
    /// The control socket file, if `serve` was given --control PATH.
    #[arg(long, value_name = "PATH")]
    control: Option<PathBuf>,
}

impl ControlArgs {
    fn addr(&self) -> ControlAddr {
        ControlAddr::new(&self.tun, self.control.as_deref())
    }
}

#[derive(Args, Clone)]
struct NetArgs {
    /// TUN device to create (at most 15 bytes).
    #[arg(long, default_value = "tun0")]
    tun: String,
    /// Use the TUN device even if it already exists (e.g. made by `ip tuntap add`): its
    /// address, netmask and MTU are replaced, and stay so after exit.
    #[arg(long)]
    reuse_tun: bool,
    /// The stack's own address.
    #[arg(long, default_value = "10.66.0.2")]
    addr: Ipv4Addr,
    /// The kernel's address on the TUN link, with prefix length.
    #[arg(long, default_value = "10.66.0.1/24")]
    host: String,
    /// The stack's own IPv6 address (`off`: no IPv6).
    #[arg(long, default_value = "fd66::2")]
    addr6: String,
    /// The kernel's IPv6 address on the TUN link, with prefix length (`off`: no IPv6).
    #[arg(long, default_value = "fd66::1/64")]
    host6: String,
    #[arg(long, default_value_t = 1500)]
    mtu: usize,
    /// Record every packet to this pcap file (LINKTYPE_RAW; opens in tshark/Wireshark).
    #[arg(long)]
    pcap: Option<PathBuf>,
    /// Write the sender's state (cwnd, ssthresh, RTT, RTO, in flight, SACKed) to this file,
    /// one JSON line per ACK processed and per timer fired (see the README).
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Stop before each segment in and after each segment out, show it with the
    /// connection's TCB, and wait for a line on stdin: Enter or n (next), c (continue to
    /// the next state change), q (run freely). The kernel peer's clock keeps running.
    #[arg(long)]
    step: bool,
    /// Seed of every secret: ISNs, SYN cookies, ports, TSval offsets (default: from the OS).
    /// Fix it to replay a run; a fixed seed makes those secrets guessable.
    #[arg(long)]
    seed: Option<u64>,
    /// Seeded impairment between the device and the stack, both directions, e.g.
    /// `loss=5%,delay=20ms,jitter=5ms,reorder=2%,dup=1%,corrupt=0.1%,seed=7`.
    #[arg(long)]
    impair: Option<tuntcp::device::impair::ImpairConfig>,
    /// Congestion control: cubic (default, as Linux), newreno or bbr (BBR v1, paced).
    #[arg(long, default_value = "cubic")]
    cc: tuntcp::tcp::congestion::Algorithm,
    /// Pacing, like Linux's internal TCP pacing: auto (only a controller that asks, i.e.
    /// BBR, as Linux without the fq qdisc), on (every controller, 2x cwnd/srtt in slow
    /// start, 1.2x after) or off.
    #[arg(long, default_value = "auto", value_name = "auto|on|off")]
    pacing: tuntcp::tcp::Pacing,
    /// HyStart++ (RFC 9406) slow-start exit.
    #[arg(long)]
    hystart: bool,
    /// Loss detection, like `tcp_recovery`: 1 = RACK-TLP (RFC 8985, with SACK), 5 = RACK-TLP
    /// without the DupThresh rule (Linux's bit 4), 0 = RFC 6675 DupThresh only, without tail
    /// loss probes.
    #[arg(long, default_value_t = 1)]
    recovery: u8,
    /// TUN offloads (IFF_VNET_HDR: checksum offload, TSO/GSO super-segments both ways),
    /// like `ethtool -K DEV tso on tx on`; off under --impair.
    #[arg(long, default_value = "on", value_parser = on_off, action = clap::ArgAction::Set)]
    offload: bool,
    /// Busy polling in microseconds, like `net.core.busy_poll` (50 is the value the kernel's
    /// documentation suggests): after traffic the event loop keeps polling the TUN instead
    /// of sleeping (lower latency; CPU only while traffic flows); 0 = off.
    #[arg(long, default_value_t = 50, value_name = "USECS")]
    busy_poll: u64,
    /// Receive buffer per connection: BYTES, a fixed buffer (the window we can advertise,
    /// like SO_RCVBUF), or MIN,DEF,MAX as `tcp_rmem` reads, auto-tuned (default
    /// 4096,131072,6291456: a 64 KiB window growing to 3 MiB as the application reads).
    #[arg(long, value_name = "BYTES|MIN,DEF,MAX", value_parser = validate::parse_buf)]
    rmem: Option<validate::BufSpec>,
    /// Send buffer per connection: BYTES (fixed, like SO_SNDBUF) or MIN,DEF,MAX as
    /// `tcp_wmem` reads, grown with cwnd (default 4096,16384,4194304).
    #[arg(long, value_name = "BYTES|MIN,DEF,MAX", value_parser = validate::parse_buf)]
    wmem: Option<validate::BufSpec>,
}

fn parse_role(s: &str) -> Result<tuntcp::replay::Role, String> {
    match s {
        "server" => Ok(tuntcp::replay::Role::Server),
        "client" => Ok(tuntcp::replay::Role::Client),
        _ => Err(format!("expected server or client, not {s:?}")),
    }
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
        tuntcp::device::tun::check_ifname(&self.tun).map_err(|e| format!("--tun: {e}"))?;
        let (host_addr, prefix) = validate::parse_host(&self.host)?;
        validate::check_addrs(self.addr, host_addr, prefix)?;
        let link6 = cli::validate6::parse_link6(&self.addr6, &self.host6, self.mtu)?;
        if !(576..=65535).contains(&self.mtu) {
            return Err("--mtu must be in 576..=65535".into());
        }
        if ![0, 1, 5].contains(&self.recovery) {
            return Err("--recovery must be 0, 1 or 5".into());
        }
        // A fixed seed on request, else the OS's: a missing random source is an error here.
        let seed = match self.seed {
            Some(s) => s,
            None => tuntcp::seed::try_random_seed().map_err(|e| e.to_string())?,
        };
        Ok(NetConfig {
            tun: TunConfig {
                name: self.tun.clone(),
                host_addr,
                prefix_len: prefix,
                host_addr6: link6.map(|(_, host, p)| (host, p)),
                mtu: self.mtu,
                offload: self.offload,
            },
            stack: StackConfig {
                addr: self.addr,
                prefix_len: prefix,
                addr6: link6.map(|(a, _, _)| a),
                mtu: self.mtu,
                tcp: self.tcp_config(),
                ..StackConfig::with_seed(seed)
            },
            pcap: self.pcap.clone(),
            impair: self.impair.clone(),
            trace: self.trace.clone(),
        })
    }

    fn tcp_config(&self) -> tuntcp::tcp::Config {
        use validate::BufSpec;
        let mut t = tuntcp::tcp::Config {
            congestion: self.cc,
            hystart: self.hystart,
            recovery: self.recovery,
            pacing: self.pacing,
            ..tuntcp::tcp::Config::default()
        };
        match self.rmem {
            Some(BufSpec::Fixed(n)) => t.recv_buffer = n,
            Some(BufSpec::Auto(v)) => t.rmem = v,
            None => {}
        }
        match self.wmem {
            Some(BufSpec::Fixed(n)) => t.send_buffer = n,
            Some(BufSpec::Auto(v)) => t.wmem = v,
            None => {}
        }
        t
    }

    fn start(&self, serving: bool) -> Result<NetStack, String> {
        self.start_with(None, serving)
    }

    /// `serving`: the caller holds the control socket (`serve`), not `get`.
    fn start_with(
        &self,
        service: Option<Box<dyn Service>>,
        serving: bool,
    ) -> Result<NetStack, String> {
        let cfg = self.config()?;
        cli::check_device(&self.tun, self.reuse_tun, serving)?;
        let net = NetStack::tun_with(cfg, service).map_err(|e| e.to_string())?;
        net.set_busy_poll(std::time::Duration::from_micros(self.busy_poll));
        if self.step {
            eprintln!("{}", tuntcp::step::BANNER);
            net.set_step(Box::new(cli::step_ask));
        }
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
        Command::Proxy {
            net,
            prefix,
            upstream,
            idle_timeout,
            connect_timeout,
            mark,
            bind_device,
            backlog,
            max_conns,
            control,
        } => {
            let ctl = ControlAddr::new(&net.tun, control.as_deref());
            let cfg = cli::proxy::ProxyConfig {
                upstream,
                idle: std::time::Duration::from_secs(idle_timeout.max(1)),
                connect_timeout: std::time::Duration::from_secs(connect_timeout.max(1)),
                mark,
                bind_device,
                max_conns,
                tun_hosts: Vec::new(),
            };
            proxy(&net, &ctl, prefix, backlog, &cfg)
        }
        Command::Serve {
            net,
            control,
            threaded,
            drain,
        } => {
            let ctl = ControlAddr::new(&net.tun, control.as_deref());
            let drain = drain.map(std::time::Duration::from_secs);
            if threaded {
                serve_threaded(&net, &ctl, drain)
            } else {
                serve(&net, &ctl, drain)
            }
        }
        Command::Get {
            url,
            output,
            connect_timeout,
            max_time,
            net,
        } => get(&url, output, &net, connect_timeout, max_time),
        Command::Decode { pcap } => decode(pcap),
        Command::Plot {
            capture,
            trace,
            port,
            output,
        } => plot(&capture, trace.as_deref(), port, &output),
        Command::Replay {
            capture,
            port,
            role,
            seed,
            mtu,
        } => replay(&capture, port, role, seed, mtu),
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
            query(&ctl.addr(), &cmd)
        }
        Command::Nstat { flags, ctl } => cli_nstat::run(&ctl.addr(), flags),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tuntcp: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Answers `tuntcp ss`/`nstat` on the control socket and says what is served.
fn announce(args: &NetArgs, ctl: &ControlSocket, net: &std::sync::Arc<NetStack>, how: &str) {
    match ctl.listener() {
        Ok(l) => {
            control_socket(l, net.clone());
            log::info!("control socket {}", ctl.addr());
        }
        Err(e) => eprintln!("tuntcp: no control socket at {}: {e}", ctl.addr()),
    }
    eprintln!(
        "tuntcp: serving HTTP on {}:80, echo on 7, discard on 9 (device {}, kernel side {}; {how})",
        args.addr, args.tun, args.host
    );
}

/// `tuntcp proxy`: the transparent listener on `prefixes`, each connection relayed by
/// `cli::proxy`; runs until SIGINT/SIGTERM.
fn proxy(
    args: &NetArgs,
    ctl: &ControlAddr,
    prefixes: Vec<tuntcp::stack::Prefix>,
    backlog: usize,
    cfg: &cli::proxy::ProxyConfig,
) -> Result<(), String> {
    let mut ctl = ControlSocket::bind(ctl, &args.tun)?;
    let signal = stopping::catch().map_err(|e| format!("catching signals: {e}"))?;
    let mut nc = args.config()?;
    nc.stack.transparent = prefixes.clone();
    let mut cfg = cfg.clone();
    cfg.tun_hosts = std::iter::once(std::net::IpAddr::V4(nc.tun.host_addr))
        .chain(nc.tun.host_addr6.map(|(a, _)| std::net::IpAddr::V6(a)))
        .collect();
    cli::check_device(&args.tun, args.reuse_tun, true)?;
    let net = std::sync::Arc::new(NetStack::tun(nc).map_err(|e| e.to_string())?);
    net.set_busy_poll(std::time::Duration::from_micros(args.busy_poll));
    let l = TcpListener::bind_transparent(&net, backlog).map_err(|e| e.to_string())?;
    match ctl.listener() {
        Ok(c) => control_socket(c, net.clone()),
        Err(e) => eprintln!("tuntcp: no control socket at {}: {e}", ctl.addr()),
    }
    let list: Vec<String> = prefixes.iter().map(|p| p.to_string()).collect();
    eprintln!(
        "tuntcp: proxying TCP to {} via {:?} (device {}, kernel side {})",
        list.join(", "),
        cfg.upstream,
        args.tun,
        args.host
    );
    std::thread::spawn(move || {
        if let Err(e) = cli::proxy::run(&l, &cfg) {
            log::info!("proxy accept: {e}");
        }
    });
    signal.wait();
    let r = net.shutdown().map_err(|e| e.to_string());
    ctl.remove();
    r
}

/// The apps inside the runtime's event loop (`apps::inloop`): no thread per connection.
/// Runs until SIGINT/SIGTERM (see `stopping`).
fn serve(
    args: &NetArgs,
    ctl: &ControlAddr,
    drain: Option<std::time::Duration>,
) -> Result<(), String> {
    // Bound first: a second serve of this device in this namespace stops here.
    let mut ctl = ControlSocket::bind(ctl, &args.tun)?;
    let signal = stopping::catch().map_err(|e| format!("catching signals: {e}"))?;
    let servers = inloop::Servers::new(inloop::InLoopConfig::default());
    let net = std::sync::Arc::new(args.start_with(Some(Box::new(servers)), true)?);
    announce(args, &ctl, &net, "in the event loop");
    // The runtime thread does the work; this one waits for the signal to stop.
    signal.wait();
    let r = stopping::stop_serving(&net, drain);
    ctl.remove();
    r
}

/// The apps over the socket API: accept threads, a pool of HTTP workers, parking. Runs
/// until SIGINT/SIGTERM; the threads are left blocked (on errors after the stop) when the
/// process exits.
fn serve_threaded(
    args: &NetArgs,
    ctl: &ControlAddr,
    drain: Option<std::time::Duration>,
) -> Result<(), String> {
    use std::sync::{Arc, Mutex};
    let mut ctl = ControlSocket::bind(ctl, &args.tun)?;
    let signal = stopping::catch().map_err(|e| format!("catching signals: {e}"))?;
    let net = Arc::new(args.start(true)?);
    let stack_name = concat!("tuntcp ", env!("CARGO_PKG_VERSION"));
    let http_l = TcpListener::bind(&net, 80, 1024).map_err(|e| e.to_string())?;
    let echo_l = TcpListener::bind(&net, 7, 128).map_err(|e| e.to_string())?;
    let discard_l = TcpListener::bind(&net, 9, 128).map_err(|e| e.to_string())?;
    announce(args, &ctl, &net, "threaded");
    let parking = Arc::new(Parking::new(&net));
    let (work_tx, work_rx) = std::sync::mpsc::channel::<TcpStream>();
    let work_rx = Arc::new(Mutex::new(work_rx));
    std::thread::spawn(move || accept_loop(&echo_l, |mut s| drop(simple::echo(&mut s))));
    std::thread::spawn(move || accept_loop(&discard_l, |mut s| drop(simple::discard(&mut s))));
    // HTTP: a pool of workers serves readable connections; an idle keep-alive
    // connection is parked (no thread) until its next request arrives.
    for _ in 0..HTTP_WORKERS {
        let (parking, work_rx, work_tx) = (parking.clone(), work_rx.clone(), work_tx.clone());
        std::thread::spawn(move || loop {
            let next = work_rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
            let Ok(s) = next else { return };
            if let Some(ready) = serve_http(s, stack_name, &parking) {
                let _ = work_tx.send(ready);
            }
        });
    }
    let (dispatch_tx, p) = (work_tx.clone(), parking.clone());
    std::thread::spawn(move || loop {
        let ready = p.wait();
        if ready.is_empty() {
            return; // the stack stopped
        }
        for s in ready {
            if dispatch_tx.send(s).is_err() {
                return;
            }
        }
    });
    std::thread::spawn(move || loop {
        match http_l.accept() {
            // A new connection waits parked for its first request.
            Ok((s, _)) => {
                if let Some(ready) = parking.park(s) {
                    let _ = work_tx.send(ready);
                }
            }
            Err(e) => {
                log::info!("accept: {e}");
                return;
            }
        }
    });
    signal.wait();
    let r = stopping::stop_serving(&net, drain);
    ctl.remove();
    r
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
fn control_socket(listener: std::os::unix::net::UnixListener, net: std::sync::Arc<NetStack>) {
    // Names this stack instance in nstat replies, so a client's history of another
    // instance (an earlier serve; a reused namespace) is not taken as the base of changes.
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let instance = format!("{}-{started}", std::process::id());
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
                Some(&"nstat") => format!(
                    "#stack {instance}\n{}",
                    report::nstat_dump(&net.with_stack(|s| s.counters()))
                ),
                _ => "unknown request: try `ss [-l] [-a] [-i] [-s]` or `nstat`\n".to_string(),
            };
            let _ = conn.write_all(reply.as_bytes());
        }
    });
}

/// Sends one request to a running stack's control socket and prints the reply.
fn query(addr: &ControlAddr, request: &str) -> Result<(), String> {
    let mut s = addr.connect().map_err(|e| {
        format!("control socket {addr}: {e} (is `tuntcp serve` running in this network namespace?)")
    })?;
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

fn get(
    url: &str,
    output: Option<PathBuf>,
    args: &NetArgs,
    connect_timeout: Option<std::time::Duration>,
    max_time: Option<std::time::Duration>,
) -> Result<(), String> {
    let (addr, path) = validate::parse_url(url)?;
    let deadline = max_time.map(|m| std::time::Instant::now() + m);
    let net = args.start(false)?;
    let s = cli::get::connect(&net, addr, connect_timeout, max_time, deadline)?;
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: tuntcp\r\nConnection: close\r\n\r\n"
    );
    let mut timed = cli::get::Timed::new(s, addr, max_time, deadline);
    timed.write_request(req.as_bytes())?;
    let (status, n) = cli::get::fetch(&mut timed, output.as_deref())?;
    eprintln!("tuntcp: {url}: HTTP {status}, {n} bytes");
    drop(timed);
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

fn plot(
    capture: &std::path::Path,
    trace: Option<&std::path::Path>,
    port: Option<u16>,
    output: &std::path::Path,
) -> Result<(), String> {
    use tuntcp::plot::{render, Cause, TimeSeq, TraceSeries};
    let pcap = std::fs::read(capture).map_err(|e| format!("{}: {e}", capture.display()))?;
    let mut g =
        TimeSeq::from_pcap(&pcap, port).map_err(|e| format!("{}: {e}", capture.display()))?;
    let series = match trace {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            let s =
                TraceSeries::from_trace(&text, &g).map_err(|e| format!("{}: {e}", p.display()))?;
            g.explain(&s);
            Some(s)
        }
        None => None,
    };
    let svg = render::svg(&g, series.as_ref())?;
    std::fs::write(output, svg).map_err(|e| format!("{}: {e}", output.display()))?;
    let fast = g
        .data
        .iter()
        .filter(|d| matches!(d.retrans, Some(Cause::Dupacks { .. })))
        .count();
    let timer = g
        .data
        .iter()
        .filter(|d| matches!(d.retrans, Some(Cause::Timer(_))))
        .count();
    eprintln!(
        "tuntcp: {} > {}: {} data segments, {} retransmitted ({fast} after duplicate ACKs or \
         SACK, {timer} by a timer), {} ACKs, {} SACK blocks{}; wrote {}",
        g.sender,
        g.receiver,
        g.data.len(),
        fast + timer,
        g.acks.len(),
        g.sacks.len(),
        series.map_or(String::new(), |s| format!(
            ", {} trace records",
            s.points.len()
        )),
        output.display()
    );
    Ok(())
}

fn replay(
    capture: &std::path::Path,
    port: Option<u16>,
    role: tuntcp::replay::Role,
    seed: u64,
    mtu: usize,
) -> Result<(), String> {
    if !(576..=65535).contains(&mtu) {
        return Err("--mtu must be in 576..=65535".into());
    }
    let pcap = std::fs::read(capture).map_err(|e| format!("{}: {e}", capture.display()))?;
    let cfg = StackConfig {
        mtu,
        ..StackConfig::with_seed(seed)
    };
    let r = tuntcp::replay::replay(&pcap, port, role, cfg)
        .map_err(|e| format!("{}: {e}", capture.display()))?;
    print!("{}", r.text());
    Ok(())
}

fn decode(file: Option<PathBuf>) -> Result<(), String> {
    let mut buf = Vec::new();
    match &file {
        Some(p) => buf = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?,
        None => {
            io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| format!("stdin: {e}"))?;
        }
    }
    let d = cli::decode::decode(&buf);
    print!("{}", d.text);
    match (d.error, &file) {
        (None, _) => Ok(()),
        (Some(e), Some(p)) => Err(format!("{}: {e}", p.display())),
        (Some(e), None) => Err(e),
    }
}
