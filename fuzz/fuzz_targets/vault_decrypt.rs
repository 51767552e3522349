//! Fuzz target `vault_decrypt`: see `prov_fuzz::vault_decrypt`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| prov_fuzz::vault_decrypt(data));
