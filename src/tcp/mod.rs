//! `tcp`: one connection, sans-IO (RFC 9293).

pub mod isn;
pub mod recv_buffer;
pub mod rtt;
pub mod send_buffer;
pub mod seq;

pub use isn::IsnGenerator;
pub use recv_buffer::RecvBuffer;
pub use rtt::RttEstimator;
pub use send_buffer::SendBuffer;
pub use seq::SeqNum;
