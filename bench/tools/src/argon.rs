//! The cost of one argon2id hash with the same crate and parameters as aegis,
//! and what the machine's cores can do with them. Each thread hashes into one
//! memory area allocated once (`hash_password_into_with_memory`), so the
//! figure is the hash itself, without allocating and faulting in 19 MiB.
//!
//! The limit is cores ÷ the *fastest* of `runs` hashes: on a shared machine
//! the median also measures the other processes, and no hash can be faster
//! than the hardware allows.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::args::{percentile, Args};
use crate::AnyResult;

fn hash(params: &Params, memory: &mut [Block], i: u64) -> AnyResult<()> {
    let mut salt = [0u8; 16];
    salt[..8].copy_from_slice(&i.to_le_bytes());
    let mut out = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(b"bench passphrase that is long", &salt, &mut out, memory)
        .map_err(|e| format!("argon2: {e}"))?;
    std::hint::black_box(out);
    Ok(())
}

pub fn main(args: &Args) -> AnyResult<()> {
    let m: u32 = args.num("m", 19456)?;
    let t: u32 = args.num("t", 2)?;
    let p: u32 = args.num("p", 1)?;
    let runs: usize = args.num("runs", 30)?;
    let parallel_s: f64 = args.num("parallel-seconds", 3.0)?;
    let params = Params::new(m, t, p, None).map_err(|e| format!("argon2 params: {e}"))?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    let blocks = params.block_count();
    let mut memory = vec![Block::default(); blocks];
    hash(&params, &mut memory, 0)?; // warm-up: first touch of the memory
    let mut times = Vec::with_capacity(runs);
    for i in 0..runs {
        let t0 = Instant::now();
        hash(&params, &mut memory, i as u64 + 1)?;
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let median = percentile(&times, 50.0);

    // One hashing thread per core, for a few seconds: the rate the cores reach
    // together (memory bandwidth shared), for comparison with cores / time.
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let threads: Vec<_> = (0..cores)
        .map(|c| {
            let (stop, done, params) = (stop.clone(), done.clone(), params.clone());
            std::thread::spawn(move || {
                let mut i = 1000 * (c as u64 + 1);
                let mut memory = vec![Block::default(); params.block_count()];
                while !stop.load(Ordering::Relaxed) {
                    if hash(&params, &mut memory, i).is_ok() {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    i += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(parallel_s));
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        let _ = thread.join();
    }
    let parallel = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();

    let out = serde_json::json!({
        "m_kib": m, "t": t, "p": p, "cores": cores, "runs": runs,
        "median_ms": median, "min_ms": times[0], "max_ms": times[times.len() - 1],
        "limit_per_s": cores as f64 * 1000.0 / times[0],
        "median_limit_per_s": cores as f64 * 1000.0 / median,
        "parallel_per_s": parallel,
    });
    println!("{out}");
    Ok(())
}
