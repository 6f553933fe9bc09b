//! `tcp`: one connection, sans-IO (RFC 9293).

pub mod seq;

pub use seq::SeqNum;
