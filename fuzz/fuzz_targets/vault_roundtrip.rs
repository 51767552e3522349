//! Fuzz target `vault_roundtrip`: see `prov_fuzz::vault_roundtrip`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| prov_fuzz::vault_roundtrip(data));
