//! Ansible's `password_hash(hashtype='sha512', salt=None, salt_size=None, rounds=None,
//! ident=None)` filter, as ansible-core 2.19 computes it with passlib
//! (`ansible/utils/encrypt.py`): `sha512`/`sha512_crypt` (`$6$`), `sha256`/`sha256_crypt`
//! (`$5$`), `md5`/`md5_crypt` (`$1$`) and `blowfish`/`bcrypt` (`$2b$`, `$2a$`, `$2y$`).
//!
//! As in Ansible: without `rounds` SHA-crypt uses 656000 (sha512) or 535000 (sha256) rounds
//! and bcrypt a cost of 12; `rounds=` appears in a SHA-crypt hash unless it is 5000; a salt
//! is used as given (passlib's rules: only `./0-9A-Za-z`, at most 16 characters for
//! SHA-crypt and 8 for md5, exactly 22 for bcrypt, whose unused last bits are cleared);
//! without one a random salt of `salt_size` characters is drawn. `ident` only counts for
//! bcrypt. The rounds are charged to the render budget (one fuel per 8 SHA-crypt rounds, 20
//! per bcrypt iteration) before hashing, so that a template cannot stall the controller.

use minijinja::value::{Kwargs, Rest};
use minijinja::{Environment, Error, ErrorKind, State, Value as MjValue};
use rand::Rng;
use sha_crypt::Params;

use crate::template::budget::charge_steps;

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("password_hash: {}", msg.into()),
    )
}

/// The alphabet of crypt's base64 (`hash64` in passlib), the salt characters of SHA-crypt
/// and md5-crypt.
const HASH64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The alphabet of bcrypt's base64.
const BCRYPT64: &[u8; 64] = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// The algorithms Ansible's `password_hash` knows (passlib's names).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Algo {
    Sha512,
    Sha256,
    Md5,
    Bcrypt,
}

impl Algo {
    /// The algorithm of a `hashtype`, by Ansible's name or passlib's.
    fn parse(hashtype: &str) -> Result<Algo, Error> {
        Ok(match hashtype {
            "sha512" | "sha512_crypt" => Algo::Sha512,
            "sha256" | "sha256_crypt" => Algo::Sha256,
            "md5" | "md5_crypt" => Algo::Md5,
            "blowfish" | "bcrypt" => Algo::Bcrypt,
            other => {
                return Err(invalid(format!(
                    "{other} is not in the list of supported passlib algorithms: md5, \
                     blowfish, sha256, sha512"
                )));
            }
        })
    }

    /// passlib's name of the algorithm (in its messages).
    fn name(self) -> &'static str {
        match self {
            Algo::Sha512 => "sha512_crypt",
            Algo::Sha256 => "sha256_crypt",
            Algo::Md5 => "md5_crypt",
            Algo::Bcrypt => "bcrypt",
        }
    }

    /// The most salt characters the algorithm takes (bcrypt: exactly this many).
    fn max_salt(self) -> usize {
        match self {
            Algo::Sha512 | Algo::Sha256 => 16,
            Algo::Md5 => 8,
            Algo::Bcrypt => 22,
        }
    }

    /// The rounds Ansible asks for when none are given (crypt's defaults, `implicit_rounds`).
    fn default_rounds(self) -> Option<u64> {
        match self {
            Algo::Sha512 => Some(656_000),
            Algo::Sha256 => Some(535_000),
            Algo::Md5 => None,
            Algo::Bcrypt => Some(12),
        }
    }

    /// The allowed rounds (bcrypt: its cost).
    fn rounds_range(self) -> std::ops::RangeInclusive<u64> {
        match self {
            Algo::Bcrypt => 4..=31,
            _ => u64::from(Params::ROUNDS_MIN)..=u64::from(Params::ROUNDS_MAX),
        }
    }
}

