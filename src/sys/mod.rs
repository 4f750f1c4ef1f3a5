//! Operating-system primitives, one small module each (STYLE.md 10: backends behind one
//! contract): the futex the parkers sleep on, the CPU count the default `maxprocs` comes
//! from, and thread naming. Everything here is Linux; nothing above this module calls
//! `libc` for these.

pub(crate) mod cpu;
pub(crate) mod futex;
pub(crate) mod lock;
pub(crate) mod valgrind;
