//! The binary's own helpers, apart from the commands in main.rs: the control socket's
//! address and lifetime ([`control`]), checks of command-line values ([`validate`]), and
//! `tuntcp decode` ([`decode`]).

pub mod control;
pub mod decode;
pub mod get;
pub mod proxy;
pub mod validate;
pub mod validate6;

use tuntcp::device::tun;

/// Refuses a device name the kernel would not take, and a device that already exists
/// unless `reuse` (`--reuse-tun`): opening an existing TUN attaches to it, and configuring
/// it would replace its addresses, which stay replaced after we exit. `serving`: the
/// caller holds the device's control socket already (so it is not asked who runs there).
pub fn check_device(name: &str, reuse: bool, serving: bool) -> Result<(), String> {
    tun::check_ifname(name)?;
    if !tun::exists(name) {
        return Ok(());
    }
    if !tun::is_tun(name) {
        return Err(format!(
            "{name} exists and is not a TUN device: pick another --tun"
        ));
    }
    if !serving && control::ControlAddr::new(name, None).connect().is_ok() {
        return Err(format!(
            "a `tuntcp serve` is running on {name} in this network namespace: stop it, or \
             use another --tun (and another --host subnet)"
        ));
    }
    if !tun::is_persistent(name) {
        return Err(format!(
            "TUN device {name} is in use by another process (another `tuntcp serve` with \
             --control?): stop it, or use another --tun (and another --host subnet)"
        ));
    }
    if reuse {
        log::warn!(
            "reusing the existing TUN device {name}: its addresses are replaced and stay so"
        );
        return Ok(());
    }
    Err(format!(
        "TUN device {name} already exists (persistent, as `ip tuntap add` makes them): \
         tuntcp would replace its address; pass --reuse-tun to use it anyway, or remove it \
         (`ip link del {name}`), or pick another --tun"
    ))
}

/// `--step`'s terminal: shows a stop on stderr and reads one line from stdin (`None` at its
/// end or on an error, which runs freely).
pub fn step_ask(text: &str) -> Option<String> {
    use std::io::{BufRead, Write};
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{text}\n{}", tuntcp::step::PROMPT);
    let _ = err.flush();
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line),
    }
}
