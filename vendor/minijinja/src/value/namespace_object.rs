use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::value::{Enumerator, Object, ObjectRepr, Value};

/// This object exists for the `namespace` function.
///
/// It's special in that it behaves like a dictionary in many ways but it's the only
/// object that can be used with `{% set %}` assignments.  This is used internally
/// in the vm via downcasting.
#[derive(Debug, Default)]
pub(crate) struct Namespace {
    data: Mutex<BTreeMap<Arc<str>, Value>>,
}

impl Object for Namespace {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.data.lock().unwrap().get(some!(key.as_str())).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let data = self.data.lock().unwrap();
        let keys = data.keys().cloned().map(Value::from);
        Enumerator::Values(keys.collect())
    }
}

/// How deep a value a namespace attribute may hold (prov's patch, see PROV-PATCH.md): a loop
/// that wraps an attribute in a list on every pass would otherwise build a value that printing
/// or comparing recurses through until the stack overflows.
pub(crate) const MAX_HELD_DEPTH: usize = 100;

/// Why a value cannot become a namespace attribute (prov's patch).
pub(crate) enum Unholdable {
    /// The value holds the namespace itself: the cycle would never end when printed.
    HoldsItself,
    /// The value is nested deeper than [`MAX_HELD_DEPTH`].
    TooDeep,
}

impl Namespace {
    pub(crate) fn set_value(&self, key: &str, value: Value) {
        self.data.lock().unwrap().insert(key.into(), value);
    }

    /// Checks that `value` can be held by this namespace (prov's patch): it must not hold the
    /// namespace, directly or through lists, maps and other namespaces, and must not be nested
    /// deeper than [`MAX_HELD_DEPTH`]. Lazy iterables are not walked (that would consume them).
    pub(crate) fn check_holdable(&self, value: &Value) -> Result<(), Unholdable> {
        self.check_holdable_at(value, 0)
    }

    fn check_holdable_at(&self, value: &Value, depth: usize) -> Result<(), Unholdable> {
        let Some(obj) = value.as_object() else {
            return Ok(());
        };
        if depth >= MAX_HELD_DEPTH {
            return Err(Unholdable::TooDeep);
        }
        let children: Vec<Value> = if let Some(ns) = obj.downcast_ref::<Namespace>() {
            if std::ptr::eq(ns, self) {
                return Err(Unholdable::HoldsItself);
            }
            ns.data.lock().unwrap().values().cloned().collect()
        } else if matches!(obj.repr(), ObjectRepr::Seq | ObjectRepr::Map) {
            obj.try_iter_pairs()
                .map(|pairs| pairs.flat_map(|(k, v)| [k, v]).collect())
                .unwrap_or_default()
        } else {
            return Ok(());
        };
        children
            .iter()
            .try_for_each(|child| self.check_holdable_at(child, depth + 1))
    }
}
