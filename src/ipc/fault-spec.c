// SPDX-License-Identifier: MIT
/*
 * Parsing of fault-injection settings (fault-spec.h): shared by `dmasync
 * run`, which refuses bad ones with a reason, and the broker.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fault-spec.h"

static const struct {
	const char *name;
	int e;
} errnos[] = {
	{ "EIO", EIO }, { "ETIME", ETIME }, { "ETIMEDOUT", ETIMEDOUT },
	{ "ECANCELED", ECANCELED }, { "ENOENT", ENOENT }, { "EINVAL", EINVAL },
	{ "ENOMEM", ENOMEM }, { "EDEADLK", EDEADLK }, { "ENODEV", ENODEV },
	{ "EFAULT", EFAULT }, { "EPIPE", EPIPE }, { "EAGAIN", EAGAIN },
	{ "EBUSY", EBUSY }, { "EPROTO", EPROTO }, { "ENOSPC", ENOSPC },
};

int fault_errno_parse(const char *s)
{
	char *end;
	long v;

	for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
		if (!strcmp(s, errnos[i].name))
			return errnos[i].e;
	if (*s == '-')
		s++;
	errno = 0;
	v = strtol(s, &end, 10);
	/* MAX_ERRNO: what dma_fence_set_error() accepts. */
	if (errno || end == s || *end || v <= 0 || v > 4095)
		return -EINVAL;
	return (int)v;
}

const char *fault_errno_name(int e)
{
	for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
		if (errnos[i].e == e)
			return errnos[i].name;
	return NULL;
}

/* "0.25" or "25%" into [0, 1]. */
static int parse_share(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s)
		return -EINVAL;
	if (*end == '%') {
		v /= 100.0;
		end++;
	}
	if (*end || !(v >= 0.0 && v <= 1.0))
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	if (*s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > 86400000ul)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* Split @s at the first @c: the rest, or NULL. */
static char *cut(char *s, char c)
{
	char *p = strchr(s, c);

	if (!p)
		return NULL;
	*p = '\0';
	return p + 1;
}

static int parse_item(char *item, struct fault_spec *spec, char *why, size_t whylen)
{
	char *val = cut(item, '='), *a, *b;
	int e;

	if (!val) {
		snprintf(why, whylen, "'%s': expected NAME=VALUE", item);
		return -EINVAL;
	}
	if (!strcmp(item, "error")) {
		a = cut(val, ':');
		if (parse_share(val, &spec->error_share))
			goto bad_share;
		if (a) {
			e = fault_errno_parse(a);
			if (e < 0)
				goto bad_errno;
			spec->error_errno = e;
		}
	} else if (!strcmp(item, "delay")) {
		a = cut(val, '-');
		if (parse_u32(val, &spec->delay_min_ms))
			goto bad_ms;
		spec->delay_max_ms = spec->delay_min_ms;
		if (a && parse_u32(a, &spec->delay_max_ms))
			goto bad_ms;
		if (spec->delay_max_ms < spec->delay_min_ms) {
			snprintf(why, whylen, "delay=%u-%u: MAX below MIN", spec->delay_min_ms,
				 spec->delay_max_ms);
			return -EINVAL;
		}
	} else if (!strcmp(item, "hang")) {
		a = cut(val, ':');
		b = a ? cut(a, ':') : NULL;
		if (parse_share(val, &spec->hang_share))
			goto bad_share;
		if (!a || parse_u32(a, &spec->hang_ms) || !spec->hang_ms) {
			snprintf(why, whylen, "hang=SHARE:MS[:ERRNO]: MS must be a number of milliseconds above 0");
			return -EINVAL;
		}
		if (b) {
			e = fault_errno_parse(b);
			if (e < 0)
				goto bad_errno;
			spec->hang_errno = e;
		}
	} else if (!strcmp(item, "seed")) {
		char *end;

		errno = 0;
		spec->seed = strtoull(val, &end, 0);
		if (errno || end == val || *end || *val == '-') {
			snprintf(why, whylen, "seed=%s: not a number", val);
			return -EINVAL;
		}
	} else {
		snprintf(why, whylen, "unknown fault '%s' (error, delay, hang, seed)", item);
		return -EINVAL;
	}
	return 0;

bad_share:
	snprintf(why, whylen, "%s=%s: SHARE must be 0..1 or 0%%..100%%", item, val);
	return -EINVAL;
bad_errno:
	snprintf(why, whylen, "%s: not an errno (EIO, ETIME, ECANCELED, ... or 1..4095)", item);
	return -EINVAL;
bad_ms:
	snprintf(why, whylen, "delay=MIN[-MAX]: milliseconds expected");
	return -EINVAL;
}

int fault_spec_parse(const char *text, struct fault_spec *spec, char *why, size_t whylen)
{
	char *copy = strdup(text ? text : ""), *item, *save = NULL;
	int r = 0;

	memset(spec, 0, sizeof(*spec));
	spec->seed = 1;
	spec->error_errno = EIO;
	spec->hang_errno = ETIME;
	if (!copy) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	for (item = strtok_r(copy, ",", &save); item && !r; item = strtok_r(NULL, ",", &save))
		r = parse_item(item, spec, why, whylen);
	free(copy);
	return r;
}

bool fault_spec_active(const struct fault_spec *spec)
{
	return spec->error_share > 0 || spec->delay_max_ms > 0 || spec->hang_share > 0;
}

/* splitmix64's finalizer: every input bit reaches every output bit. */
static uint64_t mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

double fault_chance(uint64_t seed, uint64_t a, uint64_t b, uint64_t salt)
{
	uint64_t h = mix(seed ^ mix(a ^ mix(b ^ mix(salt))));

	return (double)(h >> 11) * (1.0 / 9007199254740992.0);
}
