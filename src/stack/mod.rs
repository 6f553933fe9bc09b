//! `stack`: many connections over one IPv4 and one IPv6 address (sans-IO).
//!
//! [`Stack`] owns the connection table (demultiplexing by 4-tuple, listeners with their
//! SYN and accept queues, ephemeral ports, ISNs) and the IP side: input checks ([`addr`]),
//! fragment reassembly ([`frag`]), ICMP echo and errors ([`icmp`]), the path MTU cache
//! ([`pmtu`]) and nstat-named counters ([`stats`]); stack-wide memory and orphan limits like Linux's ([`mem`]). Pure parts for scale: SYN cookies ([`syncookie`]), ephemeral port choice
//! ([`ports`]) and a deadline queue over many connections ([`timers`]). None of it does I/O
//! or reads a clock; see [`Stack`] for the calling order.
//!
//! What this module does not do: keep per-connection TCP state (that is `tcp::Connection`)
//! or talk to a device (that is `device`/`runtime`).

pub mod addr;
pub mod addr6;
pub mod frag;
pub mod frag6;
pub mod icmp;
pub mod icmp6;
mod keyed;
pub mod mem;
pub mod pmtu;
pub mod ports;
pub mod prefix;
mod reasm;
pub mod report;
pub mod stats;
pub mod syncookie;
mod table;
pub mod timers;

pub use ports::PortAllocator;
pub use prefix::Prefix;
pub use syncookie::SynCookies;
pub use table::{
    OpenError, Outgoing, PendingSyn, RouteMetrics, SocketHandle, Stack, StackConfig, Touched,
    GSO_MAX_PAYLOAD,
};
pub use timers::TimerQueue;
