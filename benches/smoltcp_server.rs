//! The reference server for `scripts/bench.sh`: smoltcp 0.14 on a TUN device (medium IP),
//! serving what `tuntcp serve` serves for the benchmark (HTTP on port 80, discard on 9).
//!
//! ```text
//! smoltcp_server [--tun tun0] [--mtu 1500] [--buffer 262144] [--sockets 64]
//! ```
//!
//! smoltcp's `TunTapInterface` creates the device; the program then sets its MTU, address
//! (kernel side 10.66.0.1/24, smoltcp 10.66.0.2) and txqueuelen (10000, as ours) with `ip`,
//! so run it inside a network namespace. It runs until killed.
//!
//! The server itself is `support/smol_http.rs`, shared with `sim_conns` (which runs it in
//! memory for callgrind): the HTTP responder and what it does not do, the socket pool
//! (`--sockets` HTTP sockets; smoltcp has no listen backlog), recycling at TIME-WAIT, and one
//! pass of the main loop. This file adds the TUN and the wait between passes.

#[path = "support/smol_http.rs"]
mod smol_http;

use smol_http::Server;
use smoltcp::phy::{self, Device, Medium, TunTapInterface};
use smoltcp::time::Instant;
use std::os::fd::AsRawFd;
use std::process::Command;

const HOST_CIDR: &str = "10.66.0.1/24";

struct Opts {
    tun: String,
    mtu: usize,
    buffer: usize,
    sockets: usize,
}

fn parse_opts() -> Result<Opts, String> {
    let mut o = Opts {
        tun: "tun0".into(),
        mtu: 1500,
        buffer: smol_http::BUFFER,
        sockets: smol_http::HTTP_SOCKETS,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--tun" => o.tun = val()?,
            "--mtu" => o.mtu = val()?.parse().map_err(|e| format!("--mtu: {e}"))?,
            "--buffer" => o.buffer = val()?.parse().map_err(|e| format!("--buffer: {e}"))?,
            "--sockets" => o.sockets = val()?.parse().map_err(|e| format!("--sockets: {e}"))?,
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    Ok(o)
}

fn ip(args: &[&str]) -> Result<(), String> {
    let st = Command::new("ip")
        .args(args)
        .status()
        .map_err(|e| format!("ip: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("ip {} failed", args.join(" ")))
    }
}

/// Creates the TUN with smoltcp, configures it, and reopens smoltcp's view of it with the
/// MTU we set (smoltcp reads the MTU once, at creation, and sizes its receive buffers by it).
fn open_tun(o: &Opts) -> Result<(TunTapInterface, TunTapInterface), String> {
    let first = TunTapInterface::new(&o.tun, Medium::Ip).map_err(|e| format!("{}: {e}", o.tun))?;
    let _ = std::fs::write(
        format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", o.tun),
        "1",
    );
    let mtu = o.mtu.to_string();
    ip(&[
        "link",
        "set",
        "dev",
        &o.tun,
        "mtu",
        &mtu,
        "txqueuelen",
        "10000",
    ])?;
    ip(&["addr", "add", HOST_CIDR, "dev", &o.tun])?;
    ip(&["link", "set", "dev", &o.tun, "up"])?;
    // SAFETY: dup of a valid descriptor; the new descriptor is owned by the second interface.
    let fd = unsafe { libc::dup(first.as_raw_fd()) };
    if fd < 0 {
        return Err(format!("dup: {}", std::io::Error::last_os_error()));
    }
    let dev = TunTapInterface::from_fd(fd, Medium::Ip, o.mtu).map_err(|e| e.to_string())?;
    Ok((first, dev))
}

fn main() {
    let o = match parse_opts() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("smoltcp_server: {e}");
            std::process::exit(2);
        }
    };
    let (_first, mut dev) = match open_tun(&o) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("smoltcp_server: {e} (root, in a network namespace)");
            std::process::exit(1);
        }
    };
    let fd = dev.as_raw_fd();
    let seed = std::process::id() as u64 ^ 0x5eed;
    let mut server = Server::new(&mut dev, seed, o.sockets, o.buffer, Instant::now());
    eprintln!(
        "smoltcp_server: HTTP on 10.66.0.2:80 ({} sockets), discard on 9, device {} mtu {}, buffers {} B",
        o.sockets,
        o.tun,
        dev.capabilities().max_transmission_unit,
        o.buffer
    );
    loop {
        if server.pass(Instant::now(), &mut dev) {
            continue; // flush what the application queued before sleeping
        }
        let delay = server.iface.poll_delay(Instant::now(), &server.sockets);
        if let Err(e) = phy::wait(fd, delay) {
            eprintln!("smoltcp_server: wait: {e}");
            std::process::exit(1);
        }
    }
}