/// The arguments of one `password_hash` call, checked as passlib checks them.
#[derive(Debug, Clone, PartialEq)]
struct Request {
    algo: Algo,
    /// A given salt, or `None` for a random one.
    salt: Option<String>,
    /// The size of a random salt.
    salt_size: usize,
    /// SHA-crypt's rounds or bcrypt's cost (`None` for md5).
    rounds: Option<u64>,
    /// bcrypt's version (`2b`, `2a`, `2y`).
    ident: &'static str,
}

/// An argument given positionally (after `hashtype`) or by name; `None`, `0`, `''` and
/// `false` count as not given, as in Ansible (`if salt:`).
fn argument(
    positional: &mut std::slice::Iter<'_, MjValue>,
    kwargs: &Kwargs,
    name: &str,
) -> Result<Option<MjValue>, Error> {
    let value = match positional.next() {
        Some(v) => {
            if kwargs.has(name) {
                return Err(invalid(format!(
                    "got multiple values for argument '{name}'"
                )));
            }
            Some(v.clone())
        }
        None => kwargs.get::<Option<MjValue>>(name)?,
    };
    Ok(value.filter(|v| !v.is_none() && !v.is_undefined() && v.is_true()))
}

/// A whole number argument (an integer, or a string of one as passlib accepts for rounds).
fn whole_number(value: &MjValue, name: &str) -> Result<i64, Error> {
    if let Some(s) = value.as_str() {
        return s
            .trim()
            .parse()
            .map_err(|_| invalid(format!("{name} must be an integer, not '{s}'")));
    }
    if value.is_integer() || value.kind() == minijinja::value::ValueKind::Bool {
        return i64::try_from(value.clone())
            .map_err(|_| invalid(format!("{name} must be an integer, not {value}")));
    }
    Err(invalid(format!("{name} must be an integer, not {value}")))
}

impl Request {
    /// Reads and checks the arguments after the password.
    fn parse(args: &[MjValue], kwargs: &Kwargs) -> Result<Request, Error> {
        if args.len() > 5 {
            return Err(invalid(format!(
                "takes at most 5 arguments after the password ({} given)",
                args.len()
            )));
        }
        let mut positional = args.iter();
        let hashtype = match positional.next() {
            Some(v) => Some(v.clone()),
            None => kwargs.get::<Option<MjValue>>("hashtype")?,
        };
        let algo = match hashtype {
            None => Algo::Sha512,
            Some(v) => Algo::parse(&v.to_string())?,
        };
        let salt = argument(&mut positional, kwargs, "salt")?;
        let salt_size = argument(&mut positional, kwargs, "salt_size")?;
        let rounds = argument(&mut positional, kwargs, "rounds")?;
        let ident = argument(&mut positional, kwargs, "ident")?;
        kwargs.assert_all_used()?;
        Ok(Request {
            algo,
            salt: salt.map(|s| checked_salt(algo, &s)).transpose()?,
            salt_size: checked_salt_size(algo, salt_size.as_ref())?,
            rounds: checked_rounds(algo, rounds.as_ref())?,
            ident: checked_ident(algo, ident.as_ref())?,
        })
    }
}

/// A given salt, checked as passlib checks it (bcrypt's with its unused bits cleared).
fn checked_salt(algo: Algo, salt: &MjValue) -> Result<String, Error> {
    let salt = match salt.as_str() {
        Some(s) => s.to_string(),
        None if salt.is_number() => salt.to_string(),
        None => return Err(invalid(format!("the salt must be a string, not {salt}"))),
    };
    let alphabet: &[u8] = if algo == Algo::Bcrypt {
        BCRYPT64
    } else {
        HASH64
    };
    if !salt.bytes().all(|b| alphabet.contains(&b)) {
        return Err(invalid(format!(
            "invalid characters in {} salt",
            algo.name()
        )));
    }
    match algo {
        Algo::Bcrypt if salt.len() != 22 => Err(invalid(format!(
            "salt of {} characters (bcrypt requires exactly 22 chars)",
            salt.len()
        ))),
        Algo::Bcrypt => Ok(bcrypt64_encode(&bcrypt64_decode(&salt))),
        _ if salt.len() > algo.max_salt() => Err(invalid(format!(
            "salt too large ({} requires <= {} chars)",
            algo.name(),
            algo.max_salt()
        ))),
        _ => Ok(salt),
    }
}

