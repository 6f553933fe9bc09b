//! Applications served over a byte stream: an HTTP/1.1 server ([`http`]) and the RFC 862/863
//! echo and discard services ([`simple`]).
//!
//! [`http`] and [`simple`] are generic over `std::io::Read + Write`, so the same code runs
//! over `api::TcpStream`, `std::net::TcpStream` and in-memory buffers: each function serves
//! one already-accepted connection on the calling thread; accepting, threads, timeouts and
//! closing the stream are the caller's business, and they do not know the stack.
//! [`inloop`] runs the same protocols (HTTP through [`http::Session`]) inside the runtime's
//! event loop, as a `service::Service` on the sans-IO stack.

pub mod client;
pub mod http;
pub mod inloop;
pub mod simple;
