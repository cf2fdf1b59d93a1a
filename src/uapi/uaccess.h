/* SPDX-License-Identifier: MIT */
/*
 * Private: copying ioctl arguments from and to the caller's memory without
 * trusting the pointers, the way the kernel's copy_from_user() and
 * copy_to_user() do.
 *
 * An emulated ioctl receives a user pointer that may be NULL, unmapped,
 * read-only or PROT_NONE.  The kernel answers EFAULT for those; a plain
 * memcpy() would crash the program instead.  So the kernel is asked first:
 *
 *  - Fastest path: a range that lies on the calling thread's live stack
 *    (between its stack pointer and the top of its stack: where callers
 *    keep their ioctl structs) is plain memory and is copied with no
 *    system call.
 *  - Fast path: one cheap system call per page of the range that copies a
 *    few bytes from (rt_sigprocmask() with an invalid "how") or to
 *    (rt_sigpending()) that page and reports EFAULT, with no other effect;
 *    if every page passes, memcpy() does the copy.  Costs about one
 *    getppid() per page.  Caveat: another thread that unmaps or
 *    write-protects the memory between the probe and the memcpy() makes
 *    the program crash where the kernel would have returned EFAULT (a
 *    program racing with its own ioctl argument; set
 *    DMASYNC_STRICT_UACCESS=1 to rule it out at 6-7x the cost).
 *  - Exact path, used whenever a probe fails, for writes shorter than 8
 *    bytes, and always with DMASYNC_STRICT_UACCESS=1: process_vm_readv()
 *    / process_vm_writev() on our own process, which report an
 *    inaccessible range as EFAULT and honour page protections.  If those
 *    calls are refused (seccomp policies of some container runtimes),
 *    bytes are bounced through a temporary pipe, which reports EFAULT the
 *    same way.
 *  - Under valgrind, the exact path only: memcheck would report every
 *    probe (a system call handed a bad address on purpose) as the
 *    program's error, and what process_vm_writev() writes is marked
 *    written for it, as its wrappers of the kernel's calls do.
 *
 * Both helpers are thread-safe, keep working in a child after fork(), and
 * preserve errno.
 */
#ifndef DMASYNC_PRIV_UACCESS_H
#define DMASYNC_PRIV_UACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * copy_from_user - copy @n bytes from the caller's memory at @from into @to.
 * @to: our buffer (must be valid)
 * @from: untrusted pointer
 * Return: 0, or -EFAULT if any byte of [@from, @from + @n) could not be
 * read (then @to may hold a partial copy).  @n == 0 always succeeds.
 */
int copy_from_user(void *to, const void *from, size_t n);

/* For the inline fast path of uaccess_known_readable() only: the mode
 * chosen (0: probe, -1: not chosen yet), and the calling thread's stack
 * bounds (0, 0 until its first copy). */
extern int uaccess_mode;
struct uaccess_stack {
	uintptr_t lo, hi;
};
extern _Thread_local struct uaccess_stack uaccess_stack __attribute__((tls_model("initial-exec")));
bool uaccess_known_readable_slow(const void *from, size_t n);

/*
 * uaccess_known_readable - whether @n bytes at @from are known mapped
 * without asking the kernel (on the calling thread's live stack, or in the
 * main heap): the caller may read them in place.  False says nothing.
 *
 * Inline for the preload's poll(), whose array is most often on the
 * caller's stack: that case costs a few loads and no call.
 */
static inline bool uaccess_known_readable(const void *from, size_t n)
{
	uintptr_t a = (uintptr_t)from, sp = (uintptr_t)__builtin_frame_address(0);

	if (__atomic_load_n(&uaccess_mode, __ATOMIC_RELAXED) == 0 && sp >= uaccess_stack.lo &&
	    sp < uaccess_stack.hi && a >= sp && a + n >= a && a + n <= uaccess_stack.hi)
		return true;
	return uaccess_known_readable_slow(from, n);
}

/*
 * uaccess_trust_range - declare [@start, @start + @n) mapped and writable
 * for the life of the process (the broker's scratch area, where it lays
 * out each request's argument): copies inside it need no probe.  Copies
 * that reach past it are checked as any other.  One range; a later call
 * replaces it.
 */
void uaccess_trust_range(const void *start, size_t n);

/*
 * copy_to_user - copy @n bytes from @from into the caller's memory at @to.
 * @to: untrusted pointer
 * @from: our buffer
 * Return: 0, or -EFAULT if any byte could not be written (a prefix may have
 * been written, as with the kernel's copy_to_user()).
 */
int copy_to_user(void *to, const void *from, size_t n);

/*
 * user_ptr_add - @uptr advanced by @off bytes.  User pointers are numbers
 * until the kernel has checked them: arithmetic on a NULL or wild pointer
 * is undefined behaviour in C (and a UBSan report in a sanitized program),
 * so it is done on the integer.
 */
static inline void *user_ptr_add(const void *uptr, size_t off)
{
	return (void *)((uintptr_t)uptr + off);
}

#endif
