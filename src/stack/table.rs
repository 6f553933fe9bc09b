//! The connection table: IPv4 input (IPv6's in `ip6`), demultiplexing by 4-tuple, listeners
//! (in `listener`), RSTs for closed ports, ICMP echo and errors, fragment reassembly. Sans-IO.
//!
//! ## Calling order
//!
//! 1. Feed every packet read from the device to [`Stack::handle_packet`] (all that are
//!    queued, before polling: MUST-59, one cumulative ACK for a burst).
//! 2. If the clock has passed [`Stack::poll_timeout`], call [`Stack::handle_timeout`].
//! 3. Call [`Stack::poll_transmit`] until it returns `None`, writing each packet out.
//! 4. Application calls (`send`, `recv`, `close`, ...) may come at any time; poll again after.
//!
//! What this module does not do: read a clock, touch a device, or sleep.

use super::addr::{is_unicast_destination_for, is_valid_remote, is_valid_source, Subnet};
use super::frag::{FragLimits, Reassembler};
use super::icmp::{
    action, echo_reply, protocol_unreachable, quote_datagram, quoted_tcp, time_exceeded_reassembly,
    IcmpAction, IcmpError,
};
use super::keyed::{label, DemuxHash, PortHash, Prf, TsOffsets, Tuple};
use super::mem::MemAccount;
use super::pmtu::{PmtuCache, MIN_PMTU_V4, MTU_EXPIRES, PMTU_CACHE_CAPACITY};
use super::ports::PortAllocator;
use super::stats::Counters;
use super::syncookie::SynCookies;
use super::timers::TimerQueue;
use crate::tcp::{self, Connection, Event, IsnGenerator, SeqNum, State};
use crate::time::{Duration, Instant};
use crate::trace::{TraceEvent, TraceQueue, TraceRecord};
use crate::wire::offload::{complete_checksum, RxOffload, TxOffload};
use crate::wire::{
    IcmpMessage, IcmpPacket, IpMeta, Ipv4Packet, Packet, Segment, TcpFlags, TcpOptions, WireError,
    IPPROTO_ICMP, IPPROTO_TCP,
};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

mod defer;
mod invariants;
mod ip6;
mod listener;
mod stop;
pub use defer::PendingSyn;
use listener::Listener;

/// Everything a stack is built from.
#[derive(Clone, Debug)]
pub struct StackConfig {
    /// Our IPv4 address.
    pub addr: Ipv4Addr,
    /// Prefix length of the link's subnet (for broadcast checks).
    pub prefix_len: u8,
    /// Our IPv6 address (RFC 8200); `None` drops every IPv6 packet. The TUN's link is
    /// point to point: no Neighbor Discovery, no prefix checks beyond the address itself.
    pub addr6: Option<Ipv6Addr>,
    /// Link MTU; our MSS is MTU - 40 over IPv4 (MUST-67), MTU - 60 over IPv6 (RFC 9293
    /// §3.7.1: the MSS counts neither IP nor TCP header).
    pub mtu: usize,
    /// The secret every key is derived from, one per purpose (ISN, SYN cookies, ephemeral
    /// ports, demultiplexing hash, timestamp offsets: see `keyed`). The core draws no OS
    /// randomness: [`StackConfig::default`] fills this from the OS ([`crate::seed`]);
    /// a fixed value, as [`StackConfig::with_seed`] sets, makes every run replayable and
    /// every secret public to whoever knows it (tests, `tuntcp serve --seed`).
    pub seed: u64,
    /// Per-connection defaults.
    pub tcp: tcp::Config,
    /// Ephemeral port range for active opens, like `ip_local_port_range`.
    pub local_port_range: (u16, u16),
    /// Listen backlog cap, like `somaxconn`.
    pub somaxconn: usize,
    /// Half-open connections per listener at most (with the backlog), like
    /// `tcp_max_syn_backlog`.
    pub max_syn_backlog: usize,
    /// On accept-queue overflow, RST the peer instead of dropping its final ACK, like
    /// `tcp_abort_on_overflow`.
    pub abort_on_overflow: bool,
    /// Connections in TIME-WAIT at most; beyond, a closing connection skips it and
    /// TCPTimeWaitOverflow counts it, like `tcp_max_tw_buckets`.
    pub max_tw_buckets: usize,
    /// Answer SYNs with SYN cookies when the SYN queue is full, like `tcp_syncookies=1`.
    pub syncookies: bool,
    /// Let a new outgoing connection take a TIME-WAIT tuple when timestamps make it safe,
    /// like `tcp_tw_reuse=1` (RFC 6191).
    pub tw_reuse: bool,
    /// The device offloads (like `ethtool -k`: tx-checksumming, tcp-segmentation-offload,
    /// and receiving GRO super-segments): our TCP checksums are left partial and new data
    /// leaves in super-segments of up to 64 KB for the device to split. Needs
    /// [`Stack::poll_transmit_offload`] and a device that honours [`TxOffload`].
    pub offload: bool,
    /// Buffer memory thresholds in 4 KiB pages, like `tcp_mem`: below pressure (pressure
    /// ends at or below it), pressure (entered above it), hard limit (no new buffers
    /// above it). See [`super::mem`] for what each does.
    pub tcp_mem: [usize; 3],
    /// Orphans (closed by the application, still closing; TIME-WAIT apart) at most;
    /// beyond, an orphan is reset at close or on its next retransmission timer
    /// (TCPAbortOnMemory), like `tcp_max_orphans`.
    pub max_orphans: usize,
    /// The lowest path MTU an ICMP "fragmentation needed" can set (a lower value, 0 from
    /// a pre-RFC 1191 router included, is taken as this), like `route/min_pmtu` (552).
    pub min_pmtu: u32,
    /// How long a learned path MTU is kept for new connections to that destination after
    /// it was last lowered, like `route/mtu_expires` (10 minutes).
    pub mtu_expires: Duration,
    /// Destinations the path MTU cache holds at most (see [`super::pmtu`]).
    pub pmtu_cache_size: usize,
    /// Destinations other than our addresses whose TCP segments are taken in, for the
    /// transparent listener ([`Stack::listen_transparent`]): a SYN to any address in
    /// them opens a connection whose local address is that destination. Empty (the
    /// default): only our own addresses. ICMP and everything else stay for our own
    /// addresses; our addresses themselves keep their port listeners.
    pub transparent: Vec<super::Prefix>,
}

/// Largest TCP payload in one super-segment: an IPv4 packet of at most 65535 bytes with
/// a 20-byte IP header and up to 60 bytes of TCP header.
pub const GSO_MAX_PAYLOAD: usize = 65535 - 20 - 60;

impl Default for StackConfig {
    /// [`StackConfig::with_seed`]'s defaults with a seed from the OS's CSPRNG
    /// ([`crate::seed::random_seed`]): deterministic only on request.
    fn default() -> StackConfig {
        StackConfig::with_seed(crate::seed::random_seed())
    }
}

impl StackConfig {
    /// The defaults with a fixed `seed`: the same inputs give the same packets (tests,
    /// simulation, replay). Draws no OS randomness. Anyone who knows the seed can predict
    /// ISNs, SYN cookies and ports, so a fixed seed is for tests and replays only.
    pub fn with_seed(seed: u64) -> StackConfig {
        StackConfig {
            addr: Ipv4Addr::new(10, 66, 0, 2),
            prefix_len: 24,
            addr6: Some(Ipv6Addr::new(0xfd66, 0, 0, 0, 0, 0, 0, 2)),
            mtu: 1500,
            seed,
            tcp: tcp::Config::default(),
            local_port_range: (32768, 60999),
            somaxconn: 4096,
            max_syn_backlog: 4096,
            abort_on_overflow: false,
            max_tw_buckets: 65536,
            syncookies: true,
            tw_reuse: true,
            offload: false,
            // Linux's defaults on a host with 4 GiB of memory (192, 256, 384 MiB).
            tcp_mem: [49152, 65536, 98304],
            max_orphans: 16384,
            min_pmtu: MIN_PMTU_V4,
            mtu_expires: MTU_EXPIRES,
            pmtu_cache_size: PMTU_CACHE_CAPACITY,
            transparent: Vec::new(),
        }
    }
}

