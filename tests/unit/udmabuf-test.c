/* SPDX-License-Identifier: MIT */
/*
 * Tests of /dev/udmabuf (src/uapi/udmabuf.c) through dmasync_open() and
 * dmasync_ioctl() with the <linux/udmabuf.h> structs: Linux 6.1's checks
 * and errno, lists, and memory shared with the memfds (offsets, lists,
 * aliases, both directions) through dmasync_mmap().
 */
#include <sys/resource.h>
#include <sys/socket.h>

#include "dma-buf-test.h"

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

static bool cloexec(int fd)
{
	int f = fcntl(fd, F_GETFD);

	return f != -1 && (f & FD_CLOEXEC);
}

static char *map_shared(int fd, size_t len, off_t off)
{
	char *p = dmasync_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);

	return p == MAP_FAILED ? NULL : p;
}

static struct udmabuf_create_list *new_list(unsigned int count, u32 flags)
{
	struct udmabuf_create_list *l =
		calloc(1, sizeof(*l) + count * sizeof(struct udmabuf_create_item));

	if (!l)
		abort();
	l->flags = flags;
	l->count = count;
	return l;
}

static void set_item(struct udmabuf_create_list *l, unsigned int i, int memfd, u64 off, u64 size)
{
	l->list[i].memfd = (u32)memfd;
	l->list[i].__pad = 0;
	l->list[i].offset = off;
	l->list[i].size = size;
}

TEST(create_basic)
{
	int dev = open_udmabuf_dev(), mfd = new_memfd(3 * PAGE, F_SEAL_SHRINK);
	int b0 = try_udmabuf(dev, mfd, 0, 3 * PAGE, 0);
	int b1 = try_udmabuf(dev, mfd, PAGE, PAGE, UDMABUF_FLAGS_CLOEXEC);
	int b2, b3, b4;
	struct dma_buf *buf;

	REQUIRE(dev >= 0 && b0 >= 0 && b1 >= 0);
	CHECK(cloexec(dev));
	CHECK(!cloexec(b0));
	CHECK(cloexec(b1));
	CHECK_EQ(fcntl(b0, F_GETFL) & O_ACCMODE, O_RDWR);
	CHECK_EQ(dmasync_lseek(b0, 0, SEEK_END), 3 * PAGE);
	CHECK_EQ(dmasync_lseek(b1, 0, SEEK_END), PAGE);
	buf = dma_buf_get(b1);
	REQUIRE(!IS_ERR(buf));
	CHECK_STR(buf->exp_name, "udmabuf");
	CHECK_EQ(buf->size, PAGE);
	dma_buf_put(buf);
	/* unknown flag bits are ignored; the same pages can be exported again */
	b2 = try_udmabuf(dev, mfd, 0, PAGE, 0x2);
	b3 = try_udmabuf(dev, mfd, 0, PAGE, 0xfffffffe);
	b4 = try_udmabuf(dev, mfd, 0, 3 * PAGE, 0);
	CHECK(b2 >= 0 && b3 >= 0 && b4 >= 0);
	CHECK(!cloexec(b3));
	/* a udmabuf is not mappable natively: dmasync_mmap() is needed */
	errno = 0;
	CHECK(mmap(NULL, PAGE, PROT_READ, MAP_SHARED, b0, 0) == MAP_FAILED);
	CHECK_EQ(errno, ENODEV);
	close(b4);
	close(b3);
	close(b2);
	close(b1);
	close(b0);
	close(mfd);
	close(dev);
}

TEST(create_checks_seals)
{
	int dev = open_udmabuf_dev();
	const unsigned int bad[] = { 0, F_SEAL_GROW, F_SEAL_SHRINK | F_SEAL_WRITE,
				     F_SEAL_SHRINK | F_SEAL_FUTURE_WRITE };
	const unsigned int good[] = { F_SEAL_SHRINK, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL };
	int mfd, b;

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mfd = new_memfd(PAGE, bad[i]);
		errno = 0;
		CHECK_EQ(try_udmabuf(dev, mfd, 0, PAGE, 0), -1);
		CHECK_EQ(errno, EINVAL);
		close(mfd);
	}
	/* without MFD_ALLOW_SEALING a memfd has only F_SEAL_SEAL */
	mfd = memfd_create("nosealing", MFD_CLOEXEC);
	REQUIRE(mfd >= 0 && ftruncate(mfd, PAGE) == 0);
	errno = 0;
	CHECK_EQ(try_udmabuf(dev, mfd, 0, PAGE, 0), -1);
	CHECK_EQ(errno, EINVAL);
	close(mfd);
	for (unsigned int i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		mfd = new_memfd(PAGE, good[i]);
		b = try_udmabuf(dev, mfd, 0, PAGE, 0);
		CHECK(b >= 0);
		close(b);
		close(mfd);
	}
	close(dev);
}

