//! The C allocator's settings, made before the first thread starts.
//!
//! glibc's malloc gives threads that contend for it arenas of their own (up to eight per
//! core), and memory freed in one arena is not reused by another. The operator's requests and
//! reconciles hop between tokio's worker threads, so each arena grows to hold its share of
//! the peak and the process keeps the sum: at 3,000 environments with 128 reconciles in flight
//! one arena peaked 2.6 MiB lower than the default (BENCHMARKS.md). glibc's per-thread cache
//! still serves most allocations without taking the arena's lock.

/// Environment variables with which a user sets the arenas themselves; they win.
const USER_SETTINGS: [&str; 2] = ["MALLOC_ARENA_MAX", "GLIBC_TUNABLES"];

/// One malloc arena for the whole process, unless the environment says otherwise. Call it
/// first in `main`, before any thread exists: threads keep the arena they started with.
pub fn one_arena() {
    if USER_SETTINGS
        .iter()
        .any(|name| std::env::var_os(name).is_some())
    {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes malloc's parameters; no other thread exists yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