/// A route's metrics for one destination, as `ip route ... mtu M advmss A initcwnd N`
/// sets them (`Stack::set_route`); `None` leaves the stack's default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouteMetrics {
    /// The path MTU (Linux's `mtu lock`: Frag Needed may still lower a connection's).
    pub mtu: Option<u32>,
    /// The MSS our SYN and SYN-ACK offer.
    pub advmss: Option<u16>,
    /// The initial congestion window in segments.
    pub initcwnd: Option<u32>,
}

/// Something an application may be waiting on whose state changed (see
/// [`Stack::take_touched`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Touched {
    /// A connection: data, FIN, RST or an ACK arrived, or a timer fired.
    Conn(SocketHandle),
    /// A listener (by port): its accept queue grew.
    Listener(u16),
}

/// A connection as the application names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SocketHandle(usize);

impl SocketHandle {
    /// A small dense number (the table slot), reused once the connection is freed: lets an
    /// application index its per-connection state by a `Vec` instead of a map.
    pub fn index(self) -> usize {
        self.0
    }
}

/// Why `listen` or `connect` failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// The port already has a listener.
    AddrInUse,
    /// Broadcast, multicast or unspecified peer (MUST-46).
    InvalidAddress,
    /// No free ephemeral port.
    AddrNotAvailable,
}

impl OpenError {
    /// The `std::io::ErrorKind` the API reports this error as.
    pub fn kind(self) -> std::io::ErrorKind {
        match self {
            OpenError::AddrInUse => std::io::ErrorKind::AddrInUse,
            OpenError::InvalidAddress => std::io::ErrorKind::InvalidInput,
            OpenError::AddrNotAvailable => std::io::ErrorKind::AddrNotAvailable,
        }
    }
}

impl core::fmt::Display for OpenError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            OpenError::AddrInUse => "address in use",
            OpenError::InvalidAddress => "invalid remote address",
            OpenError::AddrNotAvailable => "no ephemeral port available",
        })
    }
}

impl std::error::Error for OpenError {}

impl From<OpenError> for std::io::Error {
    fn from(e: OpenError) -> std::io::Error {
        std::io::Error::new(e.kind(), e)
    }
}

struct Slot {
    conn: Connection,
    /// The application holds a handle (connect, or accept returned it).
    owned: bool,
    /// The application let go (close/drop); the TCB finishes on its own.
    released: bool,
    /// The listener that created it, while not yet accepted.
    listener: Option<u16>,
    events: VecDeque<Event>,
    /// Queue events for `poll_event` (off for applications that only use `touched`).
    queue_events: bool,
    dirty: bool,
    /// Counted in `time_wait` (so `remove` can uncount it).
    in_tw: bool,
    /// In its listener's accept queue (else, with a listener, in the SYN queue).
    queued: bool,
    /// Already in `Stack::touched`.
    touched: bool,
    /// Bytes charged to the stack's memory account for this connection.
    charged: usize,
    /// Counted in `Stack::orphans`.
    orphan: bool,
    /// The application shut reading down: received data is dropped (see
    /// [`Stack::shutdown_read`]).
    rd_shut: bool,
    /// The IPv6 flow label of what it sends (RFC 6437; 0 over IPv4), computed once.
    flow_label: u32,
}

/// A packet to write as headers plus payload (see [`Stack::poll_transmit_gather`]).
#[derive(Debug)]
pub struct Outgoing<'a> {
    /// The IPv4 and TCP headers, or a whole control packet.
    pub head: &'a [u8],
    /// The TCP payload, to follow `head` in the same write (empty for control packets).
    pub payload: &'a [u8],
    /// Offload metadata for the device (GSO, partial checksum).
    pub tx: TxOffload,
}

/// Where the payload of the packet `next_packet` wrote the headers of lies.
#[derive(Clone, Copy)]
enum PayloadAt {
    None,
    /// In the stack's scratch buffer (it wrapped the send ring), this long.
    Scratch(usize),
    /// In slot `.0`'s send buffer, from sequence number `.1`, this long.
    Send(usize, SeqNum, usize),
}

/// Events kept per connection for the application.
const MAX_EVENTS: usize = 64;

/// Many TCP connections over one IPv4 address, sans-IO: packets and times in, packets and
/// deadlines out. It reads no clock and does no I/O; whoever drives it (the runtime, a
/// test, a simulation) passes `now` into every call.
///
/// The calling order, each turn of an event loop:
/// 1. [`Stack::handle_packet`] for every packet that arrived (all of them before any
///    output, RFC 9293 MUST-59);
/// 2. [`Stack::handle_timeout`] once the deadline of [`Stack::poll_timeout`] has passed;
/// 3. application calls ([`Stack::listen`], [`Stack::connect`], [`Stack::accept`],
///    [`Stack::send`], [`Stack::recv`], [`Stack::close`]...), which may also come between
///    turns; [`Stack::take_touched`] says which connections and listeners changed;
/// 4. [`Stack::poll_transmit`] until `None`, writing each packet out;
/// 5. wait for the next packet or [`Stack::poll_timeout`].
///
/// Two stacks connected back to back:
///
/// ```
/// use tuntcp::stack::{Stack, StackConfig};
/// use tuntcp::time::Instant;
///
/// let mut a = Stack::new(StackConfig { addr: [10, 0, 0, 1].into(), ..StackConfig::with_seed(1) });
/// let mut b = Stack::new(StackConfig { addr: [10, 0, 0, 2].into(), ..StackConfig::with_seed(2) });
/// b.listen(80, 16).unwrap();
/// let now = Instant::from_millis(1);
/// let client = a.connect(now, "10.0.0.2:80".parse::<std::net::SocketAddr>().unwrap()).unwrap();
/// let mut buf = vec![0; 65536];
/// let mut exchange = |a: &mut Stack, b: &mut Stack| {
///     for _ in 0..4 {
///         while let Some(n) = a.poll_transmit(now, &mut buf) {
///             b.handle_packet(now, &buf[..n]);
///         }
///         while let Some(n) = b.poll_transmit(now, &mut buf) {
///             a.handle_packet(now, &buf[..n]);
///         }
///     }
/// };
/// exchange(&mut a, &mut b); // SYN, SYN-ACK, ACK
/// let server = b.accept(80).expect("established");
/// a.send(client, b"hello").unwrap();
/// exchange(&mut a, &mut b);
/// let mut got = [0; 5];
/// assert_eq!(b.recv(server, &mut got), Ok(5));
/// assert_eq!(&got, b"hello");
/// ```
pub struct Stack {
    cfg: StackConfig,
    subnet: Subnet,
    isn: IsnGenerator,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    /// Keyed from the seed (see `DemuxHash` for why not SipHash).
    by_tuple: HashMap<Tuple, usize, DemuxHash>,
    listeners: HashMap<u16, Listener, PortHash>,
    /// Packets built by the stack itself (RSTs for closed ports, ICMP replies).
    control: VecDeque<Vec<u8>>,
    dirty: VecDeque<usize>,
    scratch: Vec<u8>,
    reasm: Reassembler,
    counters: Counters,
    /// Per-connection counters of the connections already freed (the live ones are summed
    /// by [`Stack::counters`]), so the hot path keeps no stack-wide tallies for them.
    retired: tcp::ConnStats,
    /// Connections in TIME-WAIT now.
    time_wait: usize,
    /// Handles and listeners whose state changed since the last `take_touched`.
    touched: Vec<Touched>,
    /// Each connection's next deadline.
    timers: TimerQueue<usize>,
    ports: PortAllocator,
    cookies: SynCookies,
    ts_offsets: TsOffsets,
    /// When the last SYN cookie went out (cookie ACKs are checked for two minutes after).
    cookie_sent_at: Option<Instant>,
    /// Every connection's buffer charge, summed (`tcp_mem`).
    mem: MemAccount,
    /// Released connections still closing, TIME-WAIT apart (`tcp_max_orphans`).
    orphans: usize,
    /// Sender-state records (`--trace`), when asked for.
    trace: Option<Box<TraceQueue>>,
    /// Path MTUs learned by destination (RFC 1191 §6.3).
    pmtu: PmtuCache,
    /// Routes by destination (set by the application only).
    routes: HashMap<IpAddr, RouteMetrics>,
    /// IPv6 state: MSS, flow label key, ICMPv6 error rate limit (see `ip6`).
    v6: ip6::V6State,
    /// SYNs held by deferring listeners (see `defer`).
    deferred: defer::Deferred,
}

