//! Ansible's `random` and `shuffle` filters. With a `seed` they draw from Python's
//! `random.Random(seed)` (Mersenne Twister, seeded as CPython seeds it), so that
//! `{{ 59 | random(seed=inventory_hostname) }}` — the usual way roles spread cron jobs over
//! hosts — gives each host the same minute as under Ansible. Without a seed Ansible draws
//! from the system's random source, and so does prov.

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Environment, Error, Value as MjValue};
use rand::Rng;
use rand_mt::Mt;
use sha2::{Digest, Sha512};

use super::invalid;

/// A source of random integers below a bound: Python's seeded generator or the system's.
trait Below {
    /// A random integer in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64;
}

/// `random.Random(seed)` of CPython (3.x, seed version 2).
struct PyRandom(Mt);

impl PyRandom {
    /// The generator `Random(seed)` makes: a string seed becomes the integer whose big-endian
    /// bytes are its UTF-8 followed by their SHA-512; an integer seed is taken as is (its
    /// absolute value); other seeds are refused.
    fn new(seed: &MjValue) -> Result<Self, Error> {
        if let Some(text) = seed.as_str() {
            let mut bytes = text.as_bytes().to_vec();
            bytes.extend_from_slice(&Sha512::digest(text.as_bytes()));
            return Ok(Self::from_big_endian(&bytes));
        }
        let integer = seed.is_integer() || seed.kind() == ValueKind::Bool;
        match i64::try_from(seed.clone()) {
            Ok(n) if integer => Ok(Self::from_big_endian(&n.unsigned_abs().to_be_bytes())),
            _ => Err(invalid(format!(
                "random/shuffle: a seed must be a string or an integer, not `{seed}`"
            ))),
        }
    }

    /// CPython's `init_by_array` key of a non-negative integer: its 32-bit words, least
    /// significant first, without leading zero words (one word for zero).
    fn from_big_endian(bytes: &[u8]) -> Self {
        let mut padded = vec![0u8; (4 - bytes.len() % 4) % 4];
        padded.extend_from_slice(bytes);
        let mut key: Vec<u32> = padded
            .chunks(4)
            .rev()
            .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        while key.len() > 1 && key.last() == Some(&0) {
            key.pop();
        }
        Self(Mt::new_with_key(key))
    }

    /// `getrandbits(k)` for `k <= 64`: whole 32-bit outputs, least significant word first,
    /// the last one shifted down to what is left.
    fn getrandbits(&mut self, k: u32) -> u64 {
        let mut result = 0u64;
        let mut left = k;
        let mut shift = 0;
        while left > 0 {
            let word = u64::from(self.0.next_u32() >> 32u32.saturating_sub(left));
            result |= word << shift;
            shift += 32;
            left = left.saturating_sub(32);
        }
        result
    }
}

impl Below for PyRandom {
    /// `_randbelow_with_getrandbits`: draws `n.bit_length()` bits until they are below `n`.
    fn below(&mut self, n: u64) -> u64 {
        let k = u64::BITS - n.leading_zeros();
        loop {
            let r = self.getrandbits(k);
            if r < n {
                return r;
            }
        }
    }
}

/// The system's generator, for filters given no seed (Ansible's `SystemRandom`).
struct SystemRandom;

impl Below for SystemRandom {
    fn below(&mut self, n: u64) -> u64 {
        rand::thread_rng().gen_range(0..n)
    }
}

/// Python's `a // b` (rounds toward negative infinity; `b != 0`).
fn floor_div(a: i128, b: i128) -> i128 {
    let q = a / b;
    if a % b != 0 && (a < 0) != (b < 0) {
        q - 1
    } else {
        q
    }
}

/// Python's `randrange(start, stop, step)`.
fn randrange(rng: &mut dyn Below, start: i64, stop: i64, step: i64) -> Result<i64, Error> {
    let width = i128::from(stop) - i128::from(start);
    let step = i128::from(step);
    let n = match step {
        0 => return Err(invalid("random: zero step for randrange()")),
        s if s > 0 => floor_div(width + s - 1, s),
        s => floor_div(width + s + 1, s),
    };
    if n <= 0 {
        return Err(invalid(format!(
            "random: empty range in randrange({start}, {stop}, {step})"
        )));
    }
    let n = u64::try_from(n).map_err(|_| invalid("random: range too large"))?;
    let picked = i128::from(start) + step * i128::from(rng.below(n));
    i64::try_from(picked).map_err(|_| invalid("random: result out of range"))
}

/// The items of a value Python would iterate (`list(value)`): a list's items, a string's
/// characters, a mapping's keys.
fn items_of(value: &MjValue, filter: &str) -> Result<Vec<MjValue>, Error> {
    if let Some(text) = value.as_str() {
        return Ok(text.chars().map(|c| MjValue::from(c.to_string())).collect());
    }
    value
        .try_iter()
        .map(Iterator::collect)
        .map_err(|_| invalid(format!("{filter}: `{value}` is not a sequence")))
}

