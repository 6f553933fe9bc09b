//! TCP options (RFC 9293 §3.1, §3.2; RFC 7323; RFC 2018).
//!
//! Parsing walks the option bytes once, whatever their alignment (MUST-64), skips unknown
//! kinds by their length byte (MUST-6) and rejects lengths of 0 or 1 or running past the
//! header (MUST-7). A known kind with an unexpected length is skipped like an unknown one,
//! as Linux does. Emitting uses one fixed layout (the one Linux uses, so packet captures
//! look familiar): `mss, sackOK, TS` or `nop, nop, TS`, `nop, wscale`, `nop, nop, sack`.

use core::fmt;

/// Bytes of options a header can hold.
pub const MAX_OPTIONS_LEN: usize = 40;
/// SACK blocks an option can hold (3 beside timestamps).
pub const MAX_SACK_BLOCKS: usize = 4;

const EOL: u8 = 0;
const NOP: u8 = 1;
const MSS: u8 = 2;
const WSCALE: u8 = 3;
const SACK_PERM: u8 = 4;
const SACK: u8 = 5;
const TIMESTAMP: u8 = 8;

/// RFC 7323 §3: TSval and TSecr.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Timestamps {
    /// TSval: the sender's timestamp clock.
    pub tsval: u32,
    /// TSecr: the TSval echoed.
    pub tsecr: u32,
}

/// One SACK block (RFC 2018 §3): `left` is the first sequence number of the block,
/// `right` the one just past it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SackBlock {
    /// The first sequence number of the block.
    pub left: u32,
    /// The sequence number just past the block.
    pub right: u32,
}

/// The options of one segment, by meaning. Duplicated options: the last one wins.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpOptions {
    /// The MSS option (SYN only).
    pub mss: Option<u16>,
    /// The shift as received; RFC 7323 §2.3 clamping to 14 is the connection's business.
    pub window_scale: Option<u8>,
    /// SACK-permitted (SYN only, RFC 2018).
    pub sack_permitted: bool,
    /// Timestamps (RFC 7323).
    pub timestamps: Option<Timestamps>,
    /// SACK blocks, most recent first as RFC 2018 §4 asks of senders.
    pub sack: SackList,
}

/// Up to [`MAX_SACK_BLOCKS`] SACK blocks, stored inline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SackList {
    blocks: [SackBlock; MAX_SACK_BLOCKS],
    len: u8,
}

impl SackList {
    /// Keeps the first [`MAX_SACK_BLOCKS`] of `blocks`.
    pub fn new(blocks: &[SackBlock]) -> SackList {
        let mut l = SackList::default();
        let n = blocks.len().min(MAX_SACK_BLOCKS);
        l.blocks[..n].copy_from_slice(&blocks[..n]);
        l.len = n as u8;
        l
    }
    /// The blocks.
    pub fn as_slice(&self) -> &[SackBlock] {
        &self.blocks[..usize::from(self.len)]
    }
    /// How many blocks.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }
    /// No block.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// One element of the emitted layout (also what Display prints).
#[derive(Clone, Copy)]
enum Item {
    Nop,
    Mss(u16),
    WindowScale(u8),
    SackPermitted,
    Timestamps(Timestamps),
    Sack,
}

impl TcpOptions {
    /// No option is set.
    pub fn is_empty(&self) -> bool {
        *self == TcpOptions::default()
    }

    /// Parses the option bytes between the fixed header and the data offset.
    /// `base` is the offset of `bytes` in the TCP header, for error messages.
    pub fn parse(bytes: &[u8], base: usize) -> Result<TcpOptions, super::WireError> {
        let mut o = TcpOptions::default();
        // The layout nearly every segment of a connection with timestamps carries (ours and
        // Linux's): NOP, NOP, TS. The walk below gives the same result, one byte at a time.
        if let &[NOP, NOP, TIMESTAMP, 10, a, b, c, d, e, f, g, h] = bytes {
            o.timestamps = Some(Timestamps {
                tsval: u32::from_be_bytes([a, b, c, d]),
                tsecr: u32::from_be_bytes([e, f, g, h]),
            });
            return Ok(o);
        }
        Self::parse_walk(bytes, base)
    }

    /// The general parser: one option at a time, whatever the layout.
    fn parse_walk(bytes: &[u8], base: usize) -> Result<TcpOptions, super::WireError> {
        let mut o = TcpOptions::default();
        let mut i = 0;
        while i < bytes.len() {
            let kind = bytes[i];
            match kind {
                EOL => break,
                NOP => {
                    i += 1;
                    continue;
                }
                _ => {}
            }
            let bad = super::WireError::BadOptionLength {
                kind,
                offset: base + i,
            };
            let len = usize::from(*bytes.get(i + 1).ok_or(bad)?);
            if len < 2 || i + len > bytes.len() {
                return Err(bad);
            }
            let body = &bytes[i + 2..i + len];
            match (kind, body.len()) {
                (MSS, 2) => o.mss = Some(u16::from_be_bytes([body[0], body[1]])),
                (WSCALE, 1) => o.window_scale = Some(body[0]),
                (SACK_PERM, 0) => o.sack_permitted = true,
                (TIMESTAMP, 8) => {
                    o.timestamps = Some(Timestamps {
                        tsval: u32::from_be_bytes([body[0], body[1], body[2], body[3]]),
                        tsecr: u32::from_be_bytes([body[4], body[5], body[6], body[7]]),
                    })
                }
                (SACK, n) if n > 0 && n % 8 == 0 && n / 8 <= MAX_SACK_BLOCKS => {
                    o.sack = SackList::default();
                    for (k, b) in body.chunks_exact(8).enumerate() {
                        o.sack.blocks[k] = SackBlock {
                            left: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                            right: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
                        };
                    }
                    o.sack.len = (n / 8) as u8;
                }
                _ => {} // MUST-6: unknown (or malformed known) option skipped by its length
            }
            i += len;
        }
        Ok(o)
    }