impl Stack {
    /// A stack with no connection, keyed from `cfg.seed`.
    pub fn new(cfg: StackConfig) -> Stack {
        let mut cfg = cfg;
        cfg.tcp.mss = cfg.mtu.saturating_sub(40).clamp(64, 65495) as u16;
        if cfg.offload {
            cfg.tcp.gso_max_payload = GSO_MAX_PAYLOAD;
        }
        let scratch = if cfg.offload { 65536 } else { cfg.mtu.max(576) };
        Stack {
            subnet: Subnet::new(cfg.addr, cfg.prefix_len),
            isn: IsnGenerator::with_key(Prf::new(cfg.seed, label::ISN).key()),
            slots: Vec::new(),
            free: Vec::new(),
            by_tuple: HashMap::with_hasher(DemuxHash::new(cfg.seed)),
            listeners: HashMap::default(),
            control: VecDeque::new(),
            dirty: VecDeque::new(),
            scratch: vec![0; scratch],
            reasm: Reassembler::new(FragLimits::default(), cfg.seed),
            counters: Counters::default(),
            retired: tcp::ConnStats::default(),
            time_wait: 0,
            touched: Vec::new(),
            timers: TimerQueue::new(),
            ports: PortAllocator::new(cfg.seed, cfg.local_port_range),
            cookies: SynCookies::new(cfg.seed),
            ts_offsets: TsOffsets::new(cfg.seed),
            cookie_sent_at: None,
            mem: MemAccount::default(),
            orphans: 0,
            trace: None,
            pmtu: PmtuCache::new(cfg.pmtu_cache_size, cfg.mtu_expires),
            routes: HashMap::new(),
            v6: ip6::V6State::new(&cfg),
            deferred: defer::Deferred::default(),
            cfg,
        }
    }

    /// Bytes charged for every connection's buffers (the sum of
    /// [`Connection::buffered_bytes`] over [`Stack::connections`], kept as they change);
    /// compared with `StackConfig::tcp_mem` in pages.
    pub fn accounted_memory(&self) -> usize {
        self.mem.bytes()
    }

    /// [`Stack::accounted_memory`] in 4 KiB pages, rounded up (`/proc/net/sockstat` mem).
    pub fn memory_pages(&self) -> usize {
        self.mem.pages()
    }

    /// Whether the stack is under memory pressure (`tcp_mem[1]` passed, `tcp_mem[0]` not
    /// yet reached again).
    pub fn under_memory_pressure(&self) -> bool {
        self.mem.under_pressure()
    }

    /// Its settings.
    pub fn config(&self) -> &StackConfig {
        &self.cfg
    }

    /// Replaces the per-connection defaults for connections opened from now on, like
    /// changing a `net.ipv4.tcp_*` sysctl; open connections keep theirs. The MSS stays
    /// the one the MTU gives (MUST-67). (The packetdrill library applies the sysctls its
    /// scripts set with it.)
    pub fn set_tcp_config(&mut self, tcp: tcp::Config) {
        let mss = self.cfg.tcp.mss;
        self.cfg.tcp = tcp;
        self.cfg.tcp.mss = mss;
    }
    /// Our IPv4 address.
    pub fn addr(&self) -> Ipv4Addr {
        self.cfg.addr
    }
    /// Our IPv6 address (`None`: IPv6 is off).
    pub fn addr6(&self) -> Option<Ipv6Addr> {
        self.cfg.addr6
    }
    /// The `netstat -s` counters; CurrEstab is counted now (ESTABLISHED + CLOSE-WAIT), and
    /// the connection-level ones are the freed connections' plus the live ones' (O(slots)).
    pub fn counters(&self) -> Counters {
        let mut c = self.counters.clone();
        let mut t = self.retired;
        for s in self.slots.iter().flatten() {
            t.add(&s.conn.stats());
            if matches!(s.conn.state(), State::Established | State::CloseWait) {
                c.tcp_curr_estab += 1;
            }
        }
        c.add_connections(&t);
        c
    }

    // ---- input ----

    /// Processes one IPv4 packet read from the link.
    pub fn handle_packet(&mut self, now: Instant, bytes: &[u8]) {
        self.handle_packet_offload(now, bytes, RxOffload::default());
    }

    /// [`Stack::handle_packet`] for a packet from an offloading device: it may be a
    /// super-segment larger than the MTU, and its TCP checksum is not verified when the
    /// device vouched for it (it never left this host).
    pub fn handle_packet_offload(&mut self, now: Instant, bytes: &[u8], rx: RxOffload) {
        if bytes.first().is_some_and(|b| b >> 4 == 6) {
            return self.handle_packet6(now, bytes, rx);
        }
        self.counters.ip_in_receives += 1;
        self.counters.ip_ext_in_octets += bytes.len() as u64;
        // As ip_rcv_core: by ECN codepoint once the version and header length are sane.
        if bytes.len() >= 20 && bytes[0] >> 4 == 4 && bytes[0] & 0xf >= 5 {
            self.counters.count_ecn(bytes[1]);
        }
        let ip = match Ipv4Packet::parse(bytes) {
            Ok(ip) => ip,
            Err(e) => {
                log::debug!(target: "tuntcp::packet", "drop: {e}");
                // As Linux's ip_rcv_core: a datagram shorter than its total length is
                // InTruncatedPkts only; a checksum error is also a header error.
                match e {
                    WireError::BadTotalLength { total, buffer } if usize::from(total) > buffer => {
                        self.counters.ip_ext_in_truncated_pkts += 1;
                    }
                    WireError::BadIpChecksum => {
                        self.counters.ip_ext_in_csum_errors += 1;
                        self.counters.ip_in_hdr_errors += 1;
                    }
                    _ => self.counters.ip_in_hdr_errors += 1,
                }
                return;
            }
        };
        if ip.dst.is_multicast() {
            self.counters.ip_ext_in_mcast_pkts += 1;
        } else if self.subnet.is_broadcast(ip.dst) {
            self.counters.ip_ext_in_bcast_pkts += 1;
        }
        // RFC 1122 §3.2.1.3 / MUST-57: only our unicast address (and, for TCP, the
        // transparent prefixes); MUST-63: sane sources.
        let for_us = is_unicast_destination_for(&self.subnet, ip.dst)
            || (ip.protocol == IPPROTO_TCP
                && !self.subnet.is_broadcast(ip.dst)
                && self.is_transparent_dst(IpAddr::V4(ip.dst)));
        if !for_us || !is_valid_source(&self.subnet, ip.src) {
            log::debug!(target: "tuntcp::packet", "drop: {} > {} not for us", ip.src, ip.dst);
            self.counters.ip_in_addr_errors += 1;
            return;
        }
        if ip.is_fragment() {
            let done = self.reasm.handle_fragment(now, &ip);
            self.counters.set_reassembly(&self.reasm.stats());
            if let Some(d) = done {
                self.handle_datagram(now, &d.ipv4(), &d.payload, false);
            }
            return;
        }
        self.handle_datagram(now, &ip, ip.payload, rx.csum_trusted);
    }

