//! Giving memory back to the operating system when load drops.
//!
//! glibc's allocator keeps freed memory in its arenas: after a burst of conversations
//! passivates, the node's RSS stays at its peak although the heap is mostly free (measured:
//! 485 MiB after a soak whose sockets were all gone). A node-wide thread looks at how much of
//! the heap is free once in a while and, when that is a lot, asks glibc to return it
//! (`malloc_trim`). It costs a walk of the arenas, so it runs only when it pays.
//! docs/decisions.md has the measurements behind the choice of glibc over jemalloc/mimalloc.

use std::time::Duration;

/// How often the free heap is looked at.
const CHECK_EVERY: Duration = Duration::from_secs(10);
/// Free heap (bytes) worth a trim.
const TRIM_ABOVE: usize = 32 * 1024 * 1024;

/// Start the trimming thread (once per process; later calls do nothing).
pub fn start_trimmer() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        let spawned = std::thread::Builder::new()
            .name("memory-trim".into())
            .spawn(|| loop {
                std::thread::sleep(CHECK_EVERY);
                if free_heap_bytes() > TRIM_ABOVE {
                    trim();
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the memory trimmer; RSS will not shrink after load");
        }
    });
}

/// Bytes the allocator holds but nothing uses.
pub fn free_heap_bytes() -> usize {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 only reads the allocator's counters.
        let info = unsafe { libc::mallinfo2() };
        info.fordblks
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    0
}

/// Return free heap pages to the OS.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages to the OS; it touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}