    /// The layout we emit and the number of SACK blocks that fit in 40 bytes.
    fn layout(&self) -> ([Option<Item>; 8], usize) {
        let mut items = [None; 8];
        let mut n = 0;
        let mut push = |it: Item| {
            items[n] = Some(it);
            n += 1;
        };
        if let Some(m) = self.mss {
            push(Item::Mss(m));
        }
        match (self.sack_permitted, self.timestamps) {
            (true, Some(ts)) => {
                push(Item::SackPermitted);
                push(Item::Timestamps(ts));
            }
            (false, Some(ts)) => {
                push(Item::Nop);
                push(Item::Nop);
                push(Item::Timestamps(ts));
            }
            (true, None) => {
                push(Item::Nop);
                push(Item::Nop);
                push(Item::SackPermitted);
            }
            (false, None) => {}
        }
        if let Some(ws) = self.window_scale {
            push(Item::Nop);
            push(Item::WindowScale(ws));
        }
        let (_, blocks) = self.sizes();
        if blocks > 0 {
            items[n] = Some(Item::Sack);
        }
        (items, blocks)
    }

    /// The bytes each part of the layout takes before the SACK option (all multiples of
    /// 4), and the SACK blocks that fit after them in 40 bytes.
    fn sizes(&self) -> (usize, usize) {
        let mut used = if self.mss.is_some() { 4 } else { 0 };
        used += match (self.sack_permitted, self.timestamps.is_some()) {
            (_, true) => 12,
            (true, false) => 4,
            (false, false) => 0,
        };
        used += if self.window_scale.is_some() { 4 } else { 0 };
        // Two NOPs, kind and length, then 8 bytes per block.
        let blocks = self
            .sack
            .len()
            .min(MAX_OPTIONS_LEN.saturating_sub(used + 4) / 8);
        (used, blocks)
    }

    /// Bytes the options occupy on the wire, padded to a multiple of 4.
    pub fn wire_len(&self) -> usize {
        // Computed, not laid out: this runs several times per segment sent.
        let (used, blocks) = self.sizes();
        if blocks > 0 {
            used + 4 + 8 * blocks
        } else {
            used
        }
    }