    fn handle_datagram(
        &mut self,
        now: Instant,
        ip: &Ipv4Packet<'_>,
        payload: &[u8],
        csum_trusted: bool,
    ) {
        match Packet::from_ip_offload(ip, payload, csum_trusted) {
            Ok(Packet::Tcp(seg)) => {
                self.counters.ip_in_delivers += 1;
                self.counters.tcp_in_segs += 1;
                log::debug!(target: "tuntcp::packet", "in  {seg}");
                self.handle_segment(now, &seg);
            }
            Ok(Packet::Icmp(icmp)) => {
                self.counters.ip_in_delivers += 1;
                self.counters.icmp_in_msgs += 1;
                log::debug!(target: "tuntcp::packet", "in  {icmp}");
                self.handle_icmp(now, &icmp);
            }
            Ok(Packet::Fragment(_)) => {}
            Err(e) => {
                log::debug!(target: "tuntcp::packet", "drop: {e}");
                // As Linux: a datagram for a protocol we run is delivered (and counted
                // received) before that protocol finds it malformed.
                match ip.protocol {
                    IPPROTO_TCP => {
                        self.counters.ip_in_delivers += 1;
                        self.counters.tcp_in_segs += 1;
                        self.counters.tcp_in_errs += 1;
                        if e == WireError::BadTcpChecksum {
                            self.counters.tcp_in_csum_errors += 1;
                        }
                    }
                    IPPROTO_ICMP => {
                        self.counters.ip_in_delivers += 1;
                        self.counters.icmp_in_msgs += 1;
                        self.counters.icmp_in_errors += 1;
                        if e == WireError::BadIcmpChecksum {
                            self.counters.icmp_in_csum_errors += 1;
                        }
                    }
                    _ => {
                        self.counters.ip_in_unknown_protos += 1;
                        self.protocol_unreachable(ip, payload);
                    }
                }
            }
        }
    }

    /// RFC 1122 §3.2.2.1: a host SHOULD answer a protocol it does not run (UDP included:
    /// we have no UDP ports) with Destination Unreachable, code 2, as Linux does.
    fn protocol_unreachable(&mut self, ip: &Ipv4Packet<'_>, payload: &[u8]) {
        let ip = Ipv4Packet { payload, ..*ip };
        let quote = quote_datagram(&ip);
        if let Some(icmp) = protocol_unreachable(&self.subnet, &ip, &quote, self.cfg.tcp.ttl) {
            let mut buf = vec![0; icmp.buffer_len()];
            if icmp.emit(&mut buf).is_ok() {
                self.counters.icmp_out_msgs += 1;
                self.counters.icmp_out_dest_unreachs += 1;
                self.control.push_back(buf);
            }
        }
    }

    fn handle_icmp(&mut self, now: Instant, icmp: &IcmpPacket<'_>) {
        // Counted by type as Linux's icmp_rcv does, whatever is done with the message.
        let c = &mut self.counters;
        match icmp.message {
            IcmpMessage::EchoReply { .. } => c.icmp_in_echo_reps += 1,
            IcmpMessage::EchoRequest { .. } => c.icmp_in_echos += 1,
            IcmpMessage::DestUnreachable { .. } => c.icmp_in_dest_unreachs += 1,
            IcmpMessage::SourceQuench { .. } => c.icmp_in_src_quenchs += 1,
            IcmpMessage::TimeExceeded { .. } => c.icmp_in_time_excds += 1,
            IcmpMessage::ParameterProblem { .. } => c.icmp_in_parm_probs += 1,
            IcmpMessage::Other { icmp_type: 5, .. } => c.icmp_in_redirects += 1,
            IcmpMessage::Other { .. } => {}
        }
        if let Some(reply) = echo_reply(icmp, self.cfg.tcp.ttl) {
            let mut buf = vec![0; reply.buffer_len()];
            if reply.emit(&mut buf).is_ok() {
                self.counters.icmp_out_echo_reps += 1;
                self.counters.icmp_out_msgs += 1;
                self.control.push_back(buf);
            }
            return;
        }
        // MUST-54: steer an error to the connection its quoted header names.
        if let Some((err, q)) = quoted_tcp(&icmp.message) {
            if err == IcmpError::SourceQuench {
                return; // MUST-55
            }
            if let Some(&idx) = self.by_tuple.get(&Tuple::new(q.local, q.remote)) {
                let in_window = self.slots[idx]
                    .as_ref()
                    .is_some_and(|s| s.conn.icmp_seq_in_window(SeqNum(q.seq)));
                if !in_window {
                    // RFC 5927 §4.1 (the connection ignores it too); Linux counts it so.
                    self.counters.tcp_ext_out_of_window_icmps += 1;
                }
                let hard = match action(&err) {
                    IcmpAction::Ignore => return,
                    IcmpAction::Abort => true,
                    IcmpAction::Soft => false,
                    IcmpAction::PathMtu { next_hop_mtu } => {
                        if in_window {
                            self.path_mtu_signal(now, idx, next_hop_mtu, SeqNum(q.seq));
                        }
                        return;
                    }
                };
                if let Some(slot) = self.slots[idx].as_mut() {
                    slot.conn.handle_icmp_error(now, hard, SeqNum(q.seq));
                }
                self.mark_dirty(idx);
                self.drain_events(idx);
                self.touch(idx);
            }
        }
    }

    /// RFC 1191 §6.3 / RFC 5927 §7.3: a "fragmentation needed" that passed the connection's
    /// checks lowers the destination's path MTU (at least `min_pmtu`: Linux's rule, which
    /// also covers the 0 of a pre-RFC 1191 router) in the cache and in the connection,
    /// which resends what no longer fits. Not an error for the application.
    fn path_mtu_signal(&mut self, now: Instant, idx: usize, next_hop_mtu: u16, seq: SeqNum) {
        let Some(slot) = self.slots[idx].as_mut() else {
            return;
        };
        let dst = slot.conn.remote().ip();
        let link = u32::try_from(self.cfg.mtu).unwrap_or(u32::MAX);
        let mtu = self.pmtu.lower(
            now,
            dst,
            u32::from(next_hop_mtu),
            self.cfg.min_pmtu.min(link),
            link,
        );
        let update = slot.conn.handle_path_mtu(now, mtu, seq);
        log::debug!(target: "tuntcp::packet", "frag needed mtu {next_hop_mtu}: {update:?}");
        self.mark_dirty(idx);
        self.drain_events(idx);
        self.touch(idx);
    }

    /// A new connection leaves by the link's MTU, or its route's, or what the cache
    /// learned for its peer, the lowest.
    fn start_path_mtu(&mut self, now: Instant, conn: &mut Connection) {
        conn.set_link_mtu(u32::try_from(self.cfg.mtu).unwrap_or(u32::MAX));
        let dst = conn.remote().ip();
        let route = self.routes.get(&dst).and_then(|r| r.mtu);
        if let Some(mtu) = route.into_iter().chain(self.pmtu.get(now, dst)).min() {
            conn.lower_path_mtu(mtu);
        }
    }

    /// The per-connection defaults for a peer at `remote`: the stack's, with its route's
    /// `advmss` and `initcwnd`.
    fn route_config(&self, remote: IpAddr) -> tcp::Config {
        let mut cfg = self.conn_config(remote.is_ipv6());
        if let Some(r) = self.routes.get(&remote) {
            cfg.advmss = r.advmss.or(cfg.advmss);
            cfg.initial_cwnd = r.initcwnd.unwrap_or(cfg.initial_cwnd);
        }
        cfg
    }

    /// Sets (or with `None` removes) the route to `dst`, as `ip route change DST ... mtu M
    /// advmss A initcwnd N` does. New connections take all of it; open connections to `dst`
    /// take its MTU (lowered at once, with what no longer fits resent; raised at once
    /// without PLPMTUD, else only as far as a probe proves, `tcp::pmtu`).
    pub fn set_route(&mut self, dst: IpAddr, route: Option<RouteMetrics>) {
        match route {
            Some(r) => self.routes.insert(dst, r),
            None => self.routes.remove(&dst),
        };
        let link = u32::try_from(self.cfg.mtu).unwrap_or(u32::MAX);
        let mtu = route.and_then(|r| r.mtu).unwrap_or(link).min(link);
        for idx in 0..self.slots.len() {
            let Some(slot) = self.slots[idx].as_mut() else {
                continue;
            };
            if slot.conn.remote().ip() == dst {
                slot.conn.set_route_mtu(mtu);
                self.mark_dirty(idx);
            }
        }
    }

    /// The path MTU learned for `dst` and still in force (RFC 1191 §6.3), if any.
    pub fn cached_path_mtu(&mut self, now: Instant, dst: IpAddr) -> Option<u32> {
        self.pmtu.get(now, dst)
    }