/// The size of a random salt: `salt_size`, or the algorithm's largest.
fn checked_salt_size(algo: Algo, size: Option<&MjValue>) -> Result<usize, Error> {
    let Some(size) = size else {
        return Ok(algo.max_salt());
    };
    if size.as_str().is_some() {
        return Err(invalid("salt_size must be an integer"));
    }
    let size = whole_number(size, "salt_size")?;
    let max = algo.max_salt() as i64;
    match algo {
        Algo::Bcrypt if size != max => Err(invalid(format!(
            "bcrypt: salt_size ({size}) must be exactly 22"
        ))),
        _ if size < 0 => Err(invalid(format!(
            "{}: salt_size ({size}) below min_salt_size (0)",
            algo.name()
        ))),
        _ if size > max => Err(invalid(format!(
            "{}: salt_size ({size}) above max_salt_size ({max})",
            algo.name()
        ))),
        _ => Ok(size as usize),
    }
}

/// The rounds (bcrypt: cost) to hash with: the given ones or Ansible's default.
fn checked_rounds(algo: Algo, rounds: Option<&MjValue>) -> Result<Option<u64>, Error> {
    let Some(rounds) = rounds else {
        return Ok(algo.default_rounds());
    };
    if algo == Algo::Md5 {
        return Err(invalid("md5_crypt does not take rounds"));
    }
    let n = whole_number(rounds, "rounds")?;
    let range = algo.rounds_range();
    match u64::try_from(n) {
        Ok(n) if range.contains(&n) => Ok(Some(n)),
        _ => Err(invalid(format!(
            "{}: rounds ({n}) must be between {} and {}",
            algo.name(),
            range.start(),
            range.end()
        ))),
    }
}

/// bcrypt's version: `2b` unless `ident` says `2a` or `2y`; other algorithms ignore `ident`.
fn checked_ident(algo: Algo, ident: Option<&MjValue>) -> Result<&'static str, Error> {
    match (algo, ident) {
        (Algo::Bcrypt, None) => Ok("2b"),
        (Algo::Bcrypt, Some(v)) => match v.as_str() {
            Some("2b") => Ok("2b"),
            Some("2a") => Ok("2a"),
            Some("2y") => Ok("2y"),
            _ => Err(invalid(format!(
                "ident '{v}' is not supported by prov (2a, 2b, 2y)"
            ))),
        },
        _ => Ok(""),
    }
}

/// `n` characters of crypt's base64 for the low bits of `w`, lowest first.
fn push_hash64(out: &mut String, mut w: u32, n: usize) {
    for _ in 0..n {
        out.push(char::from(HASH64[(w & 0x3f) as usize]));
        w >>= 6;
    }
}

/// crypt's encoding of a digest: each group of three bytes (given by index, most significant
/// first) as 4 characters; `last` the final partial group (its value and length).
fn hash64_groups(digest: &[u8], groups: &[[usize; 3]], last: (u32, usize)) -> String {
    let mut out = String::new();
    for [a, b, c] in groups {
        let w =
            (u32::from(digest[*a]) << 16) | (u32::from(digest[*b]) << 8) | u32::from(digest[*c]);
        push_hash64(&mut out, w, 4);
    }
    push_hash64(&mut out, last.0, last.1);
    out
}

/// SHA-512-crypt's output order (glibc's `b64_from_24bit` calls).
const SHA512_GROUPS: [[usize; 3]; 21] = [
    [0, 21, 42],
    [22, 43, 1],
    [44, 2, 23],
    [3, 24, 45],
    [25, 46, 4],
    [47, 5, 26],
    [6, 27, 48],
    [28, 49, 7],
    [50, 8, 29],
    [9, 30, 51],
    [31, 52, 10],
    [53, 11, 32],
    [12, 33, 54],
    [34, 55, 13],
    [56, 14, 35],
    [15, 36, 57],
    [37, 58, 16],
    [59, 17, 38],
    [18, 39, 60],
    [40, 61, 19],
    [62, 20, 41],
];

