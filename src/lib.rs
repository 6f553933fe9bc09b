//! # tuntcp
//!
//! A userspace TCP/IP stack that terminates real TCP connections on a Linux TUN device.
//!
//! ## The layering contract
//!
//! ```text
//!  wire      bytes <-> typed IPv4/IPv6/TCP/ICMP(v6); parse/emit; checksums  (no state, no time)
//!    ^
//!  tcp       one connection: TCB, state machine, buffers, timers             (sans-IO)
//!    ^
//!  stack     many connections: IPv4 input, ICMP, demux, listeners           (sans-IO)
//!    ^
//!  device    TUN (the only `unsafe`: its ioctls), pcap                     (I/O)
//!  runtime   the mio event loop: the only reader of the real clock          (I/O)
//!    ^
//!  api       socket-like TcpListener/TcpStream over the runtime
//!  service   applications inside the event loop, on the stack directly
//!  apps      HTTP/1.1, echo, discard over any Read + Write, or in-loop; the `tuntcp` binary
//! ```
//!
//! Arrows point one way: `wire` knows no `tcp` type, `tcp` knows no table of connections,
//! nothing below `runtime` knows an event loop or a device. The core (`wire`, `tcp`,
//! `stack`) reads no clock, does no I/O and draws no OS randomness: time is passed in as
//! [`time::Instant`], randomness comes from a seed ([`seed`] draws the default one
//! from the OS, outside the core). That is what makes every test
//! deterministic and every trace replayable. `unsafe` lives only in `device/`: the crate
//! denies it everywhere else.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
#[cfg(feature = "cli")]
pub mod apps;
pub mod device;
#[cfg(feature = "cli")]
pub mod plot;
#[cfg(feature = "cli")]
pub mod replay;
pub mod runtime;
pub mod seed;
pub mod service;
pub mod stack;
pub mod step;
pub mod tcp;
pub mod time;
pub mod trace;
pub mod wire;

pub use time::{Duration, Instant};

/// The README's Rust examples compile (`cargo test --doc`).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
