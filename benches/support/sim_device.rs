//! An in-memory smoltcp device (medium IP) for the simulated benchmarks (`sim_cost`,
//! `sim_conns`) and the smoltcp tests (`tests/support/smol.rs`): packets pushed on `rx` (what
//! the link delivered) are handed to smoltcp one at a time; what smoltcp sends lands in
//! `tx`, one zeroed `Vec` a packet, written in place.

use smoltcp::phy::{self, DeviceCapabilities, Medium};
use std::collections::VecDeque;

pub struct SimDevice {
    pub rx: VecDeque<Vec<u8>>,
    pub tx: Vec<Vec<u8>>,
    mtu: usize,
}

impl SimDevice {
    pub fn new(mtu: usize) -> SimDevice {
        SimDevice {
            rx: VecDeque::new(),
            tx: Vec::new(),
            mtu,
        }
    }
}

pub struct SimRx(Vec<u8>);
pub struct SimTx<'a>(&'a mut Vec<Vec<u8>>);

impl phy::RxToken for SimRx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for SimTx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0; len];
        let r = f(&mut buf);
        self.0.push(buf);
        r
    }
}

impl phy::Device for SimDevice {
    type RxToken<'a> = SimRx;
    type TxToken<'a> = SimTx<'a>;
    fn receive(
        &mut self,
        _now: smoltcp::time::Instant,
    ) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let SimDevice { rx, tx, .. } = self;
        rx.pop_front().map(|p| (SimRx(p), SimTx(tx)))
    }
    fn transmit(&mut self, _now: smoltcp::time::Instant) -> Option<Self::TxToken<'_>> {
        Some(SimTx(&mut self.tx))
    }
    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.mtu;
        // Default checksum capabilities: smoltcp computes and verifies every checksum, so
        // it checks the other side's independently (and drops what the link corrupted).
        caps
    }
}
