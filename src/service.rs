//! Applications inside the event loop: a [`Service`] runs on the runtime thread, between
//! input and output, with the stack in hand: no thread hand-off, no lock round trip, and a
//! response leaves in the same turn as its request.
//!
//! Each runtime turn: read the device and feed the stack; fire due timers; **call
//! [`Service::poll`]** with the connections and listeners that changed since the last call
//! ([`Touched`]: data, FIN, RST or an ACK arrived, a timer fired, the accept queue grew);
//! then `poll_transmit`. The service calls the stack's application side (`accept`, `recv`,
//! `send`, `shutdown_write`, `close`) directly. It must not block: it is the event loop.
//!
//! API users (`api::TcpListener`/`TcpStream`) keep working beside a service: their waiters
//! are woken for the same keys. A service should only touch the listeners and connections
//! it owns (those it accepted or opened).
//!
//! What this module does not do: read a clock (the runtime passes `now`) or own a device.

use crate::stack::{OpenError, Stack, Touched};
use crate::time::Instant;

/// An application driven by the runtime's event loop.
pub trait Service: Send {
    /// Called once before the loop starts (e.g. to `listen`).
    fn start(&mut self, _stack: &mut Stack) -> Result<(), OpenError> {
        Ok(())
    }

    /// Called every turn after input and timers, before output. `touched` lists what
    /// changed since the last call (it may repeat a key, and may be empty when the call is
    /// for [`Service::poll_timeout`]).
    fn poll(&mut self, stack: &mut Stack, now: Instant, touched: &[Touched]);

    /// The earliest time the service wants `poll` called even if nothing changes (its own
    /// timeouts); `None` for no deadline.
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}
