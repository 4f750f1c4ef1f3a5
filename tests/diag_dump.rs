//! The goroutine dump (`gmp_dump_goroutines`, and on a signal with
//! `GMP_DEBUG=dumpsignal=SIG`): one Go-style header per goroutine with its id, its wait
//! reason (or state), its name, and whether it lives in a home or is locked to an M.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::*;

/// The tests of this file that use the runtime of the test process itself.
static IN_PROCESS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A goroutine blocked in each kind of wait, named, plus one in a home, one locked to
/// its thread and one in a syscall; the dump names each with the right reason, then
/// everything is released and ends.
#[test]
fn dump_lists_each_wait_reason() {
    let _g = IN_PROCESS.lock().unwrap_or_else(|e| e.into_inner());
    let rc = gmp::rt::main(|| {
        let all = Arc::new(WaitGroup::new());
        let spawn = |name: &'static str, f: Box<dyn FnOnce() + Send>| -> u64 {
            let all = all.clone();
            assert_eq!(all.add(1), 0);
            // Half are named through the attribute, half by gmp_set_name inside.
            if name.len() % 2 == 0 {
                go_named(name, move || {
                    f();
                    assert_eq!(all.done(), 0);
                })
            } else {
                go(move || {
                    let c = std::ffi::CString::new(name).unwrap();
                    // SAFETY: a NUL-terminated string.
                    assert_eq!(unsafe { gmp_set_name(c.as_ptr()) }, 0);
                    f();
                    assert_eq!(all.done(), 0);
                })
            }
        };
        let recv_ch = Ch::of::<i64>(0);
        let send_ch = Ch::of::<i64>(0);
        let (sel_a, sel_b) = (Ch::of::<i64>(0), Ch::of::<i64>(0));
        let mu = Arc::new(Mutex::new());
        let rw = Arc::new(RwMutex::new());
        let wg = Arc::new(WaitGroup::new());
        let (cmu, cond) = (Arc::new(Mutex::new()), Arc::new(Cond::new()));
        let once = Arc::new(Once::new());
        let once_gate = Ch::of::<i64>(0);
        let locked_ch = Ch::of::<i64>(0);
        let home_ch = Ch::of::<i64>(0);
        let (sock, peer) = socketpair();
        assert_eq!(gmp::ffi::netpoll::gmp_fd_adopt(sock), 0);
        let mut pipe = [0i32; 2];
        // SAFETY: a two-int array.
        let rc = unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) };
        assert_eq!(rc, 0);
        let (pipe_r, pipe_w) = (pipe[0], pipe[1]);

        assert_eq!(mu.lock(), 0);
        assert_eq!(rw.rlock(), 0);
        assert_eq!(wg.add(1), 0);
        let mut want: Vec<(u64, &str, &str)> = Vec::new();
        let id = spawn(
            "receiver",
            Box::new(move || assert_eq!(recv_ch.recv::<i64>().0, 0)),
        );
        want.push((id, "chan receive", "receiver"));
        let id = spawn(
            "sender",
            Box::new(move || assert_eq!(send_ch.send::<i64>(5), 0)),
        );
        want.push((id, "chan send", "sender"));
        let id = spawn(
            "selector",
            Box::new(move || assert!(select_recv(&[sel_a, sel_b], -1) >= 0)),
        );
        want.push((id, "select", "selector"));
        let id = spawn("sleeper", Box::new(|| assert_eq!(gmp_sleep(ms(1000)), 0)));
        want.push((id, "sleep", "sleeper"));
        let m2 = mu.clone();
        let id = spawn(
            "mutex-waiter",
            Box::new(move || {
                assert_eq!(m2.lock(), 0);
                assert_eq!(m2.unlock(), 0);
            }),
        );
        want.push((id, "sync.Mutex.Lock", "mutex-waiter"));
        let r2 = rw.clone();
        let id = spawn(
            "writer",
            Box::new(move || {
                assert_eq!(r2.lock(), 0);
                assert_eq!(r2.unlock(), 0);
            }),
        );
        want.push((id, "sync.RWMutex.Lock", "writer"));
        wait_for("the writer to wait", || {
            dump_line(&dump(), id).is_some_and(|l| l.contains("[sync.RWMutex.Lock]"))
        });
        // A reader behind a waiting writer waits too (writers are not starved).
        let r3 = rw.clone();
        let id = spawn(
            "late-reader",
            Box::new(move || {
                assert_eq!(r3.rlock(), 0);
                assert_eq!(r3.runlock(), 0);
            }),
        );
        want.push((id, "sync.RWMutex.RLock", "late-reader"));
        let w2 = wg.clone();
        let id = spawn("wg-waiter", Box::new(move || assert_eq!(w2.wait(), 0)));
        want.push((id, "sync.WaitGroup.Wait", "wg-waiter"));
        let (c2, cm2) = (cond.clone(), cmu.clone());
        let id = spawn(
            "cond-waiter",
            Box::new(move || {
                assert_eq!(cm2.lock(), 0);
                assert_eq!(c2.wait(&cm2), 0);
                assert_eq!(cm2.unlock(), 0);
            }),
        );
        want.push((id, "sync.Cond.Wait", "cond-waiter"));
        wait_for("the cond waiter to wait", || {
            dump_line(&dump(), id).is_some_and(|l| l.contains("[sync.Cond.Wait]"))
        });
        let o1 = once.clone();
        let id = spawn(
            "once-runner",
            Box::new(move || {
                let (f, arg) = c_closure(move || assert_eq!(once_gate.recv::<i64>().0, 0));
                // SAFETY: a live once.
                assert_eq!(unsafe { gmp::ffi::sync::gmp_once_do(o1.ptr(), f, arg) }, 0);
            }),
        );
        want.push((id, "chan receive", "once-runner"));
        wait_for("the once function to run", || {
            dump_line(&dump(), id).is_some_and(|l| l.contains("[chan receive]"))
        });
        let o2 = once.clone();
        let id = spawn(
            "once-waiter",
            Box::new(move || {
                let (f, arg) = c_closure(|| panic!("ran twice"));
                // SAFETY: a live once.
                assert_eq!(unsafe { gmp::ffi::sync::gmp_once_do(o2.ptr(), f, arg) }, 0);
            }),
        );
        want.push((id, "sync.Once.Do", "once-waiter"));
        let id = spawn(
            "net-reader",
            Box::new(move || {
                let mut b = [0u8; 1];
                // SAFETY: a live buffer.
                let n = unsafe { gmp::ffi::netpoll::gmp_read(sock, b.as_mut_ptr().cast(), 1, -1) };
                assert_eq!(n, 1);
            }),
        );
        want.push((id, "IO wait", "net-reader"));
        let id = spawn(
            "in-syscall",
            Box::new(move || {
                let rc = blocking(move || {
                    let mut b = [0u8; 1];
                    // SAFETY: a plain blocking read of our pipe.
                    assert_eq!(unsafe { libc::read(pipe_r, b.as_mut_ptr().cast(), 1) }, 1);
                });
                assert_eq!(rc, 0);
            }),
        );
        want.push((id, "syscall", "in-syscall"));
        let id = spawn(
            "locked",
            Box::new(move || {
                assert_eq!(gmp_lock_os_thread(), 0);
                assert_eq!(locked_ch.recv::<i64>().0, 0);
                assert_eq!(gmp_unlock_os_thread(), 0);
            }),
        );
        want.push((id, "chan receive", "locked"));

        // A home on a thread of our own, with a goroutine waiting in it.
        let home_done = Arc::new(WaitGroup::new());
        assert_eq!(home_done.add(1), 0);
        let (hd, hc) = (home_done.clone(), home_ch);
        let (tx, rx) = std::sync::mpsc::channel::<u64>();
        std::thread::spawn(move || {
            let mut h = std::ptr::null_mut();
            // SAFETY: a valid out pointer.
            assert_eq!(unsafe { gmp_home_make(&mut h) }, 0);
            let attr = gmp::ffi::gmp_go_attr {
                size: std::mem::size_of::<gmp::ffi::gmp_go_attr>(),
                stack_size: 0,
                name: c"homed".as_ptr(),
                hooks: std::ptr::null(),
            };
            let finished = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let fin = finished.clone();
            let (f, arg) = c_closure(move || {
                tx.send(gmp_self()).unwrap();
                assert_eq!(hc.recv::<i64>().0, 0);
                fin.store(true, std::sync::atomic::Ordering::SeqCst);
            });
            // SAFETY: a live home and attr.
            assert_eq!(unsafe { gmp_go_home(h, &attr, f, arg) }, 0);
            while !finished.load(std::sync::atomic::Ordering::SeqCst) {
                gmp_home_run(h, -1);
                gmp_home_wait(h, ms(20));
            }
            assert_eq!(gmp_home_close(h), 0);
            while gmp_home_run(h, -1) != gmp::ffi::GMP_ECLOSED {
                gmp_home_wait(h, ms(5));
            }
            // SAFETY: closed and drained, on its thread.
            assert_eq!(unsafe { gmp_home_free(h) }, 0);
            assert_eq!(hd.done(), 0);
        });
        let home_id = rx.recv().unwrap();
        want.push((home_id, "chan receive", "homed"));

        let me = gmp_self();
        let mut d = String::new();
        wait_for("every goroutine to be parked as expected", || {
            d = dump();
            want.iter().all(|(id, reason, _)| {
                dump_line(&d, *id).is_some_and(|l| l.contains(&format!("[{reason}]")))
            })
        });
        // Header: `gmp: N goroutines, gomaxprocs=.. threads=.. idleprocs=.. runqueue=..
        // stacks: ..`, N = the goroutine entries listed.
        let head = d.lines().next().unwrap();
        let n: usize = head
            .strip_prefix("gmp: ")
            .and_then(|r| r.split_once(" goroutines, gomaxprocs="))
            .map(|(n, _)| n.parse().unwrap())
            .unwrap_or_else(|| panic!("header: {head}"));
        let entries = d.lines().filter(|l| l.starts_with("goroutine ")).count();
        assert_eq!(n, entries, "header count vs entries\n{d}");
        assert!(entries > want.len(), "{d}");
        for (id, reason, name) in &want {
            let l = dump_line(&d, *id).unwrap();
            let mut exp = format!("goroutine {id} [{reason}] \"{name}\"");
            if *name == "homed" {
                exp.push_str(" (home)");
            }
            if *name == "locked" {
                assert!(
                    l.starts_with(&format!("{exp} (locked to M")) && l.ends_with("):"),
                    "{l}"
                );
            } else {
                assert_eq!(l, format!("{exp}:"), "\n{d}");
            }
        }
        let mine = dump_line(&d, me).unwrap();
        // As Go's main, gmp_main's goroutine is not locked to a thread.
        assert_eq!(
            mine,
            format!("goroutine {me} [running] \"main\":"),
            "gmp_main's goroutine, running the dump"
        );
        // A bad fd is an error, not a crash.
        assert_eq!(gmp_dump_goroutines(-1), -libc::EBADF);

        // Release everyone.
        assert_eq!(recv_ch.send::<i64>(1), 0);
        assert_eq!(send_ch.recv::<i64>().0, 0);
        assert_eq!(sel_a.send::<i64>(1), 0);
        assert_eq!(mu.unlock(), 0);
        assert_eq!(rw.runlock(), 0);
        assert_eq!(wg.done(), 0);
        assert_eq!(cmu.lock(), 0);
        assert_eq!(cond.broadcast(), 0);
        assert_eq!(cmu.unlock(), 0);
        assert_eq!(once_gate.send::<i64>(1), 0);
        // SAFETY: writes to our own fds.
        unsafe {
            assert_eq!(libc::write(peer, b"x".as_ptr().cast(), 1), 1);
            assert_eq!(libc::write(pipe_w, b"x".as_ptr().cast(), 1), 1);
        }
        assert_eq!(locked_ch.send::<i64>(1), 0);
        assert_eq!(home_ch.send::<i64>(1), 0);
        assert_eq!(all.wait(), 0);
        for fd in [peer, pipe_r, pipe_w] {
            // SAFETY: our fds.
            unsafe { libc::close(fd) };
        }
        assert_eq!(gmp::ffi::netpoll::gmp_close_fd(sock), 0);
        assert_eq!(home_done.wait(), 0);
    });
    assert_eq!(rc, 0);
}

