//! `wait_for` (placeholder until implemented).

use prov_core::{Module, ModuleError};
use serde_json::Value;

/// Builds the module from its arguments.
pub fn build(_args: Value) -> Result<Box<dyn Module>, ModuleError> {
    Err(ModuleError::Failed("module `wait_for` is not implemented yet".into()))
}
