//! `tcp`: one connection, sans-IO (RFC 9293).
//!
//! [`Connection`] holds one TCB and its buffers and timers. It is driven by segments
//! (`handle_segment`), timeouts (`handle_timeout`) and application calls, and produces
//! segments (`poll_transmit`) and events (`poll_event`). It knows nothing of other
//! connections, listeners, IP or devices.

mod autotune;
mod chrono;
pub mod config;
pub mod congestion;
pub mod connection;
mod dsack;
pub mod ecn;
pub mod info;
mod input;
pub mod invariants;
pub mod isn;
mod output;
mod pacing;
pub mod pmtu;
pub mod rack;
pub mod rate;
mod recovery;
pub mod recv_buffer;
pub mod rtt;
pub mod sack;
pub mod send_buffer;
mod sendopts;
pub mod seq;
pub mod state;
pub mod state_times;
mod undo;

pub use config::{Config, Pacing};
pub use connection::{ConnStats, Connection, Error, Event, SoftError, WMEM_MIN};
pub use info::{CaState, TcpInfo};
pub use isn::IsnGenerator;
pub use pmtu::PmtuUpdate;
pub use recv_buffer::{MemMode, RecvBuffer};
pub use rtt::RttEstimator;
pub use sack::Scoreboard;
pub use send_buffer::SendBuffer;
pub use sendopts::SendFlags;
pub use seq::SeqNum;
pub use state::State;
pub use state_times::StateTimes;

#[cfg(test)]
mod tests;
