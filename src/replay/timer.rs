//! A precise wake-up for the dispatch loop that does not block its thread. On Linux it is a
//! `timerfd` registered with the runtime's own epoll: the loop sleeps in the same
//! `epoll_wait` that delivers its connections' answers, and wakes within tens of µs of a due
//! time (the kernel's timer slack) instead of on tokio's 1 ms wheel. A blocking
//! `std::thread::sleep` for the last stretch (the earlier way) cost a context switch per
//! request and held up every answer that arrived meanwhile, so their service times read late.
//! Elsewhere, and if the timerfd cannot be made, it falls back to tokio's timer.

use tokio::time::Instant;

/// Sleeps until an instant, precisely where the OS allows it.
pub(crate) struct PreciseTimer {
    #[cfg(target_os = "linux")]
    fd: Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>>,
}

impl PreciseTimer {
    /// A timer for the current runtime, which must have its I/O driver enabled.
    pub(crate) fn new() -> PreciseTimer {
        #[cfg(target_os = "linux")]
        {
            use rustix::time::{TimerfdClockId, TimerfdFlags, timerfd_create};
            let fd = timerfd_create(
                TimerfdClockId::Monotonic,
                TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
            )
            .ok()
            .and_then(|fd| {
                // SAFETY: the `OwnedFd` is a valid, open descriptor that the `AsyncFd` owns
                // until it is dropped; nothing else closes it or swaps it for another.
                unsafe {
                    tokio::io::unix::AsyncFd::register_with_interest(
                        fd,
                        tokio::io::Interest::READABLE,
                    )
                }
                .ok()
            });
            if fd.is_none() {
                tracing::debug!("no timerfd; the dispatch loop wakes on the 1 ms timer");
            }
            PreciseTimer { fd }
        }
        #[cfg(not(target_os = "linux"))]
        PreciseTimer {}
    }

    /// Resolves at `due` (at once when it is past).
    pub(crate) async fn sleep_until(&mut self, due: Instant) {
        let left = due.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.fd
            && precise_sleep(fd, left).await.is_ok()
        {
            return;
        }
        tokio::time::sleep_until(due).await;
    }
}

#[cfg(target_os = "linux")]
async fn precise_sleep(
    fd: &tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>,
    left: std::time::Duration,
) -> std::io::Result<()> {
    use rustix::time::{Itimerspec, TimerfdTimerFlags, Timespec, timerfd_settime};
    let zero = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let spec = Itimerspec {
        it_interval: zero,
        it_value: Timespec {
            tv_sec: left.as_secs() as _,
            tv_nsec: left.subsec_nanos() as _,
        },
    };
    // Arming anew discards an expiry no one read (a wait cut short by a stop); a stale
    // readiness left in the runtime is cleared by the read below finding nothing.
    timerfd_settime(fd.get_ref(), TimerfdTimerFlags::empty(), &spec)?;
    loop {
        let mut ready = fd.readable().await?;
        let mut expiries = [0u8; 8];
        match ready.try_io(|f| Ok(rustix::io::read(f.get_ref(), &mut expiries)?)) {
            Ok(r) => return r.map(|_| ()),
            Err(_would_block) => continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn wakes_at_the_due_time_not_before() {
        let mut t = PreciseTimer::new();
        for ms in [0u64, 1, 3] {
            let due = Instant::now() + Duration::from_millis(ms);
            t.sleep_until(due).await;
            assert!(Instant::now() >= due);
        }
        // A wait dropped before its expiry leaves nothing behind for the next one.
        let far = Instant::now() + Duration::from_secs(3600);
        let cut = tokio::time::timeout(Duration::from_millis(2), t.sleep_until(far)).await;
        assert!(cut.is_err());
        let due = Instant::now() + Duration::from_millis(2);
        t.sleep_until(due).await;
        assert!(Instant::now() >= due);
    }
}
