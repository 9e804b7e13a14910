/*
 * The TLS relay's rendezvous segment (see include/proxyshim/relay.h).
 * Published like a table (temporary name, link() into place), so the
 * secret is complete before anyone can read it, and racing creators
 * agree on one secret.
 */
#include <errno.h>
#include <stdatomic.h>
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
	shm_companion_name(identity, PS_RELAY_SUFFIX, buf, size);
}

int64_t
relayseg_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
relayseg_random(uint8_t *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = getrandom(buf + got, len - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		got += (size_t)n;
	}
	return 0;
}

static void
relayseg_store(struct ps_relay_seg *s, const uint8_t *secret)
{
	uint64_t w;
	size_t i;

	for (i = 0; i < PS_RELAY_SECRET_LEN / 8; i++) {
		memcpy(&w, secret + 8 * i, 8);
		atomic_store(&s->secret[i], w);
	}
}

static int
relayseg_publish(const char *name)
{
	struct ps_relay_seg s;
	uint8_t secret[PS_RELAY_SECRET_LEN];
	int existed, r;

	memset(&s, 0, sizeof(s));
	s.magic = PS_RELAY_MAGIC;
	s.size = (uint32_t)sizeof(s);
	if (relayseg_random(secret, sizeof(secret)) < 0)
		return -EIO;
	relayseg_store(&s, secret);
	explicit_bzero(secret, sizeof(secret));
	r = shm_publish(name, &s, sizeof(s), &existed);
	explicit_bzero(&s, sizeof(s));
	return r;
}

/* Map name; one of ours whose header is wrong (another layout) goes. */
static int
relayseg_map(const char *name, void **p)
{
	const struct ps_relay_seg *s;
	int r;

	r = shm_map_rw(name, sizeof(*s), 0, p);
	if (r == 0) {
		s = *p;
		if (s->magic == PS_RELAY_MAGIC && s->size == sizeof(*s))
			return 0;
		munmap(*p, sizeof(*s));
	} else if (r != -EINVAL) {
		return r; /* -EINVAL: ours and private, another size */
	}
	shm_remove(name);
	return -ENOENT;
}

int
relayseg_open(uint64_t identity, struct ps_relay_seg **out)
{
	char name[PS_SHM_NAME_MAX + sizeof(PS_RELAY_SUFFIX)];
	void *p;
	int r, tries;

	relayseg_name(identity, name, sizeof(name));
	for (tries = 0;; tries++) {
		r = relayseg_map(name, &p);
		if (r != -ENOENT || tries >= 2)
			break;
		/* Published whole (secret included) before anyone maps it. */
		r = relayseg_publish(name);
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r == -ENOENT ? -EINVAL : r;
	*out = p;
	return 0;
}

int
relayseg_rotate(struct ps_relay_seg *s)
{
	uint8_t secret[PS_RELAY_SECRET_LEN];
	uint32_t g;

	if (relayseg_random(secret, sizeof(secret)) < 0)
		return -EIO;
	g = (atomic_load(&s->gen) + 1) | 1;
	atomic_store(&s->gen, g);
	relayseg_store(s, secret);
	atomic_store(&s->gen, g + 1);
	explicit_bzero(secret, sizeof(secret));
	return 0;
}

static void
relayseg_tohex(const uint64_t *w, char *out)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t b[PS_RELAY_SECRET_LEN];
	size_t i;

	memcpy(b, w, sizeof(b));
	for (i = 0; i < PS_RELAY_SECRET_LEN; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 0xf];
	}
	out[PS_RELAY_SECRET_HEX] = '\0';
	explicit_bzero(b, sizeof(b));
}

int
relayseg_read(const struct ps_relay_seg *s, uint32_t *port, char *hex)
{
	uint64_t w[PS_RELAY_SECRET_LEN / 8];
	uint32_t g;
	size_t i;

	g = atomic_load(&s->gen);
	if (g & 1)
		return -EAGAIN;
	for (i = 0; i < PS_RELAY_SECRET_LEN / 8; i++)
		w[i] = atomic_load(&s->secret[i]);
	*port = atomic_load(&s->port);
	if (atomic_load(&s->gen) != g) {
		explicit_bzero(w, sizeof(w));
		return -EAGAIN;
	}
	relayseg_tohex(w, hex);
	explicit_bzero(w, sizeof(w));
	return 0;
}

int
relayseg_hex(const struct ps_relay_seg *s, char *hex)
{
	uint32_t port;

	return relayseg_read(s, &port, hex);
}