TEST(create_checks_geometry)
{
	int dev = open_udmabuf_dev(), mfd = new_memfd(4 * PAGE, F_SEAL_SHRINK);
	int big = new_memfd(65u << 20, F_SEAL_SHRINK), b;
	struct {
		int fd;
		u64 off, size;
	} bad[] = {
		{ mfd, 100, PAGE }, { mfd, 0, PAGE + 1 }, { mfd, 0, 100 }, { mfd, 0, 0 },
		{ mfd, PAGE, 0 }, { big, 0, (64u << 20) + PAGE }, { mfd, 0, 5 * PAGE },
		{ mfd, 4 * PAGE, PAGE }, { mfd, 3 * PAGE, 2 * PAGE },
		{ mfd, 0x7ffffffffffff000ull, PAGE },
		/* size and alignment come before the fd */
		{ -1, 0, 0 }, { -1, 1, PAGE },
	};

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		CHECK_EQ(try_udmabuf(dev, bad[i].fd, bad[i].off, bad[i].size, 0), -1);
		CHECK_EQ(errno, EINVAL);
	}
	/* a page index past the largest file's (Linux 6.1's shmem) */
	errno = 0;
	CHECK_EQ(try_udmabuf(dev, mfd, ~0ull & ~(u64)(PAGE - 1), PAGE, 0), -1);
	CHECK_EQ(errno, EFBIG);
	b = try_udmabuf(dev, mfd, PAGE, 2 * PAGE, 0);
	REQUIRE(b >= 0);
	CHECK_EQ(dmasync_lseek(b, 0, SEEK_END), 2 * PAGE);
	close(b);
	b = try_udmabuf(dev, mfd, 3 * PAGE, PAGE, 0);
	CHECK(b >= 0);
	close(b);
	/* exactly size_limit_mb is fine */
	b = try_udmabuf(dev, big, 0, 64u << 20, 0);
	CHECK(b >= 0);
	CHECK_EQ(dmasync_lseek(b, 0, SEEK_END), 64u << 20);
	close(b);
	close(big);
	close(mfd);
	close(dev);
}

TEST(create_rejects_what_is_not_shmem)
{
	struct sync_timeline *tl = sync_timeline_create("t");
	int dev = open_udmabuf_dev(), p[2], other = new_udmabuf(PAGE), heap = new_heapbuf(PAGE);
	int sf = point_fd(tl, 0), sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int dir = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC), closed = closed_fd();

	REQUIRE(pipe2(p, O_CLOEXEC) == 0);
	{
		const int bad[] = { p[0], p[1], -1, closed, dev, other, heap, sf, sock, dir };

		for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			errno = 0;
			CHECK_EQ(try_udmabuf(dev, bad[i], 0, PAGE, 0), -1);
			CHECK_EQ(errno, EBADFD);
		}
	}
	close(dir);
	close(sock);
	close(sf);
	close(heap);
	close(other);
	close(p[0]);
	close(p[1]);
	close(dev);
	sync_timeline_destroy(tl);
}

TEST(device_bad_requests)
{
	int dev = open_udmabuf_dev();
	char buf[64];

	memset(buf, 0, sizeof(buf));
	errno = 0;
	CHECK_EQ(dmasync_ioctl(dev, UDMABUF_CREATE, NULL), -1);
	CHECK_EQ(errno, EFAULT);
	CHECK_EQ(dmasync_ioctl(dev, UDMABUF_CREATE_LIST, NULL), -1);
	CHECK_EQ(errno, EFAULT);
	errno = 0;
	CHECK_EQ(dmasync_ioctl(dev, _IO('u', 0x44), 0), -1);
	CHECK_EQ(errno, ENOTTY);
	CHECK_EQ(dmasync_ioctl(dev, _IOW('u', 0x41, struct udmabuf_create), buf), -1);
	CHECK_EQ(dmasync_ioctl(dev, DMA_BUF_IOCTL_SYNC, buf), -1);
	CHECK_EQ(dmasync_ioctl(dev, DMA_HEAP_IOCTL_ALLOC, buf), -1);
	CHECK_EQ(dmasync_ioctl(dev, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, buf), -1);
	CHECK_EQ(errno, ENOTTY);
	close(dev);
}