/// The generator a filter uses: Python's seeded one when `seed` is given (`use_seed`), else
/// the system's.
fn generator(seed: Option<&MjValue>) -> Result<Box<dyn Below>, Error> {
    match seed {
        Some(seed) => Ok(Box::new(PyRandom::new(seed)?)),
        None => Ok(Box::new(SystemRandom)),
    }
}

/// `random(end, start=None, step=None, seed=None)`: an integer of `range(start, end, step)`,
/// or an item of a sequence.
fn random_filter(
    end: MjValue,
    start: Option<MjValue>,
    step: Option<MjValue>,
    kwargs: Kwargs,
) -> Result<MjValue, Error> {
    let start = start.or(kwargs.get::<Option<MjValue>>("start")?);
    let step = step.or(kwargs.get::<Option<MjValue>>("step")?);
    let seed = kwargs
        .get::<Option<MjValue>>("seed")?
        .filter(|s| !s.is_none());
    kwargs.assert_all_used()?;
    let mut rng = generator(seed.as_ref())?;
    let truthy = |v: &Option<MjValue>| v.as_ref().is_some_and(MjValue::is_true);
    if end.is_integer() {
        let int = |v: Option<MjValue>, default: i64| match v.filter(MjValue::is_true) {
            None => Ok(default),
            Some(v) => i64::try_from(v.clone())
                .map_err(|_| invalid(format!("random: `{v}` is not an integer"))),
        };
        let stop = i64::try_from(end).map_err(|_| invalid("random: end out of range"))?;
        return randrange(&mut *rng, int(start, 0)?, stop, int(step, 1)?).map(MjValue::from);
    }
    if truthy(&start) || truthy(&step) {
        return Err(invalid(
            "random: start and step can only be used with integer values",
        ));
    }
    if end.kind() == ValueKind::Map {
        return Err(invalid("random: cannot choose from a mapping"));
    }
    let items = items_of(&end, "random")?;
    if items.is_empty() {
        return Err(invalid("random: cannot choose from an empty sequence"));
    }
    let pick = rng.below(items.len() as u64) as usize;
    Ok(items[pick].clone())
}

/// `shuffle(seed=None)`: the items in a random order (Python's `Random(seed).shuffle`; a
/// false seed shuffles from the system's source, as Ansible's `if seed:`).
fn shuffle_filter(value: MjValue, seed: Option<MjValue>, kwargs: Kwargs) -> Result<MjValue, Error> {
    let seed = seed.or(kwargs.get::<Option<MjValue>>("seed")?);
    kwargs.assert_all_used()?;
    let mut items = items_of(&value, "shuffle")?;
    let mut rng = generator(seed.as_ref().filter(|s| s.is_true()))?;
    for i in (1..items.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        items.swap(i, j);
    }
    Ok(MjValue::from(items))
}

pub(super) fn register(env: &mut Environment<'static>) {
    env.add_filter("random", random_filter);
    env.add_filter("shuffle", shuffle_filter);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values printed by CPython 3.11: `random.Random(seed).getrandbits(32)` and
    /// `random.Random(seed).randrange(...)`.
    #[test]
    fn seeds_as_cpython() {
        let mut r = PyRandom::new(&MjValue::from(0)).unwrap();
        assert_eq!(r.getrandbits(32), 3_626_764_237);
        let mut r = PyRandom::new(&MjValue::from(42)).unwrap();
        assert_eq!(r.getrandbits(32), 2_746_317_213);
        let mut r = PyRandom::new(&MjValue::from("h1")).unwrap();
        assert_eq!(randrange(&mut r, 0, 59, 1).unwrap(), 32);
        let mut r = PyRandom::new(&MjValue::from(-7)).unwrap();
        assert_eq!(r.getrandbits(40), 1_040_772_936_760);
        assert_eq!(r.getrandbits(64), 7_283_207_964_119_141_687);
        let mut r = PyRandom::new(&MjValue::from((1i64 << 40) + 5)).unwrap();
        assert_eq!(r.getrandbits(33), 6_461_264_164);
        let mut r = PyRandom::new(&MjValue::from("")).unwrap();
        assert_eq!(randrange(&mut r, 10, -10, -3).unwrap(), 1);
        let mut r = PyRandom::new(&MjValue::from(true)).unwrap();
        assert_eq!(r.getrandbits(32), 577_090_037);
        let mut r = PyRandom::new(&MjValue::from("db")).unwrap();
        assert_eq!(r.below(6), 2); // choice('abcdef') == 'c'
        assert_eq!(randrange(&mut r, 5, 1000, 7).unwrap(), 320);
    }

    /// `random.Random('web1.example.com').shuffle(list(range(20)))` in CPython 3.11.
    #[test]
    fn shuffles_as_cpython() {
        let kwargs = Kwargs::from_iter([("seed", MjValue::from("web1.example.com"))]);
        let got = shuffle_filter(MjValue::from((0..20).collect::<Vec<i64>>()), None, kwargs);
        let want: Vec<i64> = vec![
            6, 1, 11, 4, 7, 2, 8, 14, 3, 5, 13, 9, 19, 10, 0, 16, 12, 18, 17, 15,
        ];
        assert_eq!(got.unwrap(), MjValue::from(want));
    }
}