    /// Writes the options into `out` (at least `wire_len()` bytes) in the layout of
    /// `layout()`, which is all 4-byte aligned, so no EOL padding is ever needed (MUST-69).
    /// Returns the bytes written.
    pub fn emit(&self, out: &mut [u8]) -> usize {
        let (_, blocks) = self.sizes();
        let mut i = 0;
        if let Some(m) = self.mss {
            out[i..i + 4].copy_from_slice(&[MSS, 4, (m >> 8) as u8, m as u8]);
            i += 4;
        }
        let ts = |out: &mut [u8], ts: Timestamps| {
            out[0] = TIMESTAMP;
            out[1] = 10;
            out[2..6].copy_from_slice(&ts.tsval.to_be_bytes());
            out[6..10].copy_from_slice(&ts.tsecr.to_be_bytes());
        };
        match (self.sack_permitted, self.timestamps) {
            (true, Some(t)) => {
                out[i..i + 2].copy_from_slice(&[SACK_PERM, 2]);
                ts(&mut out[i + 2..i + 12], t);
                i += 12;
            }
            (false, Some(t)) => {
                out[i..i + 2].copy_from_slice(&[NOP, NOP]);
                ts(&mut out[i + 2..i + 12], t);
                i += 12;
            }
            (true, None) => {
                out[i..i + 4].copy_from_slice(&[NOP, NOP, SACK_PERM, 2]);
                i += 4;
            }
            (false, None) => {}
        }
        if let Some(ws) = self.window_scale {
            out[i..i + 4].copy_from_slice(&[NOP, WSCALE, 3, ws]);
            i += 4;
        }
        if blocks > 0 {
            out[i..i + 4].copy_from_slice(&[NOP, NOP, SACK, (2 + 8 * blocks) as u8]);
            i += 4;
            for b in &self.sack.as_slice()[..blocks] {
                out[i..i + 4].copy_from_slice(&b.left.to_be_bytes());
                out[i + 4..i + 8].copy_from_slice(&b.right.to_be_bytes());
                i += 8;
            }
        }
        i
    }
}

impl Item {
    #[cfg(test)]
    fn len(&self, sack_blocks: usize) -> usize {
        match self {
            Item::Nop => 1,
            Item::Mss(_) => 4,
            Item::WindowScale(_) => 3,
            Item::SackPermitted => 2,
            Item::Timestamps(_) => 10,
            Item::Sack => 4 + 8 * sack_blocks,
        }
    }
}

/// Prints the emitted layout the way tcpdump does: `mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7`.
impl fmt::Display for TcpOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (items, blocks) = self.layout();
        for (k, it) in items.iter().flatten().enumerate() {
            if k > 0 {
                f.write_str(",")?;
            }
            match it {
                Item::Nop => f.write_str("nop")?,
                Item::Mss(m) => write!(f, "mss {m}")?,
                Item::WindowScale(ws) => write!(f, "wscale {ws}")?,
                Item::SackPermitted => f.write_str("sackOK")?,
                Item::Timestamps(ts) => write!(f, "TS val {} ecr {}", ts.tsval, ts.tsecr)?,
                Item::Sack => {
                    write!(f, "nop,nop,sack {}", blocks)?;
                    for b in &self.sack.as_slice()[..blocks] {
                        write!(f, " {{{}:{}}}", b.left, b.right)?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The item-by-item writer `emit` replaced, kept as its reference: the layout of
    /// `layout()`, padded with EOL.
    fn emit_by_layout(o: &TcpOptions, out: &mut [u8]) -> usize {
        let (items, blocks) = o.layout();
        let mut i = 0;
        for it in items.iter().flatten() {
            let n = it.len(blocks);
            match *it {
                Item::Nop => out[i] = NOP,
                Item::Mss(m) => out[i..i + 4].copy_from_slice(&[MSS, 4, (m >> 8) as u8, m as u8]),
                Item::WindowScale(ws) => out[i..i + 3].copy_from_slice(&[WSCALE, 3, ws]),
                Item::SackPermitted => out[i..i + 2].copy_from_slice(&[SACK_PERM, 2]),
                Item::Timestamps(ts) => {
                    out[i..i + 2].copy_from_slice(&[TIMESTAMP, 10]);
                    out[i + 2..i + 6].copy_from_slice(&ts.tsval.to_be_bytes());
                    out[i + 6..i + 10].copy_from_slice(&ts.tsecr.to_be_bytes());
                }
                Item::Sack => {
                    out[i..i + 4].copy_from_slice(&[NOP, NOP, SACK, (2 + 8 * blocks) as u8]);
                    for (k, b) in o.sack.as_slice()[..blocks].iter().enumerate() {
                        let at = i + 4 + 8 * k;
                        out[at..at + 4].copy_from_slice(&b.left.to_be_bytes());
                        out[at + 4..at + 8].copy_from_slice(&b.right.to_be_bytes());
                    }
                }
            }
            i += n;
        }
        let padded = i.div_ceil(4) * 4;
        out[i..padded].fill(EOL);
        padded
    }

    fn options() -> impl Strategy<Value = TcpOptions> {
        let block =
            (any::<u32>(), any::<u32>()).prop_map(|(left, right)| SackBlock { left, right });
        (
            proptest::option::of(any::<u16>()),
            proptest::option::of(any::<u8>()),
            any::<bool>(),
            proptest::option::of((any::<u32>(), any::<u32>())),
            proptest::collection::vec(block, 0..=MAX_SACK_BLOCKS),
        )
            .prop_map(|(mss, window_scale, sack_permitted, ts, sack)| TcpOptions {
                mss,
                window_scale,
                sack_permitted,
                timestamps: ts.map(|(tsval, tsecr)| Timestamps { tsval, tsecr }),
                sack: SackList::new(&sack),
            })
    }

    proptest! {
        /// The NOP, NOP, TS shortcut and the general walk agree, on that layout and on
        /// bytes that only start like it.
        #[test]
        fn parse_shortcut_matches_the_walk(
            ts in any::<[u8; 8]>(),
            tail in proptest::collection::vec(any::<u8>(), 0..4),
        ) {
            let mut bytes = vec![NOP, NOP, TIMESTAMP, 10];
            bytes.extend_from_slice(&ts);
            prop_assert!(TcpOptions::parse(&bytes, 20).unwrap().timestamps.is_some());
            prop_assert_eq!(TcpOptions::parse(&bytes, 20), TcpOptions::parse_walk(&bytes, 20));
            bytes.extend_from_slice(&tail);
            prop_assert_eq!(TcpOptions::parse(&bytes, 20), TcpOptions::parse_walk(&bytes, 20));
        }

        /// The direct writer and the computed length agree byte for byte with the layout.
        #[test]
        fn emit_and_wire_len_match_the_layout(o in options()) {
            let (mut fast, mut slow) = ([0xee; MAX_OPTIONS_LEN], [0xee; MAX_OPTIONS_LEN]);
            let n = o.emit(&mut fast);
            prop_assert_eq!(n, emit_by_layout(&o, &mut slow));
            prop_assert_eq!(n, o.wire_len());
            prop_assert_eq!(&fast[..], &slow[..]);
        }
    }
}