    /// Destinations in the path MTU cache (expired ones until looked up or pushed out).
    pub fn path_mtu_cache_len(&self) -> usize {
        self.pmtu.len()
    }

    /// Sets the path MTU of `dst` for connections opened from now on (`None` forgets it),
    /// as a route's `mtu` does (`ip route change DST mtu lock M`); open connections keep
    /// theirs.
    pub fn set_route_mtu(&mut self, now: Instant, dst: IpAddr, mtu: Option<u32>) {
        self.pmtu.set(now, dst, mtu);
    }

    fn handle_segment(&mut self, now: Instant, seg: &Segment<'_>) {
        if let Some(&idx) = self.by_tuple.get(&Tuple::new(seg.dst, seg.src)) {
            let slot = self.slots[idx]
                .as_mut()
                .expect("tuple map points at a live slot");
            // RFC 6191 / MAY-2: a new SYN may reopen a tuple in TIME-WAIT.
            if slot.conn.state() == State::TimeWait
                && seg.flags.syn()
                && !seg.flags.ack()
                && !seg.flags.rst()
                && Listener::takes(&self.listeners, &self.cfg, seg)
                && slot.conn.time_wait_accepts(seg)
            {
                let old_snd_nxt = slot.conn.snd_nxt();
                self.remove(idx);
                self.counters.tcp_ext_tw_recycled += 1;
                self.listen_input(now, seg, Some(old_snd_nxt));
                return;
            }
            if let Some(port) = slot.listener {
                let completes = slot.conn.state() == State::SynReceived
                    && seg.flags.ack()
                    && !seg.flags.rst()
                    && !seg.flags.syn();
                let full = self
                    .listeners
                    .get(&port)
                    .is_some_and(Listener::accept_queue_full);
                if completes && full {
                    // Accept queue overflow (Linux): drop the final ACK so the peer's retry
                    // or our SYN-ACK retransmission tries again later; or RST at once.
                    self.counters.tcp_ext_listen_overflows += 1;
                    self.counters.tcp_ext_listen_drops += 1;
                    if self.cfg.abort_on_overflow {
                        slot.conn.abort();
                        self.mark_dirty(idx);
                        self.drain_events(idx);
                    }
                    return;
                }
            }
            slot.conn.set_memory_mode(self.mem.mode(&self.cfg.tcp_mem));
            let una = slot.conn.snd_una();
            slot.conn.handle_segment(now, seg);
            if let Some(q) = self.trace.as_mut().filter(|_| seg.flags.ack()) {
                let acked = slot.conn.snd_una().since(una);
                q.push(TraceRecord::snapshot(
                    now,
                    TraceEvent::Ack { acked },
                    &slot.conn,
                ));
            }
            self.mark_dirty(idx);
            self.drain_events(idx);
            self.touch(idx);
            return;
        }
        if self.held_input(seg) {
            return; // a retransmitted SYN of one held unanswered (see `defer`)
        }
        if self.listens(seg) {
            self.listen_input(now, seg, None);
        } else {
            self.closed_input(seg);
        }
    }

    /// RFC 9293 §3.10.7.1: a segment for no connection gets a RST (never for a RST).
    fn closed_input(&mut self, seg: &Segment<'_>) {
        if seg.flags.rst() {
            return;
        }
        let (seq, ack, flags) = if seg.flags.ack() {
            (seg.ack, 0, TcpFlags::RST)
        } else {
            (
                0,
                seg.seq.wrapping_add(seg.seq_len()),
                TcpFlags::RST | TcpFlags::ACK,
            )
        };
        self.send_rst(seg, seq, ack, flags);
    }

    fn send_rst(&mut self, seg: &Segment<'_>, seq: u32, ack: u32, flags: TcpFlags) {
        let rst = Segment {
            src: seg.dst,
            dst: seg.src,
            seq,
            ack,
            flags,
            window: 0,
            urgent: 0,
            options: TcpOptions::default(),
            payload: &[],
            ip: IpMeta {
                ttl: self.cfg.tcp.ttl,
                ..IpMeta::default()
            },
        };
        log::debug!(target: "tuntcp::packet", "out {rst}");
        if self.queue_segment(&rst) {
            self.counters.tcp_out_rsts += 1;
        }
    }

    /// Queues a segment that belongs to no connection (a RST, a SYN cookie's SYN-ACK);
    /// false if it could not be built.
    fn queue_segment(&mut self, seg: &Segment<'_>) -> bool {
        let mut buf = vec![0; seg.buffer_len()];
        let label = self.v6.flow_label(seg.src, seg.dst);
        if ip6::emit_segment(seg, label, &mut buf, false, false).is_err() {
            return false;
        }
        self.counters.tcp_out_segs += 1;
        self.control.push_back(buf);
        true
    }

    // ---- timers ----

    /// The earliest deadline of any connection or reassembly: O(1) amortised from a timer
    /// queue, whatever the number of idle connections.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let conns = self.timers.next();
        let reasm = match (self.reasm.poll_timeout(), self.v6.reasm.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        [conns, reasm, self.deferred.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// The earliest connection deadline without touching the timer queue (a linear scan,
    /// for diagnostics).
    pub fn peek_timeout(&self) -> Option<Instant> {
        self.slots
            .iter()
            .flatten()
            .filter_map(|s| s.conn.poll_timeout())
            .min()
    }

    /// Fires the timers due at `now` (a late or early call is harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(idx) = self.timers.pop_expired(now) {
            if self.orphan_timer_oom(idx) {
                continue;
            }
            let mode = self.mem.mode(&self.cfg.tcp_mem);
            if let Some(s) = self.slots[idx].as_mut() {
                s.conn.set_memory_mode(mode);
                match self.trace.as_mut() {
                    None => s.conn.handle_timeout(now),
                    Some(q) => {
                        let due: Vec<_> = s.conn.due_timers(now).collect();
                        s.conn.handle_timeout(now);
                        for name in due {
                            let ev = TraceEvent::Timer(name.to_string());
                            q.push(TraceRecord::snapshot(now, ev, &s.conn));
                        }
                    }
                }
            }
            #[cfg(any(debug_assertions, fuzzing))]
            self.debug_check_timers_after(idx, now);
            self.mark_dirty(idx);
            // Re-files the connection's next deadline.
            self.drain_events(idx);
            self.touch(idx);
        }
        // RFC 792: Time Exceeded (code 1) for a datagram whose first fragment arrived.
        for exp in self.reasm.handle_timeout(now) {
            if let Some(icmp) = time_exceeded_reassembly(&self.subnet, &exp, self.cfg.tcp.ttl) {
                let mut buf = vec![0; icmp.buffer_len()];
                if icmp.emit(&mut buf).is_ok() {
                    self.counters.icmp_out_msgs += 1;
                    self.counters.icmp_out_time_excds += 1;
                    self.control.push_back(buf);
                }
            }
        }
        self.counters.set_reassembly(&self.reasm.stats());
        self.handle_timeout6(now);
        self.expire_held(now);
    }

    // ---- output ----

