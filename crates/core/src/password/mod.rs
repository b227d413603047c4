//! Passwords: the policy every dialect applies, and argon2id hashing that runs on
//! blocking threads behind a bounded queue. Stored hashes from other systems
//! (bcrypt, scrypt, PBKDF2, salted digests, crypt(3), Firebase: see [`HashFormat`])
//! verify as they are and report `needs_rehash`, so the caller replaces them.

use std::collections::HashSet;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, LazyLock, Mutex};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;
use unicode_normalization::UnicodeNormalization;

use crate::config::Argon2Config;
use crate::error::{Error, Result};
use crate::identity::{fold, Username};
use crate::telemetry;

mod digest;
mod firebase;
mod format;
mod kdf;
pub mod limits;

pub use format::{admit, describe, DigestAlg, HashFormat, Pbkdf2Encoding, Refusal};

/// Fewest characters (Unicode code points after NFKC) in a password.
pub const MIN_LEN: usize = 8;
/// Most characters in a password.
pub const MAX_LEN: usize = 256;

static BLOCKLIST: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../../data/common-passwords.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect()
});

/// A password, NFKC-normalised. Never printed.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Normalises a raw password (no policy check: see [`check_policy`]).
    pub fn new(raw: &str) -> Self {
        Self(raw.nfkc().collect())
    }

    /// The normalised bytes to hash.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// The password policy: 8 to 256 characters, not a common password, not the
/// username. No composition rules (NIST SP 800-63B).
pub fn check_policy(password: &Password, username: &Username) -> Result<()> {
    check_length(password)?;
    let folded = fold(&password.0);
    if BLOCKLIST.contains(folded.as_str()) {
        return Err(Error::invalid(
            "password",
            "Password is too common; choose another",
        ));
    }
    if folded == username.as_str() {
        return Err(Error::invalid(
            "password",
            "Password must not be the same as the username",
        ));
    }
    Ok(())
}

/// The length part of the policy alone (checked before anything is looked up).
pub fn check_length(password: &Password) -> Result<()> {
    let n = password.0.chars().count();
    if n < MIN_LEN {
        return Err(Error::invalid(
            "password",
            format!("Password must be at least {MIN_LEN} characters"),
        ));
    }
    if n > MAX_LEN {
        return Err(Error::invalid(
            "password",
            format!("Password must be at most {MAX_LEN} characters"),
        ));
    }
    Ok(())
}

/// Result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The password matches.
    pub ok: bool,
    /// The stored hash uses other parameters than the current ones.
    pub needs_rehash: bool,
}

/// argon2id hashing on a fixed pool of `workers` threads, at most `queue`
/// hashes waiting; past that, [`Error::Unavailable`].
///
/// Dedicated threads, not tokio's blocking pool: each hash allocates
/// `memory_kib` and the allocator keeps freed blocks in the arena of the thread
/// that used them. On the blocking pool (up to 512 threads, each taking turns)
/// a login burst left every one of them holding its own tens of MiB (730 MB RSS
/// measured after 1,000 logins). Each worker also keeps one argon2 working
/// buffer ([`Scratch`]) for every hash it runs, so memory is `workers ×
/// memory_kib`, allocated once, and never churns.
#[derive(Clone)]
pub struct Hasher {
    params: Params,
    pool: Arc<Pool>,
    admission: Arc<Semaphore>,
    /// Hashes admitted and waiting for a worker (the queue depth).
    waiting: Arc<AtomicUsize>,
    dummy: Arc<str>,
    /// argon2 computations run (hashes, verifications, dummies).
    argon2_runs: Arc<AtomicU64>,
}

type Job = Box<dyn FnOnce(&mut Scratch) + Send>;

/// argon2 working memory a hashing thread reuses from hash to hash.
///
/// It keeps `keep` blocks (the configured cost). A stored hash with a larger
/// memory cost (an imported one, within the admitted bounds) grows it for its
/// own run, and the excess is handed back right after, so one such login does
/// not pin its memory. Growing and shrinking resize the one allocation rather
/// than making and freeing a second one beside it.
pub(super) struct Scratch {
    blocks: Vec<Block>,
    keep: usize,
    /// Counts every argon2 run (each one goes through [`Self::with`]).
    runs: Arc<AtomicU64>,
}

