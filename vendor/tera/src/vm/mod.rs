pub(crate) mod for_loop;
// prov patch: the render budget.
pub(crate) mod fuel;
mod stack;
pub(crate) mod state;

pub(crate) mod interpreter;
