"""The seccomp socket filter of readonly runs: which socket kinds a run may create."""

from __future__ import annotations

import ctypes
import errno
import os
import socket

from scoot.shared.hardening import Restriction
from scoot.shared.kernel import PR_SET_SECCOMP, SECCOMP_MODE_FILTER, _prctl

# Architectures the socket filter knows: audit arch value and socket(2)'s number.
SECCOMP_ARCHES = {
    "x86_64": (0xC000003E, 41),
    "aarch64": (0xC00000B7, 198),
}


X32_SYSCALL_BIT = 0x40000000


# io_uring_setup/enter/register (same numbers on both): IORING_OP_SOCKET would
# create sockets without the socket(2) call the filter sees.
IO_URING_SYSCALLS = (425, 426, 427)


SOCKET_FAMILIES_ALLOWED = (int(socket.AF_UNIX),)


INET_FAMILIES = (int(socket.AF_INET), int(socket.AF_INET6))


SOCKET_TYPES_ALLOWED = (int(socket.SOCK_STREAM), int(socket.SOCK_DGRAM))


SOCK_TYPE_MASK = 0xF  # the type without SOCK_NONBLOCK / SOCK_CLOEXEC


# 0 is the family's default: TCP for a stream, UDP for a datagram socket.
INET_PROTOCOLS_ALLOWED = (0, socket.IPPROTO_TCP, socket.IPPROTO_UDP)


_BPF_LD_W_ABS = 0x20


_BPF_ALU_AND_K = 0x54


_BPF_JEQ_K = 0x15


_BPF_JGE_K = 0x35


_BPF_RET_K = 0x06


_RET_ALLOW = 0x7FFF0000


_RET_ERRNO = 0x00050000


_OFFSET_NR, _OFFSET_ARCH = 0, 4


def _arg_offset(index: int) -> int:
    # The low 32 bits of args[index] on a little-endian machine: socket's arguments are ints.
    return 16 + 8 * index


def socket_filter_program(machine: str) -> list[tuple[int, int, int, int]]:
    """The seccomp BPF program (code, jt, jf, k) that refuses socket kinds Landlock cannot police.

    Allowed: AF_UNIX; AF_INET and AF_INET6 stream or datagram sockets with
    protocol 0, TCP or UDP. Everything else (MPTCP, SCTP, raw, ICMP, packet,
    netlink, vsock...) and io_uring fail with EACCES, as do system calls of
    another architecture (32-bit compat, x32) whose numbers differ.
    """
    if machine not in SECCOMP_ARCHES:
        raise ValueError(f"no socket filter for architecture {machine}")
    arch, socket_nr = SECCOMP_ARCHES[machine]
    deny = _RET_ERRNO | errno.EACCES
    prog: list[tuple[int, int, int, int]] = []

    def emit(code: int, jt: int = 0, jf: int = 0, k: int = 0) -> int:
        prog.append((code, jt, jf, k))
        return len(prog) - 1

    # Jumps are relative and only forward: every check is emitted first, the
    # two returns last, and jump offsets are patched once those are known.
    emit(_BPF_LD_W_ABS, k=_OFFSET_ARCH)
    arch_check = emit(_BPF_JEQ_K, k=arch)
    emit(_BPF_LD_W_ABS, k=_OFFSET_NR)
    x32_check = emit(_BPF_JGE_K, k=X32_SYSCALL_BIT) if machine == "x86_64" else None
    uring_checks = [emit(_BPF_JEQ_K, k=nr) for nr in IO_URING_SYSCALLS]
    socket_check = emit(_BPF_JEQ_K, k=socket_nr)
    # socket(domain, type, protocol)
    emit(_BPF_LD_W_ABS, k=_arg_offset(0))
    unix_checks = [emit(_BPF_JEQ_K, k=family) for family in SOCKET_FAMILIES_ALLOWED]
    inet_checks = [emit(_BPF_JEQ_K, k=family) for family in INET_FAMILIES]
    type_load = emit(_BPF_LD_W_ABS, k=_arg_offset(1))
    emit(_BPF_ALU_AND_K, k=SOCK_TYPE_MASK)
    type_checks = [emit(_BPF_JEQ_K, k=kind) for kind in SOCKET_TYPES_ALLOWED]
    protocol_load = emit(_BPF_LD_W_ABS, k=_arg_offset(2))
    protocol_checks = [emit(_BPF_JEQ_K, k=proto) for proto in INET_PROTOCOLS_ALLOWED]
    allow = emit(_BPF_RET_K, k=_RET_ALLOW)
    deny_at = emit(_BPF_RET_K, k=deny)

    def patch(at: int, jt: int, jf: int) -> None:
        code, _jt, _jf, k = prog[at]
        prog[at] = (code, jt - at - 1, jf - at - 1, k)

    patch(arch_check, arch_check + 1, deny_at)
    if x32_check is not None:
        patch(x32_check, deny_at, x32_check + 1)
    for at in uring_checks:
        patch(at, deny_at, at + 1)
    patch(socket_check, socket_check + 1, allow)
    for at in unix_checks:
        patch(at, allow, at + 1)
    for at in inet_checks:
        patch(at, type_load, at + 1 if at != inet_checks[-1] else deny_at)
    for at in type_checks:
        patch(at, protocol_load, at + 1 if at != type_checks[-1] else deny_at)
    for at in protocol_checks:
        patch(at, allow, at + 1 if at != protocol_checks[-1] else deny_at)
    for _code, jt, jf, _k in prog:
        if not (0 <= jt <= 255 and 0 <= jf <= 255):
            raise AssertionError("socket filter jump out of range")
    return prog


class _SockFilter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def apply_socket_filter() -> Restriction:
    """Install the socket filter on the calling thread (needs no_new_privs); irreversible."""
    machine = os.uname().machine
    if machine not in SECCOMP_ARCHES:
        return Restriction(False, f"no socket filter for architecture {machine}")
    program = socket_filter_program(machine)
    filters = (_SockFilter * len(program))(*(_SockFilter(*entry) for entry in program))
    fprog = _SockFprog(len(program), ctypes.cast(filters, ctypes.POINTER(_SockFilter)))
    try:
        _prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog))
    except OSError as error:
        return Restriction(False, f"seccomp filter could not be installed: {error.strerror}")
    return Restriction(
        True,
        "socket(): only unix, and TCP/UDP over IPv4/IPv6; MPTCP, SCTP, raw, ICMP, packet, "
        "netlink and io_uring refused",
    )
