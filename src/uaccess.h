/* SPDX-License-Identifier: MIT */
/*
 * Private: copying ioctl arguments from and to the caller's memory without
 * trusting the pointers, the way the kernel's copy_from_user() and
 * copy_to_user() do.
 *
 * An emulated ioctl receives a user pointer that may be NULL, unmapped,
 * read-only or PROT_NONE.  The kernel answers EFAULT for those; a plain
 * memcpy() would crash the program instead.  These helpers let the kernel
 * do the access: process_vm_readv()/process_vm_writev() on our own process
 * report an inaccessible range as EFAULT and honour page protections (a
 * read-only page is not writable).  There is no window in which another
 * thread's munmap() or mprotect() could turn the access into a SIGSEGV.
 *
 * Both are thread-safe, async-signal-safe and keep working in a child
 * after fork().  If the process_vm_* calls are not permitted (seccomp
 * policies of some container runtimes), they fall back to bouncing the
 * bytes through a temporary pipe, which reports EFAULT the same way.
 */
#ifndef DMASYNC_PRIV_UACCESS_H
#define DMASYNC_PRIV_UACCESS_H

#include <stddef.h>

/*
 * copy_from_user - copy @n bytes from the caller's memory at @from into @to.
 * @to: our buffer (must be valid)
 * @from: untrusted pointer
 * Return: 0, or -EFAULT if any byte of [@from, @from + @n) could not be
 * read (then @to may hold a partial copy).  @n == 0 always succeeds.
 */
int copy_from_user(void *to, const void *from, size_t n);

/*
 * copy_to_user - copy @n bytes from @from into the caller's memory at @to.
 * @to: untrusted pointer
 * @from: our buffer
 * Return: 0, or -EFAULT if any byte could not be written (a prefix may have
 * been written, as with the kernel's copy_to_user()).
 */
int copy_to_user(void *to, const void *from, size_t n);

#endif