/// SHA-256-crypt's output order.
const SHA256_GROUPS: [[usize; 3]; 10] = [
    [0, 10, 20],
    [21, 1, 11],
    [12, 22, 2],
    [3, 13, 23],
    [24, 4, 14],
    [15, 25, 5],
    [6, 16, 26],
    [27, 7, 17],
    [18, 28, 8],
    [9, 19, 29],
];

/// md5-crypt's output order.
const MD5_GROUPS: [[usize; 3]; 5] = [[0, 6, 12], [1, 7, 13], [2, 8, 14], [3, 9, 15], [4, 10, 5]];

/// SHA-crypt (`$6$`/`$5$`) of `password` with `salt` (at most 16 characters) and `rounds`.
fn sha_crypt(algo: Algo, password: &[u8], salt: &str, rounds: u64) -> Result<String, Error> {
    let params = u32::try_from(rounds)
        .ok()
        .and_then(|r| Params::new(r).ok())
        .ok_or_else(|| invalid(format!("rounds ({rounds}) out of range")))?;
    let (id, hash) = match algo {
        Algo::Sha512 => {
            let d = sha_crypt::sha512_crypt(password, salt.as_bytes(), params);
            (
                "6",
                hash64_groups(&d, &SHA512_GROUPS, (u32::from(d[63]), 2)),
            )
        }
        _ => {
            let d = sha_crypt::sha256_crypt(password, salt.as_bytes(), params);
            let last = (u32::from(d[31]) << 8) | u32::from(d[30]);
            ("5", hash64_groups(&d, &SHA256_GROUPS, (last, 3)))
        }
    };
    Ok(match rounds {
        5000 => format!("${id}${salt}${hash}"),
        _ => format!("${id}$rounds={rounds}${salt}${hash}"),
    })
}

/// md5-crypt (`$1$`, FreeBSD's) of `password` with `salt` (at most 8 characters).
fn md5_crypt(password: &[u8], salt: &str) -> String {
    let salt_b = salt.as_bytes();
    let mut alt = md5::Context::new();
    alt.consume(password);
    alt.consume(salt_b);
    alt.consume(password);
    let alt = alt.finalize().0;
    let mut ctx = md5::Context::new();
    ctx.consume(password);
    ctx.consume(b"$1$");
    ctx.consume(salt_b);
    for chunk in password.chunks(16) {
        ctx.consume(&alt[..chunk.len()]);
    }
    let mut i = password.len();
    while i > 0 {
        if i & 1 == 1 {
            ctx.consume([0u8]);
        } else {
            ctx.consume(&password[..1]);
        }
        i >>= 1;
    }
    let mut fin = ctx.finalize().0;
    for i in 0..1000 {
        let mut ctx = md5::Context::new();
        ctx.consume(if i & 1 == 1 { password } else { &fin[..] });
        if i % 3 != 0 {
            ctx.consume(salt_b);
        }
        if i % 7 != 0 {
            ctx.consume(password);
        }
        ctx.consume(if i & 1 == 1 { &fin[..] } else { password });
        fin = ctx.finalize().0;
    }
    let hash = hash64_groups(&fin, &MD5_GROUPS, (u32::from(fin[11]), 2));
    format!("$1${salt}${hash}")
}

/// bcrypt's base64 of `bytes` (no padding).
fn bcrypt64_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let mut w = 0u32;
        for (i, b) in chunk.iter().enumerate() {
            w |= u32::from(*b) << (16 - 8 * i);
        }
        for i in 0..=chunk.len() {
            out.push(char::from(BCRYPT64[((w >> (18 - 6 * i)) & 0x3f) as usize]));
        }
    }
    out
}

/// The 16 bytes of a 22-character bcrypt salt (the last character's unused bits ignored).
fn bcrypt64_decode(salt: &str) -> [u8; 16] {
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut out = [0u8; 16];
    let mut n = 0;
    for c in salt.bytes() {
        let v = BCRYPT64.iter().position(|&a| a == c).unwrap_or(0) as u32;
        bits = (bits << 6) | v;
        nbits += 6;
        if nbits >= 8 && n < 16 {
            nbits -= 8;
            out[n] = (bits >> nbits) as u8;
            n += 1;
        }
        bits &= (1 << nbits) - 1;
    }
    out
}

