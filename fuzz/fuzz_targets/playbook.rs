//! Fuzz target `playbook`: see `prov_fuzz::playbook`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| prov_fuzz::playbook(data));
