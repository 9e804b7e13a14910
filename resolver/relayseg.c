/*
 * The TLS relay's rendezvous segment (see include/proxyshim/relay.h).
 * Published like a table (temporary name, link() into place), so the
 * secret is complete before anyone can read it, and racing creators
 * agree on one secret.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "proxyshim/relay.h"
#include "proxyshim/shm.h"

void
relayseg_name(uint64_t identity, char *buf, size_t size)
{
	size_t n;

	if (size < sizeof(PS_RELAY_SUFFIX))
		return;
	shm_table_name(identity, buf, size - sizeof(PS_RELAY_SUFFIX) + 1);
	n = strlen(buf);
	memcpy(buf + n, PS_RELAY_SUFFIX, sizeof(PS_RELAY_SUFFIX));
}

int64_t
relayseg_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
relayseg_publish(const char *name)
{
	struct ps_relay_seg s;
	size_t got = 0;
	ssize_t n;
	int existed, r;

	memset(&s, 0, sizeof(s));
	s.magic = PS_RELAY_MAGIC;
	s.size = (uint32_t)sizeof(s);
	while (got < sizeof(s.secret)) {
		n = getrandom(s.secret + got, sizeof(s.secret) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		got += (size_t)n;
	}
	r = shm_publish(name, &s, sizeof(s), &existed);
	explicit_bzero(s.secret, sizeof(s.secret));
	return r;
}

int
relayseg_open(uint64_t identity, struct ps_relay_seg **out)
{
	char name[PS_SHM_NAME_MAX + sizeof(PS_RELAY_SUFFIX)];
	struct ps_relay_seg *s;
	void *p;
	int r, tries;

	relayseg_name(identity, name, sizeof(name));
	for (tries = 0;; tries++) {
		r = shm_map_rw(name, sizeof(*s), 0, &p);
		if (r != -ENOENT || tries >= 2)
			break;
		/* Published whole (secret included) before anyone maps it. */
		r = relayseg_publish(name);
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	s = p;
	if (s->magic != PS_RELAY_MAGIC || s->size != sizeof(*s)) {
		munmap(p, sizeof(*s));
		return -EINVAL;
	}
	*out = s;
	return 0;
}

void
relayseg_hex(const struct ps_relay_seg *s, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < PS_RELAY_SECRET_LEN; i++) {
		out[2 * i] = hex[s->secret[i] >> 4];
		out[2 * i + 1] = hex[s->secret[i] & 0xf];
	}
	out[PS_RELAY_SECRET_HEX] = '\0';
}
