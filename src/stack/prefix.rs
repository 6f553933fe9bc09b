//! Address prefixes (`198.51.100.0/24`, `2001:db8::/32`): the destinations a transparent
//! listener terminates ([`super::StackConfig::transparent`]).

use std::net::IpAddr;

/// An IPv4 or IPv6 prefix: an address and how many leading bits of it count.
///
/// ```
/// use tuntcp::stack::Prefix;
/// let p: Prefix = "198.51.100.0/24".parse().unwrap();
/// assert!(p.contains("198.51.100.7".parse().unwrap()));
/// assert!(!p.contains("198.51.101.7".parse().unwrap()));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

impl Prefix {
    /// `addr/len`; `None` when `len` exceeds the family's width (32 or 128).
    pub fn new(addr: IpAddr, len: u8) -> Option<Prefix> {
        let width = if addr.is_ipv4() { 32 } else { 128 };
        (len <= width).then_some(Prefix { addr, len })
    }

    /// The address as given.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn len(&self) -> u8 {
        self.len
    }

    /// Whether it is `/0` (every address of its family).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `ip` (of the same family) starts with this prefix.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(p), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0);
                u32::from(p) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(p), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.len))
                    .unwrap_or(0);
                u128::from(p) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl std::str::FromStr for Prefix {
    type Err = String;

    /// `ADDR/LEN`, or a bare address (a host: /32 or /128).
    fn from_str(s: &str) -> Result<Prefix, String> {
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().map_err(|e| format!("{s}: {e}"))?;
        let width = if addr.is_ipv4() { 32 } else { 128 };
        let len = match l {
            Some(l) => l.parse::<u8>().map_err(|e| format!("{s}: {e}"))?,
            None => width,
        };
        Prefix::new(addr, len).ok_or_else(|| format!("{s}: prefix length over {width}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_by_family_and_bits() {
        let p: Prefix = "2001:db8::/32".parse().unwrap();
        assert!(p.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!p.contains("2001:db9::5".parse().unwrap()));
        assert!(!p.contains("198.51.100.7".parse().unwrap()));
        let all: Prefix = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("203.0.113.9".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Prefix>().is_err());
        let host: Prefix = "192.0.2.1".parse().unwrap();
        assert_eq!(host.len(), 32);
        assert!(!host.contains("192.0.2.2".parse().unwrap()));
    }
}
