//! Digest-based hashes: aegis's `$aegis-digest$` form, Django's legacy `sha1$`/`md5$`,
//! md5-crypt (`$1$`) and sha-crypt (`$5$`, `$6$`).
//!
//! md5-crypt is computed here from RustCrypto's MD5, following Poul-Henning Kamp's
//! FreeBSD `crypt-md5.c`: no maintained crate provides it (`pwhash`, the usual one,
//! has had no release since 2020), and it is checked against passlib's output.

use base64::Engine as _;
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

use super::format::{ct_eq, decimal, params, DigestAlg, HashFormat, Refusal, B64};
use super::kdf::phc_fields;
use super::limits::Work;

/// The crypt(3) base64 alphabet, used by md5-crypt and sha-crypt.
const CRYPT64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

impl DigestAlg {
    /// Output length in bytes.
    pub(super) fn size(self) -> usize {
        match self {
            Self::Md5 => 16,
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha512 => 64,
        }
    }

    /// `d1 = H(parts…)`, then `d(k+1) = H(dk)` until `dN`, `N = iter`.
    fn iterate(self, parts: &[&[u8]], iter: u32) -> Vec<u8> {
        fn run<D: Digest>(parts: &[&[u8]], iter: u32) -> Vec<u8> {
            let mut h = D::new();
            for p in parts {
                h.update(p);
            }
            let mut d = h.finalize();
            for _ in 1..iter {
                d = D::digest(&d);
            }
            d.to_vec()
        }
        match self {
            Self::Md5 => run::<Md5>(parts, iter),
            Self::Sha1 => run::<Sha1>(parts, iter),
            Self::Sha256 => run::<Sha256>(parts, iter),
            Self::Sha512 => run::<Sha512>(parts, iter),
        }
    }
}

/// A salted, possibly iterated, plain digest.
pub(in crate::password) struct SaltedDigest {
    alg: DigestAlg,
    django: bool,
    iter: u32,
    salt_first: bool,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl SaltedDigest {
    pub(super) fn format(&self) -> HashFormat {
        if self.django {
            HashFormat::DjangoDigest(self.alg)
        } else {
            HashFormat::AegisDigest(self.alg)
        }
    }

    pub(super) fn work(&self) -> Work {
        Work::Digest {
            digest: self.alg,
            iterations: self.iter,
            salt_len: self.salt.len(),
        }
    }

    pub(super) fn verify(&self, password: &[u8]) -> bool {
        let parts: [&[u8]; 2] = if self.salt_first {
            [&self.salt, password]
        } else {
            [password, &self.salt]
        };
        ct_eq(&self.alg.iterate(&parts, self.iter), &self.hash)
    }
}

/// `alg=…,iter=…,order=…$<salt>$<hash>`, what follows `$aegis-digest$`.
pub(super) fn parse_aegis(body: &str) -> Result<SaltedDigest, Refusal> {
    // The format is unknown until `alg` is read; report the family by its commonest member.
    let mut bad = Refusal::Malformed(HashFormat::AegisDigest(DigestAlg::Sha256));
    let [text, salt, hash] = phc_fields(body).ok_or(bad)?;
    let [alg, iter, order] = params(text, ["alg", "iter", "order"]).ok_or(bad)?;
    let alg = match alg {
        Some("md5") => DigestAlg::Md5,
        Some("sha1") => DigestAlg::Sha1,
        Some("sha256") => DigestAlg::Sha256,
        Some("sha512") => DigestAlg::Sha512,
        _ => return Err(bad),
    };
    bad = Refusal::Malformed(HashFormat::AegisDigest(alg));
    let salt_first = match order {
        Some("salt-first") => true,
        Some("password-first") => false,
        _ => return Err(bad),
    };
    let iter = iter.and_then(decimal).filter(|n| *n > 0).ok_or(bad)?;
    let salt = B64.decode(salt).map_err(|_| bad)?;
    let hash = B64.decode(hash).map_err(|_| bad)?;
    if hash.len() != alg.size() {
        return Err(bad);
    }
    let digest = SaltedDigest {
        alg,
        django: false,
        iter,
        salt_first,
        salt,
        hash,
    };
    digest
        .work()
        .check()
        .map_err(|_| Refusal::TooCostly(HashFormat::AegisDigest(alg)))?;
    Ok(digest)
}

/// Django's `<salt>$<hex of H(salt‖password)>`, what follows `sha1$` or `md5$`.
pub(super) fn parse_django(alg: DigestAlg, body: &str) -> Result<SaltedDigest, Refusal> {
    let bad = Refusal::Malformed(HashFormat::DjangoDigest(alg));
    let (salt, hex) = body.split_once('$').ok_or(bad)?;
    let hash = decode_hex(hex)
        .filter(|h| h.len() == alg.size())
        .ok_or(bad)?;
    Ok(SaltedDigest {
        alg,
        django: true,
        iter: 1,
        salt_first: true,
        salt: salt.as_bytes().to_vec(),
        hash,
    })
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    let pairs = hex.as_bytes().chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return None;
    }
    let nibble = |b: u8| char::from(b).to_digit(16);
    pairs
        .map(|p| u8::try_from(nibble(p[0])? << 4 | nibble(p[1])?).ok())
        .collect()
}

/// `$1$<salt>$<hash>`: up to 8 salt characters, 22 of hash.
pub(in crate::password) struct Md5Crypt<'a> {
    salt: &'a str,
    hash: &'a str,
}

