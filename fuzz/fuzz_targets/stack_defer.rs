//! The stack fuzz target with deferring listeners: see `fuzz/src/stack_driver/defer.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tuntcp_fuzz::stack_driver::defer::run(data));
