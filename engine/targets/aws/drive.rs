//! The aws target's async runtime, driven by the dispatcher's own thread.
//!
//! By default the target's tasks (senders, reply readers, the router, the callback listener)
//! run on a current-thread tokio runtime that the dispatcher drives whenever it waits for its
//! next event ([`Parker`]): a message rendered by the dispatcher is sent by the same thread a
//! moment later, and the reply is read by it too, with no hand-off between two threads. With
//! herd pinned to one core at 20 messages a second, the hand-off (a futex wake, an eventfd
//! write, a second thread's cold stack) was about a fifth of what a message cost.
//!
//! The wait ends at the exact instant asked for: tokio's timers tick in whole milliseconds,
//! which would put every paced send up to a millisecond late, so the deadline is a `timerfd`
//! (Linux) registered with the runtime's reactor, armed to the microsecond.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tokio::sync::Notify;

use crate::targets::Parker;

/// The least time between two turns given while the dispatcher is too busy to wait: the
/// runtime then runs its ready tasks and polls its sockets about every 50 µs, which lets the
/// senders batch what piled up, instead of a system call per event.
const TURN_EVERY: Duration = Duration::from_micros(50);

/// Drives the target's runtime in the dispatcher's waits.
pub(crate) struct Driver {
    /// The runtime, owned by the target: once the target has shut it down, waits fall back to
    /// parking the thread.
    rt: Weak<Runtime>,
    /// Ends a wait: an observation that must wake the dispatcher, from any thread.
    notify: Notify,
    /// The exact deadline of a wait, where the platform has one.
    timer: Option<tokio::io::unix::AsyncFd<timer::TimerFd>>,
    /// When the runtime last ran, in microseconds since `origin`.
    last_ran: AtomicU64,
    origin: Instant,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver").field("exact_timer", &self.timer.is_some()).finish()
    }
}

impl Driver {
    /// A driver for `rt`, which must be a current-thread runtime that nothing else drives.
    pub(crate) fn new(rt: &Arc<Runtime>) -> Arc<Self> {
        let timer = {
            let _in = rt.enter();
            match timer::TimerFd::registered() {
                Ok(t) => Some(t),
                Err(e) => {
                    tracing::debug!(target: "herd::aws", "no timerfd ({e}): waits end on the runtime's millisecond timer");
                    None
                }
            }
        };
        Arc::new(Self {
            rt: Arc::downgrade(rt),
            notify: Notify::new(),
            timer,
            last_ran: AtomicU64::new(0),
            origin: Instant::now(),
        })
    }

    fn ran(&self) {
        self.last_ran.store(self.origin.elapsed().as_micros() as u64, Ordering::Relaxed);
    }

    /// Waits for the timer to fire (after it was armed), clearing a stale readiness on the way.
    async fn fired(timer: &tokio::io::unix::AsyncFd<timer::TimerFd>) {
        loop {
            let Ok(mut ready) = timer.readable().await else { return };
            match ready.try_io(|fd| fd.get_ref().read()) {
                // Fired (or failed: an error must not turn into a busy loop either). Read, the
                // timer is not readable until it fires again, so its readiness goes too, or
                // the next wait would begin with a read that finds nothing.
                Ok(_) => {
                    ready.clear_ready();
                    return;
                }
                // A readiness left from an earlier wait: `try_io` cleared it; wait again.
                Err(_would_block) => {}
            }
        }
    }
}

impl Parker for Driver {
    fn park_until(&self, deadline: Instant) {
        let Some(rt) = self.rt.upgrade() else {
            std::thread::park_timeout(deadline.saturating_duration_since(Instant::now()));
            return;
        };
        let now = Instant::now();
        if deadline <= now {
            return;
        }
        rt.block_on(async {
            let notified = self.notify.notified();
            match &self.timer {
                Some(timer) if timer.get_ref().arm(deadline - now).is_ok() => {
                    tokio::select! {
                        biased;
                        () = notified => {}
                        () = Self::fired(timer) => {}
                    }
                }
                _ => {
                    tokio::select! {
                        biased;
                        () = notified => {}
                        () = tokio::time::sleep_until(deadline.into()) => {}
                    }
                }
            }
        });
        self.ran();
    }

    fn unpark(&self) {
        self.notify.notify_one();
    }

    fn turn(&self) {
        let now = self.origin.elapsed().as_micros() as u64;
        if now.saturating_sub(self.last_ran.load(Ordering::Relaxed)) < TURN_EVERY.as_micros() as u64 {
            return;
        }
        if let Some(rt) = self.rt.upgrade() {
            // A task that yields once: the runtime runs what is ready and polls its sockets
            // without blocking, then the dispatcher goes on.
            rt.block_on(tokio::task::yield_now());
        }
        self.ran();
    }
}

/// A monotonic `timerfd`, armed for one expiry at a time.
#[cfg(target_os = "linux")]
mod timer {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
    use std::time::Duration;

    pub(crate) struct TimerFd(OwnedFd);

    impl AsRawFd for TimerFd {
        fn as_raw_fd(&self) -> RawFd {
            self.0.as_raw_fd()
        }
    }

