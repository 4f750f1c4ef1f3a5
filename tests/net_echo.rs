//! Echo over the netpoller: many goroutine clients against a goroutine-per-connection
//! server, over TCP on 127.0.0.1 and over AF_UNIX stream sockets, content checked; many
//! goroutines accepting on one listener; foreign threads using the fd calls against
//! goroutines, both ways round. Every call has a time-out and every loop is bounded; a
//! watchdog aborts on a hang.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::*;

const T: i64 = 20_000 * MS; // per-call time-out: a hang detector, not a timing check

/// Serves one connection: echoes until EOF. Returns the bytes echoed.
fn echo_conn(fd: i32) -> usize {
    let mut buf = [0u8; 1024];
    let mut total = 0;
    loop {
        let n = read(fd, &mut buf, T);
        assert!(n >= 0, "server read: {n}");
        if n == 0 {
            break;
        }
        let w = write(fd, &buf[..n as usize], T);
        assert_eq!(w, n, "server write");
        total += n as usize;
    }
    assert_eq!(gmp_close_fd(fd), 0);
    total
}

/// Accepts `n` connections on `ln`, one goroutine per connection; returns once every
/// connection has been served, with the total bytes echoed.
fn serve_n(ln: i32, n: usize) -> usize {
    let total = Arc::new(AtomicUsize::new(0));
    let mut js = Vec::new();
    for _ in 0..n {
        let c = accept(ln, T);
        assert!(c >= 0, "accept: {c}");
        assert!(is_nonblocking(c), "accepted fd is non-blocking");
        let t = total.clone();
        js.push(spawn(move || {
            t.fetch_add(echo_conn(c), Ordering::Relaxed);
        }));
    }
    join_all(js);
    total.load(Ordering::Relaxed)
}

/// One client: `rounds` round trips of messages of varying length, content checked.
fn client_rounds(fd: i32, id: usize, rounds: usize, wd: &Arc<std::sync::atomic::AtomicU64>) {
    let mut back = vec![0u8; 512];
    for i in 0..rounds {
        let len = 1 + (id * 13 + i * 29) % 500;
        let msg = pattern(id, i, len);
        assert_eq!(write(fd, &msg, T), len as isize, "client {id} write {i}");
        assert_eq!(
            read_full(fd, &mut back[..len], T),
            0,
            "client {id} read {i}"
        );
        assert!(
            back[..len] == msg[..],
            "client {id} round {i}: echoed bytes differ"
        );
        wd.fetch_add(1, Ordering::Relaxed);
    }
}

/// A client on `on`: a connection from `connect`, `rounds` round trips as client `id`
/// (ticking `prog`), then close.
fn client(
    on: On,
    connect: impl FnOnce() -> i32 + Send + 'static,
    id: usize,
    rounds: usize,
    prog: Arc<std::sync::atomic::AtomicU64>,
) -> Joiner {
    start(on, move || {
        assert_eq!(on == On::Go, gmp_self() != 0, "client {id} runs on {on:?}");
        let fd = connect();
        assert!(fd >= 0, "client {id} connect: {fd}");
        client_rounds(fd, id, rounds, &prog);
        assert_eq!(gmp_close_fd(fd), 0);
    })
}

fn expected_bytes(clients: usize, rounds: usize) -> usize {
    (0..clients)
        .map(|id| {
            (0..rounds)
                .map(|i| 1 + (id * 13 + i * 29) % 500)
                .sum::<usize>()
        })
        .sum()
}

fn echo_many(connect: impl Fn() -> i32 + Send + Sync + 'static, ln: i32, name: &'static str) {
    let clients = scale(200, 2000);
    let rounds = scale(50, 200);
    let wd = Watchdog::new(name, Duration::from_secs(30));
    let prog = wd.counter();
    let connect = Arc::new(connect);
    in_go(move || {
        let server = spawn(move || {
            let total = serve_n(ln, clients);
            assert_eq!(total, expected_bytes(clients, rounds), "bytes echoed");
        });
        let mut js = Vec::new();
        for id in 0..clients {
            let connect = connect.clone();
            js.push(client(On::Go, move || connect(), id, rounds, prog.clone()));
        }
        join_all(js);
        server.join();
    });
    assert_eq!(gmp_close_fd(ln), 0);
}

#[test]
fn tcp_echo_many_goroutines() {
    let _s = serial();
    let (ln, port) = tcp_listener(1024);
    echo_many(move || tcp_connect(port, T), ln, "tcp_echo");
}

#[test]
fn unix_echo_many_goroutines() {
    let _s = serial();
    let path = unix_path("echo.sock");
    let ln = unix_listener(&path, 1024);
    let p2 = path.clone();
    echo_many(move || unix_connect(&p2, T), ln, "unix_echo");
    let _ = std::fs::remove_file(&path);
}