TEST(create_list_concatenates)
{
	int dev = open_udmabuf_dev();
	int ma = new_memfd(4 * PAGE, F_SEAL_SHRINK), mb = new_memfd(2 * PAGE, F_SEAL_SHRINK);
	struct udmabuf_create_list *l = new_list(2, 0);
	char *pa, *pb, *pu, *pu1;
	int b;

	set_item(l, 0, ma, PAGE, 2 * PAGE);
	set_item(l, 1, mb, 0, PAGE);
	b = dmasync_ioctl(dev, UDMABUF_CREATE_LIST, l);
	REQUIRE(b >= 0);
	CHECK(!cloexec(b));
	CHECK_EQ(dmasync_lseek(b, 0, SEEK_END), 3 * PAGE);
	pa = map_shared(ma, 4 * PAGE, 0);
	pb = map_shared(mb, 2 * PAGE, 0);
	pu = map_shared(b, 3 * PAGE, 0);
	REQUIRE(pa && pb && pu);
	pa[PAGE + 1] = 'A';
	pa[2 * PAGE + 2] = 'B';
	pb[3] = 'C';
	CHECK_EQ(pu[1], 'A');
	CHECK_EQ(pu[PAGE + 2], 'B');
	CHECK_EQ(pu[2 * PAGE + 3], 'C');
	pu[2 * PAGE + 4] = 'D';
	CHECK_EQ(pb[4], 'D');
	pu[5] = 'E';
	CHECK_EQ(pa[PAGE + 5], 'E');
	CHECK_EQ(pa[5], 0);
	/* a mapping at an offset, straddling two items */
	pu1 = map_shared(b, 2 * PAGE, PAGE);
	REQUIRE(pu1);
	CHECK_EQ(pu1[2], 'B');
	CHECK_EQ(pu1[PAGE + 4], 'D');
	pu1[PAGE + 9] = 'F';
	CHECK_EQ(pb[9], 'F');
	munmap(pu1, 2 * PAGE);
	munmap(pu, 3 * PAGE);
	close(b);
	/* CLOEXEC honoured; the item __pad is ignored */
	l->flags = UDMABUF_FLAGS_CLOEXEC;
	l->list[0].__pad = 0xffffffff;
	b = dmasync_ioctl(dev, UDMABUF_CREATE_LIST, l);
	REQUIRE(b >= 0);
	CHECK(cloexec(b));
	close(b);
	munmap(pa, 4 * PAGE);
	munmap(pb, 2 * PAGE);
	free(l);
	close(ma);
	close(mb);
	close(dev);
}

