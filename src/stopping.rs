//! How `tuntcp serve` stops, the binary's side (the stack's side is `NetStack::shutdown`
//! and `NetStack::shutdown_graceful`): the first SIGINT or SIGTERM asks for a stop, a second
//! one exits at once with status 128 + the signal's number (130 for SIGINT, 143 for
//! SIGTERM), as shells report a process killed by it.
//!
//! Signals come through `signal-hook`'s iterator: its handler only writes to a self-pipe
//! (async-signal-safe), a thread of ours reads the pipe. Nothing of ours runs in signal
//! context, and no `unsafe` is needed outside src/device/.

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::io;
use std::sync::mpsc;
use std::time::Duration;
use tuntcp::api::NetStack;

/// The first stop signal, when it comes.
pub struct StopSignal {
    rx: mpsc::Receiver<i32>,
}

fn name(sig: i32) -> &'static str {
    match sig {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "signal",
    }
}

/// Catches SIGINT and SIGTERM from now on (call it before the stack starts, so no signal
/// finds the default action and kills the process without its RSTs).
pub fn catch() -> io::Result<StopSignal> {
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("tuntcp-signals".into())
        .spawn(move || {
            let mut first = true;
            for sig in signals.forever() {
                if first {
                    first = false;
                    eprintln!(
                        "tuntcp: {}: stopping (send it again to exit at once)",
                        name(sig)
                    );
                    let _ = tx.send(sig);
                } else {
                    eprintln!("tuntcp: {} again: exiting now", name(sig));
                    std::process::exit(128 + sig);
                }
            }
        })?;
    Ok(StopSignal { rx })
}

impl StopSignal {
    /// Blocks until the first SIGINT or SIGTERM.
    pub fn wait(&self) {
        let _ = self.rx.recv();
    }
}

/// Stops serving: without `drain`, every connection is reset at once; with it, listeners
/// close at once and connections in progress get up to `drain` to finish before the rest
/// are reset. Either way the RSTs are on the device when this returns.
pub fn stop_serving(net: &NetStack, drain: Option<Duration>) -> Result<(), String> {
    let open = net.with_stack(|s| s.active_connections());
    let left = match drain {
        Some(d) if open > 0 => {
            eprintln!(
                "tuntcp: no new connections; draining {open} for up to {}s",
                d.as_secs_f64()
            );
            net.shutdown_graceful(d)
        }
        _ => net.shutdown().map(|()| open),
    }
    .map_err(|e| format!("stopping the stack: {e}"))?;
    eprintln!("tuntcp: stopped ({left} connections were still open and got a RST)");
    Ok(())
}
