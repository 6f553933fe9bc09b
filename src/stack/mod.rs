//! `stack`: many connections over one IPv4 address (sans-IO).
//!
//! So far the parts the `Stack` type is built from: address validation ([`addr`]), IPv4
//! fragment reassembly ([`frag`]), ICMP helpers ([`icmp`]) and nstat-named counters
//! ([`stats`]). Each is pure or owns only its own bounded state; none does I/O or reads a
//! clock.
//!
//! What this module does not do (yet): demultiplex, listen, pick ports or ISNs; those
//! arrive with `Stack`.

pub mod addr;
pub mod frag;
pub mod icmp;
pub mod stats;