/// Child: a named goroutine parked in a receive; the process sends itself the signal
/// named by DIAG_SIG and waits a little for sysmon to print the dump.
fn child_signal() {
    let sig: i32 = std::env::var("DIAG_SIG").unwrap().parse().unwrap();
    let rc = gmp::rt::main(move || {
        let ch = Ch::of::<i64>(0);
        let id = go_named("sigwaiter", move || {
            let _ = ch.recv::<i64>();
        });
        mark("waiter", id);
        wait_for("the waiter to park", || {
            dump_line(&dump(), id).is_some_and(|l| l.contains("[chan receive]"))
        });
        mark("raise", "begin");
        // SAFETY: signals our own process.
        unsafe { libc::kill(libc::getpid(), sig) };
        gmp_sleep(ms(300));
        mark("raise", "end");
        child_exit(0);
    });
    panic!("gmp_main returned {rc}");
}

fn signal_dump(debug: Option<&str>, sig: i32) -> ChildOut {
    let sig = sig.to_string();
    let mut env = vec![("DIAG_SIG", sig.as_str())];
    if let Some(d) = debug {
        env.push(("GMP_DEBUG", d));
    }
    rerun("dumpsignal_prints_the_dump", &env, Duration::from_secs(10))
}

#[test]
fn dumpsignal_prints_the_dump() {
    if is_child("dumpsignal_prints_the_dump") {
        child_signal();
    }
    for (debug, sig) in [
        ("dumpsignal=SIGUSR1", libc::SIGUSR1),
        ("dumpsignal=USR2", libc::SIGUSR2),
        ("schedtrace=0,dumpsignal=3", libc::SIGQUIT),
    ] {
        let out = signal_dump(Some(debug), sig);
        out.assert_exited_ok(debug);
        let id = out.mark("waiter");
        let text = &out.stderr;
        let after =
            &text[text.find("DIAG raise begin").unwrap()..text.find("DIAG raise end").unwrap()];
        assert!(after.contains("\ngmp: "), "{debug}: no dump header\n{text}");
        assert!(
            after.contains(&format!("\ngoroutine {id} [chan receive] \"sigwaiter\":")),
            "{debug}: the dump lists the waiter\n{text}"
        );
        assert_eq!(
            text.matches("\ngmp: ").count(),
            1,
            "{debug}: one signal, one dump\n{text}"
        );
    }
    // Off by default: the host program owns its signals, and SIGUSR1's default action
    // ends the process.
    let out = signal_dump(None, libc::SIGUSR1);
    assert_eq!(out.signal, Some(libc::SIGUSR1), "{out:?}");
    assert!(!out.stderr.contains("[chan receive]"), "{}", out.stderr);
}

