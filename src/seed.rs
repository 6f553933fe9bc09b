//! The stack's seed from the OS: the one place the library draws OS randomness.
//!
//! The core (`wire`, `tcp`, `stack`) never draws randomness: every secret it uses (ISN,
//! SYN cookies, ephemeral ports, the demultiplexing hash, timestamp offsets) is derived
//! from [`crate::stack::StackConfig::seed`]. [`crate::stack::StackConfig::default`] fills
//! that seed from here, so a stack is unpredictable unless a caller asks for determinism
//! with [`crate::stack::StackConfig::with_seed`] (tests, replays, `tuntcp serve --seed`).
//!
//! It uses the `getrandom` crate rather than reading `/dev/urandom`: on Linux it calls
//! getrandom(2), which needs no file descriptor or `/dev` node (chroots, sandboxes) and
//! blocks until the kernel's pool is seeded at boot, where `/dev/urandom` would not; it
//! fails rather than fall back to anything weaker (`std`'s `RandomState` is no CSPRNG).
//!
//! What this module does not do: keep or stretch the seed; 64 bits are what it draws.

use std::io;

/// 64 bits from the OS's CSPRNG, or why there are none.
pub fn try_random_seed() -> io::Result<u64> {
    getrandom::u64().map_err(|e| io::Error::other(format!("OS random source: {e}")))
}

/// 64 bits from the OS's CSPRNG (MUST-9: secrets unguessable per boot).
///
/// # Panics
/// When the OS has no random source to give (getrandom(2) and `/dev/urandom` both
/// failed): a stack keyed with a guessable secret is worse than none. Use
/// [`try_random_seed`] to handle that case.
pub fn random_seed() -> u64 {
    match try_random_seed() {
        Ok(s) => s,
        Err(e) => panic!("no seed for the stack's secrets: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_differ_between_draws() {
        // Two equal draws from 2^64 would mean no randomness (a constant or a stuck source).
        let (a, b) = (random_seed(), random_seed());
        assert_ne!(a, b);
        assert_ne!(try_random_seed().unwrap(), 0);
    }
}
