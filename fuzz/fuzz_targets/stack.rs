//! The stack fuzz target: see `fuzz/src/stack_driver.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tuntcp_fuzz::stack_driver::run(data));