impl Scratch {
    fn new(params: &Params, runs: Arc<AtomicU64>) -> Self {
        Self {
            blocks: Vec::new(),
            keep: params.block_count(),
            runs,
        }
    }

    /// Runs `f` (one argon2 computation) with at least `count` blocks of working memory.
    pub(super) fn with<R>(&mut self, count: usize, f: impl FnOnce(&mut [Block]) -> R) -> R {
        self.runs.fetch_add(1, Ordering::Relaxed);
        if self.blocks.len() < count {
            self.blocks.resize(count, Block::default());
        }
        let out = f(&mut self.blocks[..count]);
        if self.blocks.len() > self.keep {
            self.blocks.truncate(self.keep);
            self.blocks.shrink_to_fit();
        }
        out
    }
}

/// The hashing threads; they end when the last [`Hasher`] clone is dropped.
struct Pool {
    jobs: Mutex<mpsc::Sender<Job>>,
}

impl Pool {
    fn start(workers: usize, params: &Params, runs: &Arc<AtomicU64>) -> Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..workers {
            let rx = Arc::clone(&rx);
            let mut scratch = Scratch::new(params, Arc::clone(runs));
            std::thread::Builder::new()
                .name(format!("aegis-hash-{i}"))
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    // A panicking job drops its answer channel (the caller sees
                    // an internal error); the thread keeps serving.
                    let _ = std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut scratch)));
                })
                .map_err(|e| Error::internal(format!("starting hash workers: {e}")))?;
        }
        Ok(Self {
            jobs: Mutex::new(tx),
        })
    }

    fn submit(&self, job: Job) -> Result<()> {
        self.jobs
            .lock()
            .map_err(|_| Error::internal("hash pool poisoned"))?
            .send(job)
            .map_err(|_| Error::internal("hash workers stopped"))
    }
}

/// One hash in the queue: counted in the depth gauge until it gets a worker or
/// its caller goes away.
struct Waiting(Arc<AtomicUsize>);

impl Waiting {
    fn enter(depth: &Arc<AtomicUsize>) -> Self {
        let n = depth.fetch_add(1, Ordering::Relaxed) + 1;
        metrics::gauge!(telemetry::HASH_QUEUE_DEPTH).set(n as f64);
        Self(Arc::clone(depth))
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let n = self.0.fetch_sub(1, Ordering::Relaxed) - 1;
        metrics::gauge!(telemetry::HASH_QUEUE_DEPTH).set(n as f64);
    }
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hasher")
            .field("params", &self.params)
            .finish()
    }
}