/// Where a goroutine was started from, as Go's `created by` line (the issue asks for the
/// return address of the `gmp_go` caller, symbolized with dladdr where it can be).
#[test]
fn dump_shows_the_spawn_site() {
    let _g = IN_PROCESS.lock().unwrap_or_else(|e| e.into_inner());
    unsafe extern "C" fn parked(arg: *mut std::ffi::c_void) {
        let ch = Ch(arg.cast());
        let _ = ch.recv::<i64>();
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let rc = gmp::rt::main(move || {
        let ch = Ch::of::<i64>(0);
        let mut id = 0;
        // SAFETY: a valid entry point and out pointer; the channel outlives the goroutine.
        let rc = unsafe { gmp_go_ex(std::ptr::null(), Some(parked), ch.0.cast(), &mut id) };
        assert_eq!(rc, 0);
        wait_for("the goroutine to park", || {
            dump_line(&dump(), id).is_some_and(|l| l.contains("[chan receive]"))
        });
        let d = dump();
        let entry: Vec<String> = d
            .lines()
            .skip_while(|l| !l.starts_with(&format!("goroutine {id} [")))
            .take_while(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        assert_eq!(ch.send::<i64>(1), 0);
        tx.send((id, entry)).unwrap();
    });
    // Checked here, not in the goroutine (a panic there aborts the test process).
    let (id, entry) = rx.recv().unwrap();
    assert!(
        entry
            .iter()
            .any(|l| l.trim_start().starts_with("created by ")),
        "no `created by` line for goroutine {id}:\n{}",
        entry.join("\n")
    );
    assert_eq!(rc, 0);
}

/// A name with a quote or a newline stays on its one header line, quoted as Go's %q does
/// (a raw name's `"` made the line ambiguous and its newline split the header in two;
/// src/diag/dump.rs escapes it).
#[test]
fn dump_quotes_names() {
    let _g = IN_PROCESS.lock().unwrap_or_else(|e| e.into_inner());
    let (tx, rx) = std::sync::mpsc::channel();
    let rc = gmp::rt::main(move || {
        let ch = Ch::of::<i64>(0);
        let id = go_named("say \"hi\"\nnow", move || {
            let _ = ch.recv::<i64>();
        });
        wait_for("the goroutine to park", || {
            dump().contains(&format!("goroutine {id} [chan receive]"))
        });
        tx.send((id, dump_line(&dump(), id))).unwrap();
        assert_eq!(ch.send::<i64>(1), 0);
    });
    assert_eq!(rc, 0);
    let (id, line) = rx.recv().unwrap();
    assert_eq!(
        line.as_deref(),
        Some(format!(r#"goroutine {id} [chan receive] "say \"hi\"\nnow":"#).as_str())
    );
}
