//! `--addr6` / `--host6`: the IPv6 ends of the TUN link (`fd66::2` for the stack,
//! `fd66::1/64` for the kernel by default; `off` on either turns IPv6 off). Pure
//! functions, unit-tested here.

use std::net::Ipv6Addr;

/// The IPv6 link: the stack's address and the kernel's with its prefix length; `None`
/// when either flag says `off`, or when the MTU is below IPv6's minimum (RFC 8200 §5:
/// 1280; the kernel turns IPv6 off on such a device). Refuses what can never work:
/// multicast, loopback, unspecified or IPv4-mapped addresses, both ends the same, the
/// stack outside the kernel's prefix.
pub fn parse_link6(
    addr6: &str,
    host6: &str,
    mtu: usize,
) -> Result<Option<(Ipv6Addr, Ipv6Addr, u8)>, String> {
    if addr6 == "off" || host6 == "off" || mtu < 1280 {
        return Ok(None);
    }
    let addr: Ipv6Addr = addr6
        .parse()
        .map_err(|_| format!("--addr6 {addr6}: not an IPv6 address (or `off`)"))?;
    let (h, p) = host6.split_once('/').unwrap_or((host6, "64"));
    let host: Ipv6Addr = h
        .parse()
        .map_err(|_| format!("--host6 {host6}: {h:?} is not an IPv6 address (or `off`)"))?;
    let prefix: u8 = match p.parse() {
        Ok(n @ 1..=127) => n,
        _ => {
            return Err(format!(
                "--host6 {host6}: prefix length {p:?} must be 1..=127 (room for both ends)"
            ))
        }
    };
    for (flag, a) in [("--addr6", addr), ("--host6", host)] {
        if a.is_multicast() || a.is_loopback() || a.is_unspecified() || a.to_ipv4_mapped().is_some()
        {
            return Err(format!("{flag} {a}: not a unicast address a link can use"));
        }
    }
    if addr == host {
        return Err(format!(
            "--addr6 {addr} is the kernel side's own address (--host6)"
        ));
    }
    let mask = u128::MAX << (128 - u32::from(prefix));
    if u128::from(addr) & mask != u128::from(host) & mask {
        return Err(format!(
            "--addr6 {addr} is outside the kernel side's prefix {host}/{prefix} (--host6), \
             so nothing would route to it"
        ));
    }
    Ok(Some((addr, host, prefix)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_off_turns_ipv6_off() {
        let (a, h, p) = parse_link6("fd66::2", "fd66::1/64", 1500).unwrap().unwrap();
        assert_eq!(a, "fd66::2".parse::<Ipv6Addr>().unwrap());
        assert_eq!(h, "fd66::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p, 64);
        assert_eq!(parse_link6("off", "fd66::1/64", 576), Ok(None));
        assert_eq!(parse_link6("fd66::2", "fd66::1/64", 1279), Ok(None));
        assert_eq!(parse_link6("fd66::2", "off", 1500), Ok(None));
        assert_eq!(
            parse_link6("fd66::2", "fd66::1", 1500).unwrap().unwrap().2,
            64
        );
    }

    #[test]
    fn impossible_links_are_refused_with_the_flag_named() {
        for (a, h, mtu, why) in [
            ("fd66::1", "fd66::1/64", 1500, "own address"),
            ("fd67::2", "fd66::1/64", 1500, "outside"),
            ("ff02::1", "fd66::1/64", 1500, "--addr6"),
            ("fd66::2", "::1/64", 1500, "--host6"),
            ("fd66::2", "fd66::1/128", 1500, "prefix length"),
            ("10.66.0.2", "fd66::1/64", 1500, "not an IPv6"),
        ] {
            let e = parse_link6(a, h, mtu).unwrap_err();
            assert!(e.contains(why), "{a} {h} {mtu}: {e}");
        }
    }
}
