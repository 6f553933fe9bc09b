//! Applications served over a byte stream: an HTTP/1.1 server ([`http`]) and the RFC 862/863
//! echo and discard services ([`simple`]).
//!
//! Everything here is generic over `std::io::Read + Write`, so the same code runs over
//! `api::TcpStream`, `std::net::TcpStream` and in-memory buffers. Each function serves one
//! already-accepted connection on the calling thread; accepting, threads or event loops,
//! timeouts and closing the stream are the caller's business. Nothing here knows the stack.

pub mod client;
pub mod http;
pub mod simple;