/// bcrypt (`$2b$`) of `password` (truncated to 72 bytes, as passlib does) with a 22-character
/// salt and `cost`.
fn bcrypt(password: &[u8], salt: &str, cost: u64, ident: &str) -> String {
    use blowfish::Blowfish;
    let salt_bytes = bcrypt64_decode(salt);
    // The key: the password with its terminating NUL, at most 72 bytes.
    let mut key: Vec<u8> = password.iter().copied().take(72).collect();
    if key.len() < 72 {
        key.push(0);
    }
    let mut state = Blowfish::bc_init_state();
    state.salted_expand_key(&salt_bytes, &key);
    for _ in 0..1u64 << cost {
        state.bc_expand_key(&key);
        state.bc_expand_key(&salt_bytes);
    }
    // "OrpheanBeholderScryDoubt", encrypted 64 times.
    let mut ctext = [
        0x4f72_7068,
        0x6561_6e42,
        0x6568_6f6c,
        0x6465_7253,
        0x6372_7944,
        0x6f75_6274,
    ];
    let mut output = Vec::with_capacity(24);
    for pair in ctext.chunks_mut(2) {
        for _ in 0..64 {
            let [l, r] = state.bc_encrypt([pair[0], pair[1]]);
            pair[0] = l;
            pair[1] = r;
        }
        output.extend_from_slice(&pair[0].to_be_bytes());
        output.extend_from_slice(&pair[1].to_be_bytes());
    }
    format!(
        "${ident}${cost:02}${salt}{}",
        bcrypt64_encode(&output[..23])
    )
}

/// A random salt of `size` characters (bcrypt: 16 random bytes).
fn random_salt(algo: Algo, size: usize) -> String {
    let mut rng = rand::thread_rng();
    if algo == Algo::Bcrypt {
        let bytes: [u8; 16] = rng.r#gen();
        return bcrypt64_encode(&bytes);
    }
    (0..size)
        .map(|_| char::from(HASH64[rng.gen_range(0..64)]))
        .collect()
}

/// The hash of `password` as the request asks.
fn hash(password: &str, req: &Request) -> Result<String, Error> {
    let password = password.as_bytes();
    if password.contains(&0) {
        return Err(invalid(match req.algo {
            Algo::Bcrypt => "bcrypt does not allow NULL bytes in password",
            _ => "null character in secret",
        }));
    }
    let salt = match &req.salt {
        Some(s) => s.clone(),
        None => random_salt(req.algo, req.salt_size),
    };
    let rounds = req.rounds.unwrap_or(0);
    Ok(match req.algo {
        Algo::Sha512 | Algo::Sha256 => sha_crypt(req.algo, password, &salt, rounds)?,
        Algo::Md5 => md5_crypt(password, &salt),
        Algo::Bcrypt => bcrypt(password, &salt, rounds, req.ident),
    })
}

/// The render budget a request costs: its rounds, as steps.
fn steps(req: &Request) -> u64 {
    match (req.algo, req.rounds) {
        (Algo::Bcrypt, Some(cost)) => (1u64 << cost).saturating_mul(20),
        (_, Some(rounds)) => rounds / 8,
        (_, None) => 125,
    }
}

/// The `password_hash` filter.
fn password_hash_filter(
    state: &State,
    password: MjValue,
    args: Rest<MjValue>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let req = Request::parse(&args, &kwargs)?;
    let Some(password) = password.as_str() else {
        return Err(invalid(format!(
            "secret must be a string, not {}",
            password.kind()
        )));
    };
    charge_steps(state, steps(&req))?;
    hash(password, &req)
}