impl Md5Crypt<'_> {
    pub(super) fn work(&self) -> Work {
        Work::Md5Crypt {
            salt_len: self.salt.len(),
        }
    }

    pub(super) fn verify(&self, password: &[u8]) -> bool {
        ct_eq(
            &md5_crypt(password, self.salt.as_bytes()),
            self.hash.as_bytes(),
        )
    }
}

pub(super) fn parse_md5_crypt(body: &str) -> Result<Md5Crypt<'_>, Refusal> {
    let bad = Refusal::Malformed(HashFormat::Md5Crypt);
    let (salt, hash) = body.split_once('$').ok_or(bad)?;
    if salt.len() > 8 || hash.len() != 22 || !crypt64(hash) {
        return Err(bad);
    }
    Ok(Md5Crypt { salt, hash })
}

/// The FreeBSD md5-crypt checksum of `password` with `salt`, in the crypt alphabet.
fn md5_crypt(pw: &[u8], salt: &[u8]) -> [u8; 22] {
    let alt = Md5::new()
        .chain_update(pw)
        .chain_update(salt)
        .chain_update(pw)
        .finalize();
    let mut ctx = Md5::new()
        .chain_update(pw)
        .chain_update(b"$1$")
        .chain_update(salt);
    for chunk in pw.chunks(16) {
        ctx.update(&alt[..chunk.len()]);
    }
    // One byte per bit of the length: NUL for a set bit, the password's first byte
    // for a clear one (the original's quirk, kept by every implementation).
    let mut n = pw.len();
    while n > 0 {
        ctx.update(if n & 1 == 1 { &[0u8][..] } else { &pw[..1] });
        n >>= 1;
    }
    let mut fin = ctx.finalize();
    for i in 0..1000 {
        let mut c = Md5::new();
        if i & 1 == 1 {
            c.update(pw);
        } else {
            c.update(fin);
        }
        if i % 3 != 0 {
            c.update(salt);
        }
        if i % 7 != 0 {
            c.update(pw);
        }
        if i & 1 == 1 {
            c.update(fin);
        } else {
            c.update(pw);
        }
        fin = c.finalize();
    }
    let mut out = [0u8; 22];
    let groups = [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)];
    let words = groups
        .iter()
        .map(|&(a, b, c)| {
            let v = u32::from(fin[a]) << 16 | u32::from(fin[b]) << 8 | u32::from(fin[c]);
            (v, 4)
        })
        .chain([(u32::from(fin[11]), 2)]);
    let mut at = 0;
    for (mut v, chars) in words {
        for _ in 0..chars {
            out[at] = CRYPT64[(v & 0x3f) as usize];
            v >>= 6;
            at += 1;
        }
    }
    out
}

fn crypt64(text: &str) -> bool {
    text.bytes().all(|b| CRYPT64.contains(&b))
}

/// `$5$` or `$6$`, optional `rounds=N$`, up to 16 salt characters, then the hash.
pub(in crate::password) struct ShaCrypt<'a> {
    sha512: bool,
    rounds: u32,
    salt: &'a str,
    hash: &'a str,
}

impl ShaCrypt<'_> {
    pub(super) fn format(&self) -> HashFormat {
        if self.sha512 {
            HashFormat::Sha512Crypt
        } else {
            HashFormat::Sha256Crypt
        }
    }

    pub(super) fn work(&self) -> Work {
        Work::ShaCrypt {
            sha512: self.sha512,
            rounds: self.rounds,
            salt_len: self.salt.len(),
        }
    }

    pub(super) fn verify(&self, password: &[u8]) -> bool {
        let (salt, rounds) = (self.salt.as_bytes(), self.rounds as usize);
        let ours = if self.sha512 {
            sha_crypt::Sha512Params::new(rounds)
                .and_then(|p| sha_crypt::sha512_crypt_b64(password, salt, &p))
        } else {
            sha_crypt::Sha256Params::new(rounds)
                .and_then(|p| sha_crypt::sha256_crypt_b64(password, salt, &p))
        };
        ours.is_ok_and(|h| ct_eq(h.as_bytes(), self.hash.as_bytes()))
    }
}

/// `format` is [`HashFormat::Sha256Crypt`] or [`HashFormat::Sha512Crypt`]; `body`
/// follows `$5$`/`$6$`.
pub(super) fn parse_sha_crypt(format: HashFormat, body: &str) -> Result<ShaCrypt<'_>, Refusal> {
    let bad = Refusal::Malformed(format);
    let sha512 = format == HashFormat::Sha512Crypt;
    let (rounds, rest) = match body.strip_prefix("rounds=") {
        Some(r) => {
            let (n, rest) = r.split_once('$').ok_or(bad)?;
            (decimal(n).ok_or(bad)?, rest)
        }
        None => (5000, body),
    };
    let (salt, hash) = rest.split_once('$').ok_or(bad)?;
    let hash_len = if sha512 { 86 } else { 43 };
    if salt.len() > 16 || hash.len() != hash_len || !crypt64(hash) {
        return Err(bad);
    }
    let parsed = ShaCrypt {
        sha512,
        // The specification raises fewer than 1000 rounds to 1000.
        rounds: rounds.max(1000),
        salt,
        hash,
    };
    parsed
        .work()
        .check()
        .map_err(|_| Refusal::TooCostly(format))?;
    Ok(parsed)
}