    /// Writes the next IPv4 packet to send into `buf` (at least MTU bytes) and returns its
    /// length; `None` when there is nothing to send now. With `offload` configured, a
    /// partial checksum is completed here, but super-segments are still larger than the
    /// MTU: use [`Stack::poll_transmit_offload`] with such a device.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let (n, tx) = self.poll_transmit_offload(now, buf)?;
        if tx.csum_partial {
            let ip_len = if buf[0] >> 4 == 6 { 40 } else { 20 };
            complete_checksum(&mut buf[..n], ip_len, 16);
        }
        Some(n)
    }

    /// Writes the next IPv4 packet into `buf` (at least 65535 bytes with `offload`, else
    /// the MTU) and says how the device must finish it.
    pub fn poll_transmit_offload(
        &mut self,
        now: Instant,
        buf: &mut [u8],
    ) -> Option<(usize, TxOffload)> {
        self.next_packet(now, buf, false).map(|(n, _, tx)| (n, tx))
    }

    /// The next packet as a gather write: its IPv4 and TCP headers, written into `head`
    /// (sized as for `poll_transmit_offload`: control packets such as ICMP replies come
    /// whole in it, and one that does not fit is cut short), and
    /// its payload borrowed where it lies, in the connection's send buffer. Writing both
    /// with one `writev` saves [`Stack::poll_transmit_offload`]'s copy of every payload
    /// byte. Call until `None`, like `poll_transmit`.
    pub fn poll_transmit_gather<'a>(
        &'a mut self,
        now: Instant,
        head: &'a mut [u8],
    ) -> Option<Outgoing<'a>> {
        let (n, at, tx) = self.next_packet(now, head, true)?;
        Some(Outgoing {
            head: &head[..n],
            payload: self.payload(at),
            tx,
        })
    }

    /// Writes the next packet into `buf`: whole, or with `gather` only its headers, saying
    /// where its payload lies (the bookkeeping of the send, events, timers and counters, is
    /// done before the payload is borrowed). A packet too large for `buf` is dropped.
    fn next_packet(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        gather: bool,
    ) -> Option<(usize, PayloadAt, TxOffload)> {
        if let Some(p) = self.control.pop_front() {
            let n = p.len().min(buf.len());
            buf[..n].copy_from_slice(&p[..n]);
            // Ip* count IPv4, Ip6* IPv6 (as Linux).
            if p.first().is_some_and(|b| b >> 4 == 6) {
                self.counters.ip6_out_requests += 1;
                self.counters.ip6_out_octets += n as u64;
            } else {
                self.counters.ip_out_requests += 1;
                self.counters.ip_ext_out_octets += n as u64;
            }
            return Some((n, PayloadAt::None, TxOffload::default()));
        }
        while let Some(&idx) = self.dirty.front() {
            let scratch = self.scratch.as_ptr_range();
            let Some(slot) = self.slots[idx].as_mut() else {
                self.dirty.pop_front();
                continue;
            };
            let smss = slot.conn.effective_mss() as usize;
            if let Some(seg) = slot.conn.poll_transmit(now, &mut self.scratch) {
                log::debug!(target: "tuntcp::packet", "out {seg}");
                let mut tx = TxOffload::default();
                if self.cfg.offload {
                    tx.csum_partial = true;
                    if seg.payload.len() > smss {
                        tx.gso_size = smss as u16;
                    }
                }
                let len = seg.payload.len();
                let head =
                    ip6::emit_segment(&seg, slot.flow_label, buf, gather, tx.csum_partial).ok();
                // A payload that wraps the send ring was copied into the scratch buffer.
                let at = match len {
                    _ if !gather => PayloadAt::None,
                    0 => PayloadAt::None,
                    _ if scratch.contains(&seg.payload.as_ptr()) => PayloadAt::Scratch(len),
                    _ => PayloadAt::Send(idx, SeqNum(seg.seq), len),
                };
                let is_rst = seg.flags.rst();
                // OutSegs counts what reaches the wire, as Linux counts gso_segs.
                let pieces = len.div_ceil(smss.max(1)).max(1);
                self.counters.tcp_out_segs += pieces as u64;
                let v4 = seg.src.is_ipv4();
                match v4 {
                    true => self.counters.ip_out_requests += 1,
                    false => self.counters.ip6_out_requests += 1,
                }
                if is_rst {
                    self.counters.tcp_out_rsts += 1;
                }
                self.drain_events(idx);
                match head {
                    Some(n) => {
                        // Linux adds skb->len: a super-segment counts its headers once.
                        let payload_apart = if gather { len } else { 0 };
                        match v4 {
                            true => self.counters.ip_ext_out_octets += (n + payload_apart) as u64,
                            false => self.counters.ip6_out_octets += (n + payload_apart) as u64,
                        }
                        return Some((n, at, tx));
                    }
                    None => {
                        // `buf` too small for it: lost, as for lack of resources.
                        match v4 {
                            true => self.counters.ip_out_discards += 1,
                            false => self.counters.ip6_out_discards += 1,
                        }
                        continue;
                    }
                }
            }
            slot.dirty = false;
            self.dirty.pop_front();
            self.drain_events(idx);
        }
        None
    }

    /// The payload `next_packet` located (a connection with data just sent is still in
    /// its slot: only a closed one is removed, and it sends no data).
    fn payload(&self, at: PayloadAt) -> &[u8] {
        match at {
            PayloadAt::None => &[],
            PayloadAt::Scratch(n) => &self.scratch[..n],
            PayloadAt::Send(idx, seq, n) => self
                .slots
                .get(idx)
                .and_then(|s| s.as_ref())
                .and_then(|s| s.conn.send_slice(seq, n))
                .unwrap_or_else(|| {
                    debug_assert!(false, "payload of a segment just sent is gone");
                    &[]
                }),
        }
    }

    // ---- application calls ----

    /// Active OPEN from an ephemeral port (MUST-44: our address is the source).
    pub fn connect(
        &mut self,
        now: Instant,
        remote: impl Into<SocketAddr>,
    ) -> Result<SocketHandle, OpenError> {
        self.connect_from(now, None::<SocketAddr>, remote)
    }

    /// Active OPEN with an optional local address and port (MUST-43). The address must be
    /// ours; port 0 picks an ephemeral one.
    pub fn connect_from(
        &mut self,
        now: Instant,
        local: Option<impl Into<SocketAddr>>,
        remote: impl Into<SocketAddr>,
    ) -> Result<SocketHandle, OpenError> {
        let (local, remote) = (local.map(Into::into), remote.into());
        let valid = match remote.ip() {
            IpAddr::V4(a) => is_valid_remote(&self.subnet, a),
            IpAddr::V6(a) => super::addr6::is_valid_remote(a),
        };
        if !valid || remote.port() == 0 {
            return Err(OpenError::InvalidAddress); // MUST-46
        }
        let Some(ours) = self.our_ip(remote.is_ipv6()) else {
            return Err(OpenError::AddrNotAvailable); // no IPv6 address configured
        };
        let mut reuse_after = None;
        let local = match local {
            Some(l) if l.ip() != ours => return Err(OpenError::AddrNotAvailable),
            Some(l) if l.port() != 0 => {
                if self.by_tuple.contains_key(&Tuple::new(l, remote)) {
                    return Err(OpenError::AddrInUse);
                }
                l
            }
            _ => {
                let (local, old) = self.pick_local(now, remote)?;
                reuse_after = old;
                local
            }
        };
        let mut iss = self.isn.isn(now, local, remote);
        if let Some(old) = reuse_after {
            // The new incarnation starts above the old one's sequence space.
            if iss.le(old) {
                iss = old + 250_000;
            }
        }
        let ts_offset = self.ts_offset(local, remote);
        let cfg = self.route_config(remote.ip());
        let mut conn = Connection::connect(now, local, remote, iss, ts_offset, cfg);
        self.start_path_mtu(now, &mut conn);
        let idx = self.insert(conn, None, true);
        self.counters.tcp_active_opens += 1;
        self.mark_dirty(idx);
        Ok(SocketHandle(idx))
    }

    /// The TSval offset for this address pair (RFC 7323 §5.4), shared by every connection
    /// to the same host so that TSvals never go back between incarnations of a tuple.
    fn ts_offset(&self, local: SocketAddr, remote: SocketAddr) -> u32 {
        self.ts_offsets.offset(local.ip(), remote.ip())
    }

    /// Our address in the family asked for (`None`: no IPv6 address configured).
    fn our_ip(&self, v6: bool) -> Option<IpAddr> {
        match v6 {
            false => Some(IpAddr::V4(self.cfg.addr)),
            true => self.cfg.addr6.map(IpAddr::V6),
        }
    }

    /// The per-connection settings for a new connection of one family: over IPv6 the MSS
    /// is MTU - 60 (super-segments stay at GSO_MAX_PAYLOAD: 40 + 60 + 65455 bytes fit
    /// IPv6's 16-bit payload length).
    fn conn_config(&self, v6: bool) -> tcp::Config {
        let mut cfg = self.cfg.tcp.clone();
        if v6 {
            cfg.mss = self.v6.mss;
        }
        cfg
    }

    /// An ephemeral port (RFC 6056 Algorithm 4). A tuple in TIME-WAIT counts as free when
    /// `tw_reuse` allows it (RFC 6191: timestamps make the reuse safe); that old TCB is then
    /// dropped and its SND.NXT returned, so the new ISS can be chosen above it.
    fn pick_local(
        &mut self,
        now: Instant,
        remote: SocketAddr,
    ) -> Result<(SocketAddr, Option<SeqNum>), OpenError> {
        let addr = self
            .our_ip(remote.is_ipv6())
            .ok_or(OpenError::AddrNotAvailable)?;
        let (by_tuple, slots, listeners) = (&self.by_tuple, &self.slots, &self.listeners);
        let tw_reuse = self.cfg.tw_reuse;
        let port = self
            .ports
            .pick(addr, remote, |p| {
                if listeners.contains_key(&p) {
                    return true;
                }
                match by_tuple.get(&Tuple::new(SocketAddr::new(addr, p), remote)) {
                    None => false,
                    Some(&i) => {
                        !(tw_reuse
                            && slots[i]
                                .as_ref()
                                .is_some_and(|s| s.conn.time_wait_reusable(now)))
                    }
                }
            })
            .ok_or(OpenError::AddrNotAvailable)?;
        let local = SocketAddr::new(addr, port);
        let mut old = None;
        if let Some(&i) = self.by_tuple.get(&Tuple::new(local, remote)) {
            old = self.slots[i].as_ref().map(|s| s.conn.snd_nxt());
            self.remove(i);
            self.counters.tcp_ext_tw_recycled += 1;
        }
        Ok((local, old))
    }

    /// The connection `h` names, while it exists.
    pub fn connection(&self, h: SocketHandle) -> Option<&Connection> {
        self.slots.get(h.0)?.as_ref().map(|s| &s.conn)
    }

    /// The connection with this 4-tuple, if any (for `--step`).
    pub fn connection_by_tuple(
        &self,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Option<&Connection> {
        let &i = self.by_tuple.get(&Tuple::new(local, remote))?;
        self.slots.get(i)?.as_ref().map(|s| &s.conn)
    }

    /// Runs `f` on the connection and schedules whatever it wants to send.
    pub fn with_connection<R>(
        &mut self,
        h: SocketHandle,
        f: impl FnOnce(&mut Connection) -> R,
    ) -> Option<R> {
        // MAY-1: once released by close/abort the handle reads and writes nothing.
        let mode = self.mem.mode(&self.cfg.tcp_mem);
        let slot = self
            .slots
            .get_mut(h.0)?
            .as_mut()
            .filter(|s| s.owned && !s.released)?;
        slot.conn.set_memory_mode(mode);
        let r = f(&mut slot.conn);
        self.mark_dirty(h.0);
        self.drain_events(h.0);
        Some(r)
    }

    /// Queues `data` for sending; returns how much fit (`WouldBlock` when none did).
    pub fn send(&mut self, h: SocketHandle, data: &[u8]) -> Result<usize, tcp::Error> {
        self.with_connection(h, |c| c.send(data))
            .unwrap_or(Err(tcp::Error::NotConnected))
    }

    /// Reads received data into `buf`; `Ok(0)` at end of stream, `WouldBlock` when none
    /// is there yet.
    pub fn recv(&mut self, h: SocketHandle, buf: &mut [u8]) -> Result<usize, tcp::Error> {
        self.with_connection(h, |c| c.recv(buf))
            .unwrap_or(Err(tcp::Error::NotConnected))
    }

    /// [`Stack::recv`] without a copy (see [`Connection::recv_with`]).
    pub fn recv_with(
        &mut self,
        h: SocketHandle,
        f: impl FnOnce(&[u8]) -> usize,
    ) -> Result<usize, tcp::Error> {
        self.with_connection(h, |c| c.recv_with(f))
            .unwrap_or(Err(tcp::Error::NotConnected))
    }

    /// Half-close of the sending side: a FIN after the data queued (RFC 9293 §3.10.4).
    pub fn shutdown_write(&mut self, h: SocketHandle) {
        self.with_connection(h, |c| c.shutdown_write());
    }

    /// Shuts reading down (`shutdown(SHUT_RD)`): data received and not read, and any that
    /// arrives later, is acknowledged and dropped (the window stays open, so a sender is
    /// never stalled by a reader that left); reads then see end of stream. Nothing is sent.
    /// Deviation: Linux keeps queueing such data and lets later reads return it; we drop
    /// it as the BSDs do (`socantrcvmore`), so memory is not held for a reader that said it
    /// is gone.
    pub fn shutdown_read(&mut self, h: SocketHandle) {
        if let Some(s) = self.slots.get_mut(h.0).and_then(|s| s.as_mut()) {
            s.rd_shut = true;
        }
        self.with_connection(h, |_| ());
    }

    /// Whether [`Stack::shutdown_read`] was called on `h`.
    pub fn is_read_shut(&self, h: SocketHandle) -> bool {
        self.slots
            .get(h.0)
            .and_then(|s| s.as_ref())
            .is_some_and(|s| s.rd_shut)
    }

    /// Closes and releases the handle: the TCB finishes its close on its own (FIN-WAIT,
    /// TIME-WAIT) and is freed when CLOSED. The handle must not be used again.
    pub fn close(&mut self, h: SocketHandle) {
        if let Some(s) = self.slots.get_mut(h.0).and_then(|s| s.as_mut()) {
            s.released = true;
            if s.conn.recv_queue() > 0 && s.conn.state().is_synchronized() {
                self.counters.tcp_ext_tcp_abort_on_close += 1;
            }
            s.conn.close();
        }
        self.mark_dirty(h.0);
        self.drain_events(h.0);
        self.check_oom(h.0);
    }

    /// Linux `tcp_check_oom`: an orphan past `max_orphans`, or holding more than
    /// `SOCK_MIN_SNDBUF` above the hard memory limit, is reset (TCPAbortOnMemory). True if
    /// it was.
    fn check_oom(&mut self, idx: usize) -> bool {
        let Some(s) = self.slots.get_mut(idx).and_then(|s| s.as_mut()) else {
            return false;
        };
        let too_many = self.orphans > self.cfg.max_orphans;
        let oom = self
            .mem
            .out_of_memory(&self.cfg.tcp_mem, s.conn.send_queue());
        if !s.orphan || !(too_many || oom) {
            return false;
        }
        s.conn.abort();
        self.counters.tcp_ext_tcp_abort_on_memory += 1;
        self.mark_dirty(idx);
        self.drain_events(idx);
        true
    }

    /// Linux `tcp_out_of_resources` on a retransmission or probe timer: the check of
    /// [`Stack::check_oom`] for an orphan with data or a FIN unacknowledged.
    /// Deviation: no penalty shift for orphans idle 240 s or hit by ICMP, and always a RST
    /// (Linux may close silently): simpler, and the peer learns of it.
    fn orphan_timer_oom(&mut self, idx: usize) -> bool {
        let outstanding = self.slots[idx].as_ref().is_some_and(|s| {
            s.orphan && (s.conn.send_queue() > 0 || s.conn.snd_una() != s.conn.snd_nxt())
        });
        outstanding && self.check_oom(idx)
    }

    /// Sends RST and releases the handle.
    pub fn abort(&mut self, h: SocketHandle) {
        if let Some(s) = self.slots.get_mut(h.0).and_then(|s| s.as_mut()) {
            s.released = true;
            s.conn.abort();
        }
        self.mark_dirty(h.0);
        self.drain_events(h.0);
    }

    /// The next event of a connection the application holds.
    pub fn poll_event(&mut self, h: SocketHandle) -> Option<Event> {
        self.slots.get_mut(h.0)?.as_mut()?.events.pop_front()
    }

    /// Whether `h`'s events are queued for [`Stack::poll_event`] (on by default). An
    /// application that learns what changed from [`Stack::take_touched`] alone turns it off,
    /// so no queue is allocated per connection; turning it off drops what was queued.
    pub fn set_event_queue(&mut self, h: SocketHandle, on: bool) {
        if let Some(s) = self.slots.get_mut(h.0).and_then(|s| s.as_mut()) {
            s.queue_events = on;
            if !on {
                s.events = VecDeque::new();
            }
        }
    }

    /// Every live connection, for `ss`-like listings.
    pub fn connections(&self) -> impl Iterator<Item = (SocketHandle, &Connection)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (SocketHandle(i), &s.conn)))
    }

    /// Listeners with (accept queue length, backlog).
    pub fn listeners(&self) -> impl Iterator<Item = (u16, usize, usize)> + '_ {
        self.listeners
            .iter()
            .map(|(p, l)| (*p, l.ready.len(), l.backlog))
    }

    /// Moves out the handles and listeners whose state changed since the last call, so a
    /// runtime can wake only the application threads waiting on them.
    pub fn take_touched(&mut self, out: &mut Vec<Touched>) {
        for t in &self.touched {
            if let Touched::Conn(h) = t {
                if let Some(s) = self.slots.get_mut(h.0).and_then(|s| s.as_mut()) {
                    s.touched = false;
                }
            }
        }
        out.append(&mut self.touched);
    }

    /// Connections the application let go of that are still closing, TIME-WAIT apart
    /// (`ss -s` orphaned, `/proc/net/sockstat` orphan).
    pub fn orphans(&self) -> usize {
        self.orphans
    }

    /// Turns sender-state records on or off (see [`crate::trace`]): one per ACK a
    /// connection processes and per timer that fires, taken with [`Stack::poll_trace`].
    pub fn set_trace(&mut self, on: bool) {
        self.trace = on.then(Box::default);
    }

    /// The oldest sender-state record not yet taken.
    pub fn poll_trace(&mut self) -> Option<TraceRecord> {
        self.trace.as_mut()?.pop()
    }

    /// Whether something waits for `poll_transmit`.
    pub fn has_pending_output(&self) -> bool {
        !self.control.is_empty() || !self.dirty.is_empty()
    }

    // ---- bookkeeping ----

    fn insert(&mut self, conn: Connection, listener: Option<u16>, owned: bool) -> usize {
        let tuple = Tuple::new(conn.local(), conn.remote());
        let flow_label = self.v6.flow_label(conn.local(), conn.remote());
        let slot = Slot {
            conn,
            owned,
            released: false,
            listener,
            events: VecDeque::new(),
            queue_events: true,
            dirty: false,
            in_tw: false,
            queued: false,
            touched: false,
            charged: 0,
            orphan: false,
            rd_shut: false,
            flow_label,
        };
        let idx = match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(slot);
                i
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        };
        self.by_tuple.insert(tuple, idx);
        idx
    }

    fn remove(&mut self, idx: usize) {
        if let Some(s) = self.slots[idx].take() {
            self.retired.add(&s.conn.stats());
            self.mem.recharge(s.charged, 0);
            self.mem.update(&self.cfg.tcp_mem);
            if s.orphan {
                self.orphans -= 1;
            }
            self.timers.set(idx, None);
            self.by_tuple
                .remove(&Tuple::new(s.conn.local(), s.conn.remote()));
            if s.in_tw {
                self.time_wait -= 1;
            }
            if let Some(port) = s.listener {
                if let Some(l) = self.listeners.get_mut(&port) {
                    if s.queued {
                        l.ready.retain(|&i| i != idx);
                    } else {
                        l.half_open = l.half_open.saturating_sub(1);
                    }
                }
            }
            self.free.push(idx);
            debug_assert!(
                !self.by_tuple.is_empty() || self.mem.bytes() == 0,
                "no connection left but {} bytes accounted",
                self.mem.bytes()
            );
        }
    }

    fn mark_dirty(&mut self, idx: usize) {
        if let Some(s) = self.slots.get_mut(idx).and_then(|s| s.as_mut()) {
            if !s.dirty {
                s.dirty = true;
                self.dirty.push_back(idx);
            }
        }
    }

    /// Marks a connection the application may be waiting on as changed (input arrived or
    /// a timer fired), so the runtime wakes its waiter. Application calls and transmissions
    /// alone do not touch: waking a reader because it read would spin.
    fn touch(&mut self, idx: usize) {
        if let Some(s) = self.slots.get_mut(idx).and_then(|s| s.as_mut()) {
            if s.owned && !s.released && !s.touched {
                s.touched = true;
                self.touched.push(Touched::Conn(SocketHandle(idx)));
            }
        }
    }

    /// Moves connection events to the application's queue and acts on the ones the table
    /// cares about (accept queue, counters, freeing closed TCBs).
    fn drain_events(&mut self, idx: usize) {
        let mut free_it = false;
        let Some(s) = self.slots.get_mut(idx).and_then(|s| s.as_mut()) else {
            return;
        };
        if s.rd_shut {
            // Shutdown(Read): drop what arrived (two calls: the ring may have wrapped).
            for _ in 0..2 {
                let _ = s.conn.recv_with(|b| b.len());
            }
        }
        let mut any_event = false;
        while let Some(ev) = s.conn.poll_event() {
            any_event = true;
            match ev {
                Event::Connected => {
                    if let Some(port) = s.listener {
                        if let Some(l) = self.listeners.get_mut(&port) {
                            l.half_open = l.half_open.saturating_sub(1);
                            l.ready.push_back(idx);
                            s.queued = true;
                            self.touched.push(Touched::Listener(port));
                        }
                    }
                }
                Event::Error(e) => match e {
                    tcp::Error::Refused | tcp::Error::TimedOut
                        if s.conn.iss() == s.conn.snd_una() =>
                    {
                        self.counters.tcp_attempt_fails += 1;
                    }
                    tcp::Error::Reset => self.counters.tcp_estab_resets += 1,
                    tcp::Error::TimedOut => self.counters.tcp_ext_tcp_abort_on_timeout += 1,
                    _ => {}
                },
                Event::Closed => {
                    free_it = !s.owned || s.released;
                }
                _ => {}
            }
            if s.owned && !s.released && s.queue_events {
                // Bounded: an application that never polls loses the oldest events, not memory.
                if s.events.len() >= MAX_EVENTS {
                    s.events.pop_front();
                }
                s.events.push_back(ev);
            }
        }
        // TIME-WAIT accounting once the connection's output (its last ACK) has gone out.
        match (s.conn.state() == State::TimeWait && !s.dirty, s.in_tw) {
            (true, false) if self.time_wait >= self.cfg.max_tw_buckets => {
                self.counters.tcp_ext_tcp_time_wait_overflow += 1;
                s.conn.expire_time_wait();
                while let Some(ev) = s.conn.poll_event() {
                    free_it |= ev == Event::Closed;
                }
            }
            (true, false) => {
                s.in_tw = true;
                self.time_wait += 1;
            }
            (false, true) if s.conn.state() != State::TimeWait => {
                s.in_tw = false;
                self.time_wait -= 1;
                self.counters.tcp_ext_tw += 1;
            }
            _ => {}
        }
        // Memory and orphan accounting (`tcp_mem`, `tcp_max_orphans`).
        let charged = s.conn.buffered_bytes();
        self.mem.recharge(s.charged, charged);
        s.charged = charged;
        let orphan = s.released && !matches!(s.conn.state(), State::TimeWait | State::Closed);
        if orphan != s.orphan {
            s.orphan = orphan;
            if orphan {
                self.orphans += 1;
            } else {
                self.orphans -= 1;
            }
        }
        if self.mem.update(&self.cfg.tcp_mem) {
            self.counters.tcp_ext_tcp_memory_pressures += 1;
        }
        if any_event && s.owned && !s.released && !s.touched {
            s.touched = true;
            self.touched.push(Touched::Conn(SocketHandle(idx)));
        }
        let gone = free_it || s.conn.state() == State::Closed;
        if gone && (!s.owned || s.released) && !s.dirty {
            self.remove(idx);
        } else {
            let next = s.conn.poll_timeout();
            self.timers.set(idx, next);
            #[cfg(any(debug_assertions, fuzzing))]
            self.debug_check_slot(idx);
        }
    }
}