TEST(create_list_errors)
{
	int dev = open_udmabuf_dev();
	int ma = new_memfd(2 * PAGE, F_SEAL_SHRINK), bad = new_memfd(PAGE, 0), p[2];
	struct udmabuf_create_list *l = new_list(3, 0);
	struct udmabuf_create_list head = { .flags = 0, .count = 1025 };
	struct udmabuf_create_list *big = new_list(1024, 0);
	char *end = page_before_hole();
	int b;

	REQUIRE(pipe2(p, O_CLOEXEC) == 0);
	l->count = 0;
	errno = 0;
	CHECK_EQ(dmasync_ioctl(dev, UDMABUF_CREATE_LIST, l), -1);
	CHECK_EQ(errno, EINVAL);
	/* over list_limit, before the items are read */
	CHECK_EQ(dmasync_ioctl(dev, UDMABUF_CREATE_LIST, &head), -1);
	CHECK_EQ(errno, EINVAL);
	l->count = 2;
	set_item(l, 0, ma, 0, PAGE);
	set_item(l, 1, bad, 0, PAGE);
	CHECK_EQ(dmasync_ioctl(dev, UDMABUF_CREATE_LIST, l), -1);
	CHECK_EQ(errno, EINVAL);
	set_item(l, 1, p[0], 0, PAGE);
	CHECK_EQ(dmasync_ioctl(dev, UDMABUF_CREATE_LIST, l), -1);
	CHECK_EQ(errno, EBADFD);
	/* an empty item is still checked for its fd */
	set_item(l, 1, p[0], 0, 0);
	CHECK_EQ(dmasync_ioctl(dev, UDMABUF_CREATE_LIST, l), -1);
	CHECK_EQ(errno, EBADFD);
	set_item(l, 1, ma, 0, 10);
	CHECK_EQ(dmasync_ioctl(dev, UDMABUF_CREATE_LIST, l), -1);
	CHECK_EQ(errno, EINVAL);
	set_item(l, 1, ma, 0, 0);
	b = dmasync_ioctl(dev, UDMABUF_CREATE_LIST, l);
	CHECK(b >= 0);
	CHECK_EQ(dmasync_lseek(b, 0, SEEK_END), PAGE);
	close(b);
	set_item(l, 1, ma, PAGE, 2 * PAGE);
	CHECK_EQ(dmasync_ioctl(dev, UDMABUF_CREATE_LIST, l), -1);
	CHECK_EQ(errno, EINVAL);
	/* the total over size_limit_mb: checked before any fd is */
	for (unsigned int i = 0; i < 1024; i++)
		set_item(big, i, p[0], 0, 32 * PAGE);
	errno = 0;
	CHECK_EQ(dmasync_ioctl(dev, UDMABUF_CREATE_LIST, big), -1);
	CHECK_EQ(errno, EINVAL);
	/* the most items there may be, all aliasing one page */
	for (unsigned int i = 0; i < 1024; i++)
		set_item(big, i, ma, 0, PAGE);
	b = dmasync_ioctl(dev, UDMABUF_CREATE_LIST, big);
	CHECK(b >= 0);
	CHECK_EQ(dmasync_lseek(b, 0, SEEK_END), 1024 * PAGE);
	close(b);
	/* items running into an unreadable page */
	{
		struct udmabuf_create_list *h =
			(void *)(end - sizeof(*h) - sizeof(struct udmabuf_create_item));

		h->flags = 0;
		h->count = 2;
		set_item(h, 0, ma, 0, PAGE);
		errno = 0;
		CHECK_EQ(dmasync_ioctl(dev, UDMABUF_CREATE_LIST, h), -1);
		CHECK_EQ(errno, EFAULT);
		h->count = 1;
		b = dmasync_ioctl(dev, UDMABUF_CREATE_LIST, h);
		CHECK(b >= 0);
		close(b);
	}
	munmap(end - PAGE, 2 * PAGE);
	free(big);
	free(l);
	close(p[0]);
	close(p[1]);
	close(bad);
	close(ma);
	close(dev);
}

TEST(list_alias)
{
	int dev = open_udmabuf_dev(), ma = new_memfd(PAGE, F_SEAL_SHRINK);
	struct udmabuf_create_list *l = new_list(2, UDMABUF_FLAGS_CLOEXEC);
	volatile char *pu;	/* the compiler must not assume two offsets differ */
	int b;

	set_item(l, 0, ma, 0, PAGE);
	set_item(l, 1, ma, 0, PAGE);
	b = dmasync_ioctl(dev, UDMABUF_CREATE_LIST, l);
	REQUIRE(b >= 0);
	pu = map_shared(b, 2 * PAGE, 0);
	REQUIRE(pu);
	pu[7] = 'x';
	CHECK_EQ(pu[PAGE + 7], 'x');
	munmap((void *)pu, 2 * PAGE);
	free(l);
	close(b);
	close(ma);
	close(dev);
}