    #[expect(unsafe_code, reason = "timerfd(2) has no wrapper in the standard library")]
    impl TimerFd {
        fn new() -> std::io::Result<Self> {
            // SAFETY: timerfd_create takes no pointers; a non-negative result is a new file
            // descriptor that nothing else owns.
            let fd = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC) };
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // SAFETY: `fd` was just created and is owned here alone.
            Ok(Self(unsafe { OwnedFd::from_raw_fd(fd) }))
        }

        /// A new timer, registered with the current runtime's reactor.
        pub(crate) fn registered() -> std::io::Result<tokio::io::unix::AsyncFd<Self>> {
            let timer = Self::new()?;
            // SAFETY: the descriptor is owned by `timer`, which the AsyncFd owns from here on;
            // it stays open and `as_raw_fd` returns it unchanged for the AsyncFd's life.
            unsafe { tokio::io::unix::AsyncFd::register_with_interest(timer, tokio::io::Interest::READABLE) }
                .map_err(std::io::Error::from)
        }

        /// Arms the timer to fire once, `after` from now (at least a nanosecond: zero disarms).
        /// Arming again replaces the earlier expiry and clears its count.
        pub(crate) fn arm(&self, after: Duration) -> std::io::Result<()> {
            let after = after.max(Duration::from_nanos(1));
            let spec = libc::itimerspec {
                it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 },
                it_value: libc::timespec {
                    tv_sec: after.as_secs().min(i64::MAX as u64) as libc::time_t,
                    tv_nsec: after.subsec_nanos() as libc::c_long,
                },
            };
            // SAFETY: `spec` is a valid itimerspec that outlives the call; the old value is not
            // asked for (null).
            let r = unsafe { libc::timerfd_settime(self.0.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
            if r < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) }
        }

        /// Reads the expiry count: `WouldBlock` when the timer has not fired.
        pub(crate) fn read(&self) -> std::io::Result<u64> {
            let mut count = [0u8; 8];
            // SAFETY: the buffer is 8 writable bytes, the size a timerfd read needs.
            let n = unsafe { libc::read(self.0.as_raw_fd(), count.as_mut_ptr().cast(), count.len()) };
            if n < 0 { Err(std::io::Error::last_os_error()) } else { Ok(u64::from_ne_bytes(count)) }
        }
    }
}

/// Elsewhere there is no timerfd: waits end on tokio's millisecond timer.
#[cfg(not(target_os = "linux"))]
mod timer {
    use std::os::fd::{AsRawFd, RawFd};
    use std::time::Duration;

    pub(crate) struct TimerFd(std::convert::Infallible);

    impl AsRawFd for TimerFd {
        fn as_raw_fd(&self) -> RawFd {
            match self.0 {}
        }
    }

    impl TimerFd {
        pub(crate) fn registered() -> std::io::Result<tokio::io::unix::AsyncFd<Self>> {
            Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "timerfd is Linux's"))
        }

        pub(crate) fn arm(&self, _after: Duration) -> std::io::Result<()> {
            match self.0 {}
        }

        pub(crate) fn read(&self) -> std::io::Result<u64> {
            match self.0 {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> Arc<Runtime> {
        Arc::new(tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime"))
    }

    /// A wait ends at its deadline, never before, and runs the runtime's tasks meanwhile.
    #[test]
    fn a_wait_ends_at_its_deadline_and_runs_the_tasks() {
        let rt = runtime();
        let driver = Driver::new(&rt);
        #[cfg(target_os = "linux")]
        assert!(driver.timer.is_some(), "Linux has a timerfd");
        let (tx, rx) = std::sync::mpsc::channel();
        rt.spawn(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            tx.send(()).expect("the test waits");
        });
        for wait in [Duration::from_millis(30), Duration::from_micros(300)] {
            let start = Instant::now();
            driver.park_until(start + wait);
            assert!(start.elapsed() >= wait, "ended {:?} into a wait of {wait:?}", start.elapsed());
        }
        rx.try_recv().expect("the task ran during the waits");
    }

    /// `unpark` from another thread ends a long wait, and one made before a wait makes it
    /// return at once; nothing is lost between the two.
    #[test]
    fn unpark_ends_a_wait_from_any_thread_and_is_not_lost_before_one() {
        let rt = runtime();
        let driver = Driver::new(&rt);
        let other = driver.clone();
        let waker = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            other.unpark();
        });
        let start = Instant::now();
        driver.park_until(start + Duration::from_secs(120));
        assert!(start.elapsed() < Duration::from_secs(60), "the unpark ended the wait");
        waker.join().expect("the waker thread");
        driver.unpark();
        let start = Instant::now();
        driver.park_until(start + Duration::from_secs(120));
        assert!(start.elapsed() < Duration::from_secs(60), "an earlier unpark ends the next wait at once");
    }

    /// A turn runs what is ready without waiting; once the target has dropped its runtime,
    /// waits still end at their deadline (the thread sleeps) and turns do nothing.
    #[test]
    fn turns_run_ready_tasks_and_waits_outlive_the_runtime() {
        let rt = runtime();
        let driver = Driver::new(&rt);
        let (tx, rx) = std::sync::mpsc::channel();
        rt.spawn(async move { tx.send(()).expect("the test waits") });
        // The turn right after the driver's creation may be skipped as too soon: a second one,
        // later, is not.
        driver.turn();
        std::thread::sleep(TURN_EVERY * 2);
        driver.turn();
        rx.try_recv().expect("a turn ran the ready task");
        drop(rt);
        // As the inbox waits: a spurious return goes round again.
        let deadline = Instant::now() + Duration::from_millis(10);
        while Instant::now() < deadline {
            driver.park_until(deadline);
        }
        driver.turn();
    }
}
