//! prov patch: a render budget, as minijinja's fuel (see PROV-PATCH.md).
//!
//! Every instruction costs [`INSTRUCTION_COST`] units and every byte a template writes or
//! builds (string concatenation, filter and function results) one unit; where the size is known
//! first (`~` of two strings, `replace`), it is charged before the value is built. The budget of
//! a render is set by [`crate::Tera::set_fuel`] (one fuel = 64 units) and shared by everything
//! that renders inside it on the same thread (includes, blocks, components). Once spent, it
//! stays spent and the render fails.

use std::cell::Cell;

/// Units one fuel is worth; one byte costs one unit.
pub(crate) const UNITS_PER_FUEL: u64 = 64;

/// Units one instruction costs.
pub(crate) const INSTRUCTION_COST: u64 = UNITS_PER_FUEL;

/// Units one slot of an array costs (a `Value` plus the array's growth).
pub(crate) const SLOT_COST: u64 = 32;

/// The message of a render that used up its budget.
pub(crate) const OUT_OF_FUEL: &str =
    "the template exceeded its render budget: does it grow a value in a loop?";

thread_local! {
    /// Units left in the render running on this thread, if it has a budget.
    static REMAINING: Cell<Option<u64>> = const { Cell::new(None) };
}

/// The budget of the outermost render on this thread, for as long as it lives.
pub(crate) struct Budget {
    outermost: bool,
}

impl Budget {
    /// Starts a render's budget of `fuel`, unless a render on this thread already has one (an
    /// include, a block or a component renders inside it and shares it).
    pub(crate) fn enter(fuel: Option<u64>) -> Budget {
        let outermost = match (fuel, REMAINING.get()) {
            (Some(f), None) => {
                REMAINING.set(Some(f.saturating_mul(UNITS_PER_FUEL)));
                true
            }
            _ => false,
        };
        Budget { outermost }
    }
}

impl Drop for Budget {
    fn drop(&mut self) {
        if self.outermost {
            REMAINING.set(None);
        }
    }
}

/// Charges `units`; `false` once the budget is spent (it stays spent).
pub(crate) fn charge(units: u64) -> bool {
    match REMAINING.get() {
        None => true,
        Some(left) if left >= units => {
            REMAINING.set(Some(left - units));
            true
        }
        Some(_) => {
            REMAINING.set(Some(0));
            false
        }
    }
}

/// Units that `value` is charged for once it exists: its bytes or its slots, shallowly.
pub(crate) fn size_of(value: &crate::Value) -> u64 {
    use crate::value::ValueInner;
    match &value.inner {
        ValueInner::String(s) => s.as_str().len() as u64,
        ValueInner::Array(a) => a.len() as u64 * SLOT_COST,
        ValueInner::Map(m) => m.len() as u64 * 2 * SLOT_COST,
        ValueInner::Bytes(b) => b.len() as u64,
        _ => 0,
    }
}