impl Hasher {
    /// Builds a hasher; computes the dummy hash used for unknown users.
    pub fn new(cfg: &Argon2Config) -> Result<Self> {
        let params = Params::new(cfg.memory_kib, cfg.iterations, cfg.parallelism, None)
            .map_err(|e| Error::internal(format!("argon2 parameters: {e}")))?;
        let workers = if cfg.workers == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            cfg.workers
        };
        let argon2_runs = Arc::new(AtomicU64::new(0));
        let dummy = hash_blocking(
            &params,
            &crate::secret::random_token(),
            &mut Scratch::new(&params, Arc::new(AtomicU64::new(0))),
        )?;
        Ok(Self {
            pool: Arc::new(Pool::start(workers.max(1), &params, &argon2_runs)?),
            params,
            admission: Arc::new(Semaphore::new(workers + cfg.queue)),
            waiting: Arc::new(AtomicUsize::new(0)),
            dummy: dummy.into(),
            argon2_runs,
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(Params, &mut Scratch) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let Ok(admitted) = self.admission.clone().try_acquire_owned() else {
            metrics::counter!(telemetry::HASH_REJECTED).increment(1);
            return Err(Error::Unavailable { retry_after: 1 });
        };
        let queued = std::time::Instant::now();
        let waiting = Waiting::enter(&self.waiting);
        let params = self.params.clone();
        let (answer, answered) = tokio::sync::oneshot::channel();
        // The admission permit travels with the job: a caller that goes away (a
        // dropped connection) must not free a slot while its hash still runs;
        // a job whose caller left before it started is skipped.
        self.pool.submit(Box::new(move |scratch| {
            let _slot = admitted;
            drop(waiting);
            if answer.is_closed() {
                return;
            }
            metrics::histogram!(telemetry::HASH_WAIT).record(queued.elapsed().as_secs_f64());
            let started = std::time::Instant::now();
            let out = job(params, scratch);
            metrics::histogram!(telemetry::HASH_RUN).record(started.elapsed().as_secs_f64());
            let _ = answer.send(out);
        }))?;
        answered
            .await
            .map_err(|_| Error::internal("password hash job failed"))?
    }

    /// Hashes a password to a PHC string with the current parameters.
    pub async fn hash(&self, password: &Password) -> Result<String> {
        let pw = password.0.clone();
        self.run(move |params, scratch| hash_blocking(&params, &pw, scratch))
            .await
    }

    /// Checks a password against a stored hash in any supported format (see
    /// [`HashFormat`]); with `None` (unknown user or no password) it checks against a
    /// dummy hash so timing reveals nothing, and answers `ok: false`. A stored string
    /// in no supported format, or past the work-factor [`limits`], answers `ok: false`
    /// and logs a warning (never the hash); so does a password no verifier is given
    /// (longer than [`limits::MAX_PASSWORD_BYTES`], or costlier than the bound against
    /// this hash). `needs_rehash` is false only for argon2id with the current parameters.
    ///
    /// Every check costs at least one argon2id hash with the current parameters: where
    /// the stored hash is cheaper in the model (md5-crypt, a salted digest, a low-cost
    /// import) or is not run at all, the dummy is verified too, on the same worker, so
    /// the answer's timing does not tell an imported user from an unknown one.
    pub async fn verify(&self, password: &Password, stored: Option<&str>) -> Result<Verified> {
        let pw = password.0.clone();
        let (stored, real) = match stored {
            Some(s) => (s.to_owned(), true),
            None => (self.dummy.to_string(), false),
        };
        let dummy = Arc::clone(&self.dummy);
        self.run(move |params, scratch| {
            let limits = format::Limits::admitting(&params);
            let refused = Verified {
                ok: false,
                needs_rehash: false,
            };
            let (verified, spent) = match format::parse(&stored, &limits) {
                Err(refusal) => {
                    refusal.log();
                    (refused, 0)
                }
                Ok(parsed) if !parsed.work().takes_password(pw.len(), &limits) => {
                    tracing::debug!(format = %parsed.format(), "password too long to verify against the stored hash");
                    (refused, 0)
                }
                Ok(parsed) => {
                    let ok = verify_parsed(&parsed, pw.as_bytes(), scratch);
                    let verified = Verified {
                        ok: ok && real,
                        needs_rehash: !parsed.is_current(&params),
                    };
                    (verified, parsed.work().cost_ns(pw.len()))
                }
            };
            if spent < limits.floor_ns {
                if let Ok(parsed) = format::parse(&dummy, &limits) {
                    verify_parsed(&parsed, pw.as_bytes(), scratch);
                }
            }
            Ok(verified)
        })
        .await
    }

    /// argon2 computations run so far (hashes, verifications and the dummy
    /// runs that pad cheap ones): what the hashing workers have spent.
    pub fn argon2_runs(&self) -> u64 {
        self.argon2_runs.load(Ordering::Relaxed)
    }
}

/// Runs the verifier. The verifiers are bounded and checked, but a panic in a
/// foreign-format crate must still end as a failed login, not a failed request.
fn verify_parsed(parsed: &format::Parsed<'_>, pw: &[u8], scratch: &mut Scratch) -> bool {
    std::panic::catch_unwind(AssertUnwindSafe(|| parsed.verify(pw, scratch))).unwrap_or_else(|_| {
        tracing::warn!(format = %parsed.format(), "password verifier panicked");
        false
    })
}

fn hash_blocking(params: &Params, pw: &str, scratch: &mut Scratch) -> Result<String> {
    let failed = |e: &dyn fmt::Display| Error::internal(format!("argon2: {e}"));
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(|e| failed(&e))?;
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    scratch
        .with(params.block_count(), |blocks| {
            argon2.hash_password_into_with_memory(pw.as_bytes(), salt_bytes, &mut out, blocks)
        })
        .map_err(|e| failed(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| failed(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
    };
    Ok(phc.to_string())
}

#[cfg(test)]
mod tests;
