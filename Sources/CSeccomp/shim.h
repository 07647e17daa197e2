// A seccomp filter for the virtiofsd that serves a -v folder: the guest's root must not leave
// set-user-ID or set-group-ID files in a host folder (the kernel lets a file's owner set those
// bits without any capability, and virtiofsd acts as root). Built here, in C, because the BPF
// macros, struct layouts and syscall numbers are per architecture.
#include <errno.h>
#include <stddef.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#define PODMAN_BOOTC_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define PODMAN_BOOTC_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

// The low 32 bits of argument n (both architectures are little-endian).
#define PODMAN_BOOTC_ARG(n) (offsetof(struct seccomp_data, args) + (n) * sizeof(__u64))

// Syscall `nr`, its mode in argument `arg`: EPERM when the mode asks for S_ISUID or S_ISGID,
// else allowed. Five instructions; a syscall that is not `nr` skips to the next block.
#define PODMAN_BOOTC_MODE_RULE(nr, arg) \
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 4), \
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, PODMAN_BOOTC_ARG(arg)), \
    BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 06000, 0, 1), \
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM), \
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

/// Installs the filter on this thread (inherited across exec). With CAP_SYS_ADMIN (root, or
/// root of a user namespace) without no_new_privs, which would stop an SELinux domain
/// transition into virtiofsd's own domain at exec; else with no_new_privs, as the kernel asks.
/// Returns 0, or -1 with errno set (ENOSYS: an architecture this filter does not know).
static inline int podman_bootc_forbid_setid_modes(void) {
#ifndef PODMAN_BOOTC_AUDIT_ARCH
    errno = ENOSYS;
    return -1;
#else
    struct sock_filter filter[] = {
        // Another ABI (i386 or x32 on x86-64) has other numbers: refused outright.
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PODMAN_BOOTC_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        // openat2 carries its mode in a structure the filter cannot read: callers fall back to openat.
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 437, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
#ifdef __NR_chmod
        PODMAN_BOOTC_MODE_RULE(__NR_chmod, 1),
#endif
#ifdef __NR_creat
        PODMAN_BOOTC_MODE_RULE(__NR_creat, 1),
#endif
#ifdef __NR_open
        PODMAN_BOOTC_MODE_RULE(__NR_open, 2),
#endif
#ifdef __NR_mknod
        PODMAN_BOOTC_MODE_RULE(__NR_mknod, 1),
#endif
        PODMAN_BOOTC_MODE_RULE(__NR_fchmod, 1),
        PODMAN_BOOTC_MODE_RULE(__NR_fchmodat, 2),
        PODMAN_BOOTC_MODE_RULE(452 /* fchmodat2 */, 2),
        PODMAN_BOOTC_MODE_RULE(__NR_openat, 3),
        PODMAN_BOOTC_MODE_RULE(__NR_mknodat, 2),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog program = { .len = (unsigned short)(sizeof(filter) / sizeof(filter[0])), .filter = filter };
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program, 0, 0) == 0) return 0;
    if (errno != EACCES) return -1;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program, 0, 0);
#endif
}