/// Registers `password_hash`.
pub(super) fn register(env: &mut Environment<'static>) {
    env.add_filter("password_hash", password_hash_filter);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(algo: Algo, salt: &str, rounds: Option<u64>, ident: &'static str) -> Request {
        Request {
            algo,
            salt: Some(salt.into()),
            salt_size: algo.max_salt(),
            rounds,
            ident,
        }
    }

    #[test]
    fn sha_crypt_matches_passlib() {
        let r = req(Algo::Sha512, "saltsalt", Some(5000), "");
        assert_eq!(
            hash("secret", &r).unwrap(),
            "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1"
        );
        let r = req(Algo::Sha512, "saltsalt", Some(1000), "");
        assert_eq!(
            hash("secret", &r).unwrap(),
            "$6$rounds=1000$saltsalt$LAV5VE5Y7w1d73x1mFNspYWUpazfmwv2SoepNXNKJ/otop/Zok96Hr8Q13LEv0DRY/x8v0/crpIjl8NJSAqXV/"
        );
        let r = req(Algo::Sha256, "saltsalt", Some(535_000), "");
        assert_eq!(
            hash("secret", &r).unwrap(),
            "$5$rounds=535000$saltsalt$VSmVlMm.XSbjLKI0G48ksoE0xc0243La2Jr.EPuau75"
        );
    }

    #[test]
    fn md5_crypt_matches_passlib() {
        assert_eq!(
            hash("secret", &req(Algo::Md5, "saltsalt", None, "")).unwrap(),
            "$1$saltsalt$9xy1btjgzLYfb7hivXtC//"
        );
        assert_eq!(
            hash("secret", &req(Algo::Md5, "salt", None, "")).unwrap(),
            "$1$salt$ez2vlPGdaLYkJam5pWs/Y1"
        );
    }

    #[test]
    fn bcrypt_matches_passlib() {
        let salt = checked_salt(Algo::Bcrypt, &MjValue::from("1234567890123456789012")).unwrap();
        assert_eq!(salt, "123456789012345678901u");
        assert_eq!(
            hash("secret", &req(Algo::Bcrypt, &salt, Some(4), "2b")).unwrap(),
            "$2b$04$123456789012345678901u//h8y7tq3SNKU3W0iQ9NrkyT8n5fXPS"
        );
        assert_eq!(
            hash("secret", &req(Algo::Bcrypt, &salt, Some(4), "2y")).unwrap(),
            "$2y$04$123456789012345678901u//h8y7tq3SNKU3W0iQ9NrkyT8n5fXPS"
        );
        let long = "a".repeat(80);
        assert_eq!(
            hash(&long, &req(Algo::Bcrypt, &salt, Some(4), "2b")).unwrap(),
            "$2b$04$123456789012345678901uJp0DeYDg3jnzRj9SzgANOh5819j5skm"
        );
    }

    #[test]
    fn salts_are_checked_as_passlib_checks_them() {
        let s = |algo, salt: &str| checked_salt(algo, &MjValue::from(salt));
        assert!(s(Algo::Sha512, "bad$salt").is_err());
        assert!(s(Algo::Sha512, "bad_salt").is_err());
        assert!(s(Algo::Sha512, "sälz").is_err());
        assert!(s(Algo::Sha512, "0123456789abcdefX").is_err());
        assert!(s(Algo::Sha512, "0123456789abcdef").is_ok());
        assert!(s(Algo::Md5, "saltsalts").is_err());
        assert!(s(Algo::Bcrypt, "123456789012345678901").is_err());
        assert_eq!(
            checked_salt(Algo::Sha512, &MjValue::from(123)).unwrap(),
            "123"
        );
    }

    #[test]
    fn random_salts_have_the_asked_size() {
        for (algo, size) in [(Algo::Sha512, 16), (Algo::Md5, 4), (Algo::Bcrypt, 22)] {
            let salt = random_salt(algo, size);
            assert_eq!(salt.len(), size);
            assert_eq!(
                checked_salt(algo, &MjValue::from(salt.as_str())).unwrap(),
                salt
            );
        }
    }

    #[test]
    fn bcrypt64_round_trips() {
        let bytes: Vec<u8> = (0..16).collect();
        let text = bcrypt64_encode(&bytes);
        assert_eq!(text.len(), 22);
        assert_eq!(bcrypt64_decode(&text).to_vec(), bytes);
    }

    #[test]
    fn rounds_and_idents_outside_ansibles_are_refused() {
        let n = |v: i64| MjValue::from(v);
        assert!(checked_rounds(Algo::Sha512, Some(&n(999))).is_err());
        assert!(checked_rounds(Algo::Sha512, Some(&n(1_000_000_000))).is_err());
        assert_eq!(
            checked_rounds(Algo::Sha512, Some(&MjValue::from("5000"))).unwrap(),
            Some(5000)
        );
        assert!(checked_rounds(Algo::Sha512, Some(&MjValue::from(5000.5))).is_err());
        assert!(checked_rounds(Algo::Md5, Some(&n(1000))).is_err());
        assert!(checked_rounds(Algo::Bcrypt, Some(&n(3))).is_err());
        assert!(checked_rounds(Algo::Bcrypt, Some(&n(32))).is_err());
        assert_eq!(checked_rounds(Algo::Sha256, None).unwrap(), Some(535_000));
        assert!(checked_ident(Algo::Bcrypt, Some(&MjValue::from("2x"))).is_err());
        assert!(checked_ident(Algo::Bcrypt, Some(&MjValue::from("2"))).is_err());
        assert_eq!(
            checked_ident(Algo::Sha512, Some(&MjValue::from("2a"))).unwrap(),
            ""
        );
        assert!(Algo::parse("des").is_err());
        assert!(Algo::parse("SHA512").is_err());
        assert!(checked_salt_size(Algo::Sha512, Some(&n(20))).is_err());
        assert!(checked_salt_size(Algo::Bcrypt, Some(&n(10))).is_err());
        assert_eq!(checked_salt_size(Algo::Md5, Some(&n(4))).unwrap(), 4);
    }

    fn render(text: &str) -> Result<String, Error> {
        let env = super::super::environment();
        env.render_str(text, minijinja::context! {})
    }

    #[test]
    fn the_filter_takes_arguments_by_position_and_name() {
        assert_eq!(
            render("{{ 'secret' | password_hash('md5', 'saltsalt') }}").unwrap(),
            "$1$saltsalt$9xy1btjgzLYfb7hivXtC//"
        );
        assert_eq!(
            render("{{ 'secret' | password_hash(hashtype='md5', salt='salt', ident='2a') }}")
                .unwrap(),
            "$1$salt$ez2vlPGdaLYkJam5pWs/Y1"
        );
        let err = render("{{ 'secret' | password_hash('md5', 'salt', bogus=1) }}").unwrap_err();
        assert!(err.to_string().contains("bogus"), "{err}");
        let err = render("{{ 'secret' | password_hash('des') }}").unwrap_err();
        assert!(err.to_string().contains("des is not in the list"), "{err}");
        assert!(render("{{ 123 | password_hash('md5', 'salt') }}").is_err());
        let err = render("{{ nope | password_hash('md5', 'salt') }}").unwrap_err();
        assert!(err.to_string().contains("undefined"), "{err}");
    }

    #[test]
    fn random_salts_differ_per_call() {
        let a = render("{{ 'secret' | password_hash('md5') }}").unwrap();
        let b = render("{{ 'secret' | password_hash('md5') }}").unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("$1$") && a.len() == 3 + 8 + 1 + 22, "{a}");
    }

    #[test]
    fn rounds_beyond_the_render_budget_fail_before_hashing() {
        for text in [
            "{{ 'secret' | password_hash('sha512', 'saltsalt', rounds=999999999) }}",
            "{{ 'secret' | password_hash('bcrypt', rounds=31) }}",
        ] {
            let err = render(text).unwrap_err();
            assert!(err.to_string().contains("fuel"), "{text}: {err}");
        }
    }

    #[test]
    fn null_bytes_in_the_password_are_refused() {
        assert!(hash("a\0b", &req(Algo::Sha512, "saltsalt", Some(5000), "")).is_err());
    }
}