TEST(mmap_coherency_limits_and_lifetime)
{
	int dev = open_udmabuf_dev(), mfd = new_memfd(4 * PAGE, F_SEAL_SHRINK);
	int b = try_udmabuf(dev, mfd, PAGE, 2 * PAGE, UDMABUF_FLAGS_CLOEXEC);
	char *pm, *pu, *pu1, *fixed;
	char c = 'W';

	REQUIRE(b >= 0);
	pm = map_shared(mfd, 4 * PAGE, 0);
	pu = map_shared(b, 2 * PAGE, 0);
	REQUIRE(pm && pu);
	pm[PAGE + 10] = 'm';
	CHECK_EQ(pu[10], 'm');
	pu[PAGE + 20] = 'u';
	CHECK_EQ(pm[2 * PAGE + 20], 'u');
	/* write(2) into the memfd shows through */
	CHECK_EQ(pwrite(mfd, &c, 1, PAGE + 30), 1);
	CHECK_EQ(pu[30], 'W');
	pu1 = map_shared(b, PAGE, PAGE);
	REQUIRE(pu1);
	CHECK_EQ(pu1[20], 'u');
	pu1[40] = 'o';
	CHECK_EQ(pm[2 * PAGE + 40], 'o');
	/* a length that is not a page multiple maps the whole page */
	munmap(pu1, PAGE);
	pu1 = dmasync_mmap(NULL, 100, PROT_READ, MAP_SHARED, b, PAGE);
	REQUIRE(pu1 != MAP_FAILED);
	CHECK_EQ(pu1[40], 'o');
	munmap(pu1, 100);
	/* limits */
	errno = 0;
	CHECK(dmasync_mmap(NULL, 3 * PAGE, PROT_READ, MAP_SHARED, b, 0) == MAP_FAILED);
	CHECK_EQ(errno, EINVAL);
	CHECK(dmasync_mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, b, PAGE) == MAP_FAILED);
	CHECK(dmasync_mmap(NULL, PAGE, PROT_READ, MAP_SHARED, b, 2 * PAGE) == MAP_FAILED);
	CHECK(dmasync_mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, b, 0) == MAP_FAILED);
	CHECK(dmasync_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, b, 0) == MAP_FAILED);
	CHECK_EQ(errno, EINVAL);
	/* MAP_FIXED replaces what is there */
	fixed = mmap(NULL, 2 * PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(fixed != MAP_FAILED);
	CHECK(dmasync_mmap(fixed + PAGE, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, b,
			   PAGE) == fixed + PAGE);
	CHECK_EQ(fixed[PAGE + 40], 'o');
	CHECK_EQ(fixed[0], 0);
	munmap(fixed, 2 * PAGE);
	/* MAP_SHARED_VALIDATE is a shared mapping */
	pu1 = dmasync_mmap(NULL, PAGE, PROT_READ, MAP_SHARED_VALIDATE, b, 0);
	CHECK(pu1 != MAP_FAILED);
	munmap(pu1, PAGE);
	/* the pages outlive both fds and the buffer */
	close(b);
	close(mfd);
	reap();
	pm[PAGE + 50] = 'z';
	CHECK_EQ(pu[50], 'z');
	munmap(pu, 2 * PAGE);
	munmap(pm, 4 * PAGE);
	close(dev);
}

/* A memfd the program only has read access to still gives a writable buffer. */
TEST(read_only_memfd_fd)
{
	int dev = open_udmabuf_dev(), mfd = new_memfd(PAGE, F_SEAL_SHRINK), ro, b;
	char path[64], *pu, *pm;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", mfd);
	ro = open(path, O_RDONLY | O_CLOEXEC);
	REQUIRE(ro >= 0);
	b = try_udmabuf(dev, ro, 0, PAGE, UDMABUF_FLAGS_CLOEXEC);
	REQUIRE(b >= 0);
	pu = map_shared(b, PAGE, 0);
	pm = map_shared(mfd, PAGE, 0);
	REQUIRE(pu && pm);
	pu[1] = 'w';
	CHECK_EQ(pm[1], 'w');
	munmap(pu, PAGE);
	munmap(pm, PAGE);
	close(b);
	close(ro);
	close(mfd);
	close(dev);
}

TEST(fds_exhausted_emfile_after_checks)
{
	int dev = open_udmabuf_dev(), mfd = new_memfd(PAGE, F_SEAL_SHRINK);
	struct rlimit old, lim;
	int hi = 0, extra[1024], n = 0;

	REQUIRE(getrlimit(RLIMIT_NOFILE, &old) == 0);
	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) != -1)
			hi = fd;
	lim = old;
	lim.rlim_cur = (rlim_t)hi + 1;
	REQUIRE(setrlimit(RLIMIT_NOFILE, &lim) == 0);
	while (n < 1024) {
		int fd = dup(0);

		if (fd < 0)
			break;
		extra[n++] = fd;
	}
	errno = 0;
	CHECK_EQ(try_udmabuf(dev, mfd, 0, PAGE, 0), -1);
	CHECK_EQ(errno, EMFILE);
	CHECK_EQ(try_udmabuf(dev, mfd, 0, 0, 0), -1);
	CHECK_EQ(errno, EINVAL);
	errno = 0;
	CHECK_EQ(dmasync_open("/dev/udmabuf", O_RDWR), -1);
	CHECK_EQ(errno, EMFILE);
	REQUIRE(setrlimit(RLIMIT_NOFILE, &old) == 0);
	while (n > 0)
		close(extra[--n]);
	close(mfd);
	close(dev);
}