/// 64 goroutines all parked in gmp_accept on one listener while 64 clients connect:
/// each accepter gets exactly one connection and every accepter returns.
#[test]
fn many_accepters_one_listener() {
    let _s = serial();
    const N: usize = 64;
    let _wd = Watchdog::new("many_accepters", Duration::from_secs(30));
    let (ln, port) = tcp_listener(256);
    let got = Arc::new(Mutex::new(Vec::<u32>::new()));
    let g2 = got.clone();
    in_go(move || {
        let mut accepters = Vec::new();
        for _ in 0..N {
            let got = g2.clone();
            accepters.push(spawn(move || {
                let c = accept(ln, T);
                assert!(c >= 0, "accept: {c}");
                let mut id = [0u8; 4];
                assert_eq!(read_full(c, &mut id, T), 0);
                got.lock().unwrap().push(u32::from_le_bytes(id));
                // Hold the connection until the client has hung up: this accepter has
                // its one connection and does not accept another.
                let mut b = [0u8; 1];
                assert_eq!(read(c, &mut b, T), 0, "client closes");
                assert_eq!(gmp_close_fd(c), 0);
            }));
        }
        // Let them all park in gmp_accept before anyone connects.
        assert_eq!(gmp_sleep(100 * MS), 0);
        let mut clients = Vec::new();
        for id in 0..N as u32 {
            clients.push(spawn(move || {
                let fd = tcp_connect(port, T);
                assert!(fd >= 0, "connect: {fd}");
                assert_eq!(write(fd, &id.to_le_bytes(), T), 4);
                assert_eq!(gmp_close_fd(fd), 0);
            }));
        }
        join_all(clients);
        join_all(accepters);
    });
    let mut ids = got.lock().unwrap().clone();
    ids.sort_unstable();
    assert_eq!(
        ids,
        (0..N as u32).collect::<Vec<_>>(),
        "one connection per accepter"
    );
    // Nothing is left queued on the listener (timeout 0 is a try: GMP_EAGAIN).
    assert_eq!(accept(ln, 0), GMP_EAGAIN);
    assert_eq!(gmp_close_fd(ln), 0);
}

/// Foreign threads as clients of a goroutine server.
#[test]
fn foreign_thread_clients_goroutine_server() {
    let _s = serial();
    let threads = 8;
    let rounds = scale(200, 2000);
    let wd = Watchdog::new("thread_clients", Duration::from_secs(30));
    let (ln, port) = tcp_listener(64);
    let server = spawn(move || {
        let total = serve_n(ln, threads);
        assert_eq!(total, expected_bytes(threads, rounds));
    });
    let mut js = Vec::new();
    for id in 0..threads {
        let connect = move || tcp_connect(port, T);
        js.push(client(On::Thread, connect, id, rounds, wd.counter()));
    }
    join_all(js);
    server.join();
    assert_eq!(gmp_close_fd(ln), 0);
}

/// A foreign-thread server (gmp_accept, gmp_read, gmp_write block the thread) with
/// goroutine clients; goroutines not in the fd calls keep running meanwhile.
#[test]
fn goroutine_clients_foreign_thread_server() {
    let _s = serial();
    let clients = 16;
    let rounds = scale(100, 1000);
    let wd = Watchdog::new("thread_server", Duration::from_secs(30));
    let (ln, port) = tcp_listener(64);
    // The server: one thread accepting, one thread per connection.
    let server = thread(move || {
        assert_eq!(gmp_self(), 0);
        let mut conns = Vec::new();
        for _ in 0..clients {
            let c = accept(ln, T);
            assert!(c >= 0, "accept on a thread: {c}");
            conns.push(thread(move || {
                echo_conn(c);
            }));
        }
        join_all(conns);
    });
    let mut js = Vec::new();
    for id in 0..clients {
        let connect = move || tcp_connect(port, T);
        js.push(client(On::Go, connect, id, rounds, wd.counter()));
    }
    join_all(js);
    server.join();
    assert_eq!(gmp_close_fd(ln), 0);
}

/// Both at once on one listener: goroutine and thread clients, goroutine and thread
/// servers (half the accepts on a thread, half in goroutines).
#[test]
fn mixed_threads_and_goroutines_one_listener() {
    let _s = serial();
    let per_side = 8;
    let rounds = scale(50, 500);
    let wd = Watchdog::new("mixed", Duration::from_secs(30));
    let (ln, port) = tcp_listener(64);
    let served = Arc::new(AtomicUsize::new(0));
    let mut servers = Vec::new();
    for k in 0..2 * per_side {
        let served = served.clone();
        let f = move || {
            let c = accept(ln, T);
            assert!(c >= 0, "accept: {c}");
            served.fetch_add(echo_conn(c), Ordering::Relaxed);
        };
        servers.push(if k % 2 == 0 { spawn(f) } else { thread(f) });
    }
    let mut clients = Vec::new();
    for id in 0..2 * per_side {
        let on = if id % 2 == 0 { On::Thread } else { On::Go };
        let connect = move || tcp_connect(port, T);
        clients.push(client(on, connect, id, rounds, wd.counter()));
    }
    join_all(clients);
    join_all(servers);
    assert_eq!(
        served.load(Ordering::Relaxed),
        expected_bytes(2 * per_side, rounds)
    );
    assert_eq!(gmp_close_fd(ln), 0);
}
