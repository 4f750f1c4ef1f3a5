# gdb extension for libgmp goroutines, after Go's runtime-gdb.py.
#
#   (gdb) source gdb/gmp-gdb.py        # or install it as libgmp.so.0-gdb.py beside the
#                                      # library for gdb's auto-load (add-auto-load-safe-path)
#   (gdb) info goroutines              # every goroutine: id, state, wait reason, name
#   (gdb) goroutine 17 bt              # backtrace of goroutine 17 (parked or running)
#
# It reads the runtime through exported symbols (gmp_debug_allgs, gmp_debug_nallgs,
# gmp_debug_layout), so it works on a release build without Rust debug info. A parked
# goroutine is unwound from the context it saved when it switched out (sp, fp and pc
# inside the runtime's switch_out); gdb's CFI unwinder does the rest.

import struct

import gdb

STATUS = {0: "idle", 1: "runnable", 2: "running", 3: "syscall", 4: "waiting", 6: "dead"}
REASONS = [
    "", "chan receive", "chan send", "select", "select (no cases)", "sleep", "IO wait",
    "sync.Mutex.Lock", "sync.RWMutex.RLock", "sync.RWMutex.Lock", "sync.WaitGroup.Wait",
    "sync.Cond.Wait", "sync.Once.Do", "syscall", "preempted", "locked thread",
]
LAYOUT_FIELDS = ["version", "g_id", "g_status", "g_wait_reason", "g_saved_sp", "g_saved_bp",
                 "g_saved_pc", "g_name_ptr", "g_lockedm"]


def _addr(sym):
    return int(gdb.parse_and_eval("(unsigned long)&%s" % sym))


def _read(addr, size):
    return bytes(gdb.selected_inferior().read_memory(addr, size))


def _u64(addr):
    return struct.unpack("<Q", _read(addr, 8))[0]


def _u32(addr):
    return struct.unpack("<I", _read(addr, 4))[0]


def _layout():
    raw = _read(_addr("gmp_debug_layout"), 4 * len(LAYOUT_FIELDS))
    return dict(zip(LAYOUT_FIELDS, struct.unpack("<%dI" % len(LAYOUT_FIELDS), raw)))


def _cstr(addr, limit=256):
    if addr == 0:
        return None
    out = b""
    while len(out) < limit:
        chunk = _read(addr + len(out), 16)
        i = chunk.find(b"\0")
        if i >= 0:
            return (out + chunk[:i]).decode("utf-8", "replace")
        out += chunk
    return out.decode("utf-8", "replace")


def goroutines():
    """Yields (address, id, status, reason, name, sp, bp, pc) of every live goroutine."""
    lay = _layout()
    base = _u64(_addr("gmp_debug_allgs"))
    n = _u64(_addr("gmp_debug_nallgs"))
    for i in range(n):
        g = _u64(base + 8 * i)
        status = _u32(g + lay["g_status"])
        if status in (0, 6):
            continue
        reason = _read(g + lay["g_wait_reason"], 1)[0]
        yield (g, _u64(g + lay["g_id"]), status,
               REASONS[reason] if reason < len(REASONS) else "?",
               _cstr(_u64(g + lay["g_name_ptr"])),
               _u64(g + lay["g_saved_sp"]), _u64(g + lay["g_saved_bp"]),
               _u64(g + lay["g_saved_pc"]))


class InfoGoroutines(gdb.Command):
    """List every goroutine: id, state (wait reason), name."""

    def __init__(self):
        super().__init__("info goroutines", gdb.COMMAND_STACK, gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        for (_g, gid, status, reason, name, _sp, _bp, pc) in goroutines():
            state = STATUS.get(status, str(status))
            if status == 4 and reason:
                state += " (%s)" % reason
            where = ""
            if pc:
                block = gdb.block_for_pc(pc)
                fn = block.function if block is not None else None
                where = " at %s" % (fn.name if fn else hex(pc))
            label = ' "%s"' % name if name else ""
            print("  %d %s%s%s" % (gid, state, label, where))


class GoroutineCmd(gdb.Command):
    """goroutine N CMD: run CMD (e.g. bt) in the saved context of goroutine N."""

    def __init__(self):
        super().__init__("goroutine", gdb.COMMAND_STACK, gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        parts = arg.split(None, 1)
        if len(parts) != 2:
            raise gdb.GdbError("usage: goroutine N CMD (e.g. goroutine 17 bt)")
        want, cmd = int(parts[0]), parts[1]
        for (_g, gid, status, _reason, _name, sp, bp, pc) in goroutines():
            if gid != want:
                continue
            if status == 2:
                print("goroutine %d is running on a thread: use 'thread N' + '%s'" % (gid, cmd))
                return
            if not sp:
                print("goroutine %d has not run yet: no context" % gid)
                return
            frame = gdb.selected_frame()
            saved = {r: int(frame.read_register(r)) for r in ("rsp", "rbp", "rip")}
            gdb.execute("select-frame 0", to_string=True)
            try:
                gdb.execute("set $rsp = %d" % sp)
                gdb.execute("set $rbp = %d" % bp)
                gdb.execute("set $pc = %d" % pc)
                gdb.execute(cmd)
            finally:
                gdb.execute("set $rsp = %d" % saved["rsp"])
                gdb.execute("set $rbp = %d" % saved["rbp"])
                gdb.execute("set $pc = %d" % saved["rip"])
            return
        raise gdb.GdbError("no goroutine %d" % want)


InfoGoroutines()
GoroutineCmd()
