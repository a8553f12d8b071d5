//! The memory trimmer hands a fragmented heap back to the OS and publishes what it saw.
//! Its own test binary: no other test allocates in this process while it measures.

use switchboard::{memory, metrics};

/// Resident pages of this process, in bytes.
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn a_fragmented_heap_goes_back_to_the_os_and_the_gauges_say_so() {
    metrics::init();
    const CHUNK: usize = 8 * 1024;
    const CHUNKS: usize = 6_000; // ~47 MiB
                                 // Every other chunk freed: the holes cannot merge into the heap's top, so glibc keeps
                                 // them (the soak's shape: long-lived sockets interleaved with freed conversation state).
    let mut chunks: Vec<Option<Vec<u8>>> =
        (0..CHUNKS).map(|i| Some(vec![i as u8; CHUNK])).collect();
    for c in chunks.iter_mut().step_by(2) {
        *c = None;
    }
    let free_before = memory::heap().free;
    assert!(
        free_before > 16 * 1024 * 1024,
        "holes are free heap: {free_before}"
    );
    let trims_before = metrics::MEMORY_TRIMS.get();
    let rss_before = rss_bytes();

    memory::look_and_trim();

    assert_eq!(metrics::MEMORY_TRIMS.get(), trims_before + 1);
    let published_free = metrics::HEAP.with_label_values(&["free"]).get();
    assert!(
        published_free as usize >= free_before / 2,
        "free heap published: {published_free}"
    );
    assert!(metrics::HEAP.with_label_values(&["in_use"]).get() > (CHUNKS / 2 * CHUNK) as i64);
    let rss_after = rss_bytes();
    assert!(
        rss_before - rss_after > 8 * 1024 * 1024,
        "the holes' pages went back: RSS {rss_before} -> {rss_after}"
    );
    assert!(metrics::render().contains("switchboard_sqlite_memory_bytes"));
    drop(chunks);

    // A large block (an argon2 hash's buffer) goes back when freed, however many came before:
    // glibc's adaptive threshold would carve the second one from an arena and keep it.
    memory::tune_allocator();
    const BIG: usize = 19 * 1024 * 1024;
    for round in 0..3 {
        let block = vec![round as u8 + 1; BIG];
        let with = rss_bytes();
        drop(std::hint::black_box(block));
        let without = rss_bytes();
        assert!(
            with - without > (BIG as u64) * 3 / 4,
            "round {round}: a freed 19 MiB block stays resident: RSS {with} -> {without}"
        );
    }
}
