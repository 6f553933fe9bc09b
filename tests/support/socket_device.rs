//! A runtime device over one end of a Unix datagram socket pair: each datagram is one IPv4
//! packet. The test drives a peer stack on the other end, so a running `NetStack` can be
//! tested without root or a TUN.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixDatagram;
use tuntcp::device::Device;

pub struct SocketDevice(pub UnixDatagram);

impl Device for SocketDevice {
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.recv(buf)
    }
    fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        self.0.send(packet).map(|_| ())
    }
    fn mtu(&self) -> usize {
        1500
    }
    fn raw_fd(&self) -> Option<RawFd> {
        Some(self.0.as_raw_fd())
    }
}
