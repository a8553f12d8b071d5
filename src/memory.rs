//! Giving memory back to the operating system when load drops, and showing where it is.
//!
//! glibc's allocator keeps freed memory in its arenas: after a burst of conversations
//! passivates, the node's RSS stays at its peak although the heap is mostly free (measured:
//! 485 MiB after a soak whose sockets were all gone). A node-wide thread reads the allocator's
//! counters every few seconds, publishes them (`switchboard_heap_bytes`, and SQLite's own share
//! in `switchboard_sqlite_memory_bytes`) and, when enough of the heap is free, asks glibc to
//! return it (`malloc_trim`), counting the trims and the time they take. docs/decisions.md
//! ("Memory back to the OS") has the measurements behind the thresholds and the choice of glibc.

use std::time::{Duration, Instant};

use crate::metrics;

/// How often the heap is looked at.
const CHECK_EVERY: Duration = Duration::from_secs(10);
/// Free heap (bytes) worth a trim. Low enough that a load spike's leftovers (a few MiB of
/// socket buffers and frames) go back within seconds; a trim costs well under a millisecond
/// here (`switchboard_memory_trim_seconds_total` / `switchboard_memory_trims_total`).
const TRIM_ABOVE: usize = 8 * 1024 * 1024;

/// Allocations at least this large get their own mapping, returned to the OS when freed.
const MMAP_ABOVE: i32 = 1024 * 1024;
/// Free memory at the top of an arena above which `free` itself gives it back.
const TRIM_TOP_ABOVE: i32 = 2 * 1024 * 1024;

/// Fix glibc's thresholds instead of letting them adapt. By default, freeing one large mapped
/// block (an argon2 hash's 19 MiB) raises the mapping threshold to its size and the top-trim
/// threshold to twice that, so every later hash is carved from an arena and up to 38 MiB of
/// free top stays resident per arena; `malloc_trim` does not reach the top of the per-thread
/// arenas. Measured after a soak: 2 x 19 MiB resident in the argon2 threads' arenas that no
/// trim could return. Setting the thresholds turns the adaptation off.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's thresholds; called before the node's threads.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_ABOVE);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_TOP_ABOVE);
    }
}

/// Set the allocator's thresholds and start the trimming thread (once per process; later calls
/// do nothing).
pub fn start_trimmer() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        tune_allocator();
        let spawned = std::thread::Builder::new()
            .name("memory-trim".into())
            .spawn(|| loop {
                std::thread::sleep(CHECK_EVERY);
                look_and_trim();
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the memory trimmer; RSS will not shrink after load");
        }
    });
}

/// Publish the heap's state and trim when enough of it is free.
pub fn look_and_trim() {
    let heap = heap();
    metrics::HEAP
        .with_label_values(&["in_use"])
        .set(heap.in_use as i64);
    metrics::HEAP
        .with_label_values(&["free"])
        .set(heap.free as i64);
    // SAFETY: sqlite3_memory_used only reads SQLite's allocation counter.
    metrics::SQLITE_MEMORY.set(unsafe { rusqlite::ffi::sqlite3_memory_used() });
    if heap.free > TRIM_ABOVE {
        let started = Instant::now();
        trim();
        metrics::MEMORY_TRIMS.inc();
        metrics::MEMORY_TRIM_SECONDS.inc_by(started.elapsed().as_secs_f64());
    }
}

/// The allocator's counters, over all its arenas.
#[derive(Debug, Clone, Copy, Default)]
pub struct Heap {
    /// Bytes in live allocations (including large ones mapped on their own).
    pub in_use: usize,
    /// Bytes in free chunks, resident or already handed back by a trim.
    pub free: usize,
}

pub fn heap() -> Heap {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 only reads the allocator's counters.
        let info = unsafe { libc::mallinfo2() };
        Heap {
            in_use: info.uordblks + info.hblkhd,
            free: info.fordblks,
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    Heap::default()
}

/// Return free heap pages to the OS.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages to the OS; it touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}
