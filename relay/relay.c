/*
 * The TLS relay's process: listener, idle exit and the data path.
 *
 * One thread runs epoll (level-triggered) over every tunnel; a dial
 * thread per new connection does the slow part and queues the finished
 * pair (relay_add), so only this thread ever touches a tunnel after
 * that.  Each direction has one bounded buffer: a full buffer stops
 * reading its source (back-pressure), an end-of-stream is passed on once
 * the buffer has drained (half-close both ways: shutdown(SHUT_WR) to the
 * program, close_notify then SHUT_WR to the proxy).  TLS may hold
 * decrypted bytes the socket no longer signals, so a tunnel is pumped
 * until it makes no progress, and a tunnel that used its turn is queued
 * to run again before the next wait.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxyshim/env.h"
#include "proxyshim/log.h"
#include "proxyshim/shm.h"
#include "proxyshim/sockdiag.h"
#include "relay.h"

#define RELAY_TURNS 16 /* pump rounds before another tunnel's turn */
#define RELAY_EVENTS 256

struct rbuf {
	size_t off, len, wlen; /* wlen: a TLS write to retry as it was */
	char d[RELAY_BUF];
};

struct tun;
struct end {
	struct tun *t;
	int fd;
	uint32_t mask; /* registered events; 0 = not registered */
};

struct tun {
	struct end c, u;
	SSL *ssl;
	struct rbuf c2u, u2c;
	bool c_eof, u_eof, c_shut, u_shut, again;
	uint32_t rd_block, wr_block; /* what the blocked TLS op waits for */
	struct tun *next;            /* add queue, then again list */
};

static struct relay relay_proc; /* this relay process: one per table */
static pthread_mutex_t add_mu = PTHREAD_MUTEX_INITIALIZER;
static struct tun *add_head;
static int add_efd = -1;
static struct tun *again_head;
/* Closed tunnels, freed once the current batch of events is done: the
 * batch may still hold an event for the other end of one of them. */
static struct tun *dead_head;
static int listen_end_tag, add_end_tag;
/* NETLINK_SOCK_DIAG, to ask the kernel who owns each connecting socket. */
static int diag_fd = -1;

void
relay_release(struct relay *r)
{
	atomic_fetch_sub(&r->dials, 1);
	if (atomic_fetch_sub(&r->active, 1) == 1)
		atomic_store(&r->last_ms, relayseg_now_ms());
}

int
relay_add(struct relay *r, int cfd, int ufd, SSL *ssl, const void *pre,
          size_t prelen)
{
	struct tun *t = calloc(1, sizeof(*t));
	uint64_t one = 1;
	ssize_t n;

	if (t == NULL || prelen > RELAY_BUF ||
	    fcntl(cfd, F_SETFL, fcntl(cfd, F_GETFL) | O_NONBLOCK) != 0 ||
	    fcntl(ufd, F_SETFL, fcntl(ufd, F_GETFL) | O_NONBLOCK) != 0) {
		free(t);
		return -ENOMEM;
	}
	t->c.t = t->u.t = t;
	t->c.fd = cfd;
	t->u.fd = ufd;
	t->ssl = ssl;
	memcpy(t->u2c.d, pre, prelen);
	t->u2c.len = prelen;
	/* A tunnel counts as active from here on (the dial's count is
	 * released by its caller). */
	atomic_fetch_add(&r->active, 1);
	pthread_mutex_lock(&add_mu);
	t->next = add_head;
	add_head = t;
	pthread_mutex_unlock(&add_mu);
	n = write(add_efd, &one, sizeof(one));
	(void)n;
	return 0;
}

static int
relay_set_mask(struct end *e, uint32_t want)
{
	struct epoll_event ev;
	int op;

	if (want == e->mask)
		return 0;
	op = e->mask == 0 ? EPOLL_CTL_ADD
	     : want == 0  ? EPOLL_CTL_DEL
	                  : EPOLL_CTL_MOD;
	ev.events = want;
	ev.data.ptr = e;
	if (epoll_ctl(relay_proc.epfd, op, e->fd, &ev) != 0)
		return -errno;
	e->mask = want;
	return 0;
}

/* The program-side socket of every tunnel lingers {1, 0} from accept on
 * (relay_accept), so a relay that dies abruptly (SIGKILL, a crash, an
 * uncaught SIGTERM) resets its tunnels rather than ending them with a
 * clean EOF.  A graceful close turns that off first, so the FIN (and any
 * bytes still queued to the program) go out as usual. */
static void
relay_linger_reset(int fd, bool on)
{
	struct linger lg = {on ? 1 : 0, 0};

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

static void
relay_close(struct tun *t, bool reset)
{
	relay_set_mask(&t->c, 0);
	relay_set_mask(&t->u, 0);
	/* reset: it already lingers {1, 0}; say so anyway. */
	relay_linger_reset(t->c.fd, reset);
	if (t->ssl != NULL)
		SSL_free(t->ssl);
	close(t->c.fd);
	close(t->u.fd);
	t->c.fd = t->u.fd = -1;
	if (atomic_fetch_sub(&relay_proc.active, 1) == 1)
		atomic_store(&relay_proc.last_ms, relayseg_now_ms());
	if (!t->again) {
		t->next = dead_head;
		dead_head = t;
	}
	/* else freed when the again list reaches it (fd -1). */
}

static void
relay_free_dead(void)
{
	struct tun *t;

	while ((t = dead_head) != NULL) {
		dead_head = t->next;
		free(t);
	}
}

/* The TLS side's result: > 0 bytes, 0 EOF, -EAGAIN (*block set), -EIO. */
static int
relay_tls_result(struct tun *t, int ret, uint32_t *block)
{
	switch (SSL_get_error(t->ssl, ret)) {
	case SSL_ERROR_NONE:
		return ret;
	case SSL_ERROR_WANT_READ:
		*block = EPOLLIN;
		return -EAGAIN;
	case SSL_ERROR_WANT_WRITE:
		*block = EPOLLOUT;
		return -EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	default:
		ERR_clear_error();
		return -EIO;
	}
}

static int
relay_sock_result(ssize_t n, bool is_read, uint32_t *block, uint32_t ev)
{
	if (n > 0 || (n == 0 && is_read))
		return (int)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
		*block = ev;
		return -EAGAIN;
	}
	return -EIO;
}

static int
relay_up_read(struct tun *t, char *p, size_t n)
{
	if (t->ssl != NULL)
		return relay_tls_result(t, SSL_read(t->ssl, p, (int)n),
		                        &t->rd_block);
	return relay_sock_result(recv(t->u.fd, p, n, MSG_DONTWAIT), true,
	                         &t->rd_block, EPOLLIN);
}

static int
relay_up_write(struct tun *t, struct rbuf *b)
{
	size_t n = b->wlen ? b->wlen : b->len;
	int r;

	if (t->ssl == NULL)
		return relay_sock_result(send(t->u.fd, b->d + b->off, n,
		                              MSG_DONTWAIT | MSG_NOSIGNAL),
		                         false, &t->wr_block, EPOLLOUT);
	r = relay_tls_result(t, SSL_write(t->ssl, b->d + b->off, (int)n),
	                     &t->wr_block);
	b->wlen = r == -EAGAIN ? n : 0;
	return r == 0 ? -EIO : r;
}

/* close_notify (TLS), then FIN.  0 done, -EAGAIN, -EIO. */
static int
relay_up_shutdown(struct tun *t)
{
	int r;

	if (t->ssl != NULL) {
		r = SSL_shutdown(t->ssl);
		if (r < 0) {
			r = relay_tls_result(t, r, &t->wr_block);
			if (r == -EAGAIN)
				return r;
		}
	}
	shutdown(t->u.fd, SHUT_WR);
	return 0;
}

static void
rbuf_take(struct rbuf *b, size_t n)
{
	b->off += n;
	b->len -= n;
	if (b->len == 0)
		b->off = 0;
}

static size_t
rbuf_space(const struct rbuf *b)
{
	return RELAY_BUF - b->off - b->len;
}

/* One round in both directions: 1 = progress, 0 = none, -1 = failed. */
static int
relay_round(struct tun *t)
{
	int prog = 0, r;
	ssize_t n;

	if (!t->c_eof && rbuf_space(&t->c2u) > 0) {
		n = recv(t->c.fd, t->c2u.d + t->c2u.off + t->c2u.len,
		         rbuf_space(&t->c2u), MSG_DONTWAIT);
		if (n > 0)
			t->c2u.len += (size_t)n;
		else if (n == 0)
			t->c_eof = true;
		else if (errno != EAGAIN && errno != EINTR)
			return -1;
		prog |= n >= 0;
	}
	t->wr_block = 0;
	if (t->c2u.len > 0) {
		r = relay_up_write(t, &t->c2u);
		if (r > 0)
			rbuf_take(&t->c2u, (size_t)r);
		else if (r != -EAGAIN)
			return -1;
		prog |= r > 0;
	} else if (t->c_eof && !t->u_shut) {
		r = relay_up_shutdown(t);
		if (r == -EIO)
			return -1;
		t->u_shut = r == 0;
		prog |= r == 0;
	}
	t->rd_block = 0;
	/* Fill the buffer before sending: a TLS record is at most 16 KiB,
	 * and one send() per record was a quarter of the bulk path's
	 * syscalls.  Stops at the first would-block, so nothing is left
	 * readable without an event to come back for it: either OpenSSL
	 * and the socket are drained (EPOLLIN), or the buffer is full and
	 * waits for the program's side (EPOLLOUT there). */
	while (!t->u_eof && rbuf_space(&t->u2c) > 0) {
		r = relay_up_read(t, t->u2c.d + t->u2c.off + t->u2c.len,
		                  rbuf_space(&t->u2c));
		if (r > 0) {
			t->u2c.len += (size_t)r;
			prog = 1;
			continue;
		}
		if (r == 0) {
			t->u_eof = true;
			prog = 1;
		} else if (r != -EAGAIN) {
			return -1;
		}
		break;
	}
	if (t->u2c.len > 0) {
		n = send(t->c.fd, t->u2c.d + t->u2c.off, t->u2c.len,
		         MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0)
			rbuf_take(&t->u2c, (size_t)n);
		else if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		prog |= n > 0;
	} else if (t->u_eof && !t->c_shut) {
		shutdown(t->c.fd, SHUT_WR);
		t->c_shut = true;
		prog = 1;
	}
	return prog;
}

static void
relay_pump(struct tun *t)
{
	uint32_t cm, um;
	int i, r = 1;

	for (i = 0; i < RELAY_TURNS && r == 1; i++)
		r = relay_round(t);
	if (r < 0) {
		relay_close(t, true);
		return;
	}
	if (t->c_shut && t->u_shut) {
		relay_close(t, false);
		return;
	}
	if (r == 1 && !t->again) {
		t->again = true;
		t->next = again_head;
		again_head = t;
	}
	cm = (!t->c_eof && rbuf_space(&t->c2u) > 0 ? EPOLLIN : 0) |
	     (t->u2c.len > 0 ? EPOLLOUT : 0);
	if (t->ssl != NULL)
		um = t->rd_block | t->wr_block;
	else
		um = (!t->u_eof && rbuf_space(&t->u2c) > 0 ? EPOLLIN : 0) |
		     (t->c2u.len > 0 ? EPOLLOUT : 0);
	if (relay_set_mask(&t->c, cm) < 0 || relay_set_mask(&t->u, um) < 0)
		relay_close(t, true);
}

static void
relay_take_added(void)
{
	struct tun *t, *next;
	uint64_t v;
	ssize_t n = read(add_efd, &v, sizeof(v));

	(void)n;
	pthread_mutex_lock(&add_mu);
	t = add_head;
	add_head = NULL;
	pthread_mutex_unlock(&add_mu);
	for (; t != NULL; t = next) {
		next = t->next;
		t->next = NULL;
		relay_pump(t);
	}
}

static void
relay_run_again(void)
{
	struct tun *t = again_head, *next;

	again_head = NULL;
	for (; t != NULL; t = next) {
		next = t->next;
		t->again = false;
		if (t->c.fd < 0)
			free(t);
		else
			relay_pump(t);
	}
}

/* Only our own uid is served (docs/behaviour.md#https-upstreams-the-tls-relay):
 * the kernel says who owns the connecting socket, before a thread or a
 * byte of buffer is spent on it.  Refusals are logged at most once a
 * second, with how many there were. */
static bool
relay_peer_ok(int fd)
{
	static int64_t last_ms;
	static unsigned refused;
	uid_t who = (uid_t)-1;
	int64_t now;
	int r = sockdiag_peer_owned(diag_fd, fd, geteuid(), &who);

	if (r == 0)
		return true;
	refused++;
	now = relayseg_now_ms();
	if (last_ms == 0 || now - last_ms >= 1000) {
		if (r == -EPERM)
			log_warn("refused %u connection(s), the last from uid "
			         "%u: this relay serves only uid %u",
			         refused, (unsigned)who, (unsigned)geteuid());
		else
			log_warn("refused %u connection(s): cannot tell who "
			         "owns the last one (%s)",
			         refused, strerror(-r));
		last_ms = now;
		refused = 0;
	}
	return false;
}

static void
relay_accept(int lfd)
{
	pthread_attr_t at;
	struct relay_dial *rd;
	pthread_t th;
	int fd, i;

	for (i = 0; i < 64; i++) {
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			return;
		relay_linger_reset(fd, true);
		if (!relay_peer_ok(fd)) {
			close(fd);
			continue;
		}
		rd = malloc(sizeof(*rd));
		if (rd == NULL ||
		    atomic_load(&relay_proc.dials) >= RELAY_MAX_DIALS) {
			log_warn("too many handshakes in progress: dropping "
			         "one");
			free(rd);
			close(fd);
			continue;
		}
		rd->r = &relay_proc;
		rd->cfd = fd;
		atomic_fetch_add(&relay_proc.active, 1);
		atomic_fetch_add(&relay_proc.dials, 1);
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&at, 256 * 1024);
		if (pthread_create(&th, &at, dial_run, rd) != 0) {
			close(fd);
			free(rd);
			relay_release(&relay_proc);
		}
		pthread_attr_destroy(&at);
	}
}

static int
relay_listen(uint16_t *port)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(fd, 1024) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
		int e = errno; /* close() may change it */

		close(fd);
		return -e;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

/* Take the segment over unless a live relay owns it: the pid word is
 * the claim (one compare-and-swap decides between racing relays), then a
 * new secret goes in while the port reads 0, then our port. */
static int
relay_claim(uint16_t port)
{
	int32_t pid = atomic_load(&relay_proc.seg->pid), me = (int32_t)getpid();

	if (pid > 0 && pid != me && kill(pid, 0) == 0) {
		log_info("relay pid %d already serves this table", pid);
		return -EEXIST;
	}
	if (!atomic_compare_exchange_strong(&relay_proc.seg->pid, &pid, me))
		return -EEXIST;
	atomic_store(&relay_proc.seg->port, 0);
	if (relayseg_rotate(relay_proc.seg) < 0) {
		log_err("relay: cannot draw a new secret");
		atomic_compare_exchange_strong(&relay_proc.seg->pid, &me, 0);
		return -EIO;
	}
	atomic_store(&relay_proc.seg->port, port);
	return 0;
}

/* Leaving: the record is no longer ours to advertise. */
static void
relay_unclaim(uint16_t port)
{
	uint32_t mine = port;
	int32_t me = (int32_t)getpid();

	if (atomic_compare_exchange_strong(&relay_proc.seg->port, &mine, 0))
		atomic_compare_exchange_strong(&relay_proc.seg->pid, &me, 0);
}

static void
relay_loop(int lfd, int64_t idle_ms)
{
	struct epoll_event evs[RELAY_EVENTS], ev;
	int i, n;

	ev.events = EPOLLIN;
	ev.data.ptr = &listen_end_tag;
	epoll_ctl(relay_proc.epfd, EPOLL_CTL_ADD, lfd, &ev);
	ev.data.ptr = &add_end_tag;
	epoll_ctl(relay_proc.epfd, EPOLL_CTL_ADD, add_efd, &ev);
	for (;;) {
		n = epoll_wait(relay_proc.epfd, evs, RELAY_EVENTS,
		               again_head != NULL ? 0 : 1000);
		for (i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;

			if (p == &listen_end_tag)
				relay_accept(lfd);
			else if (p == &add_end_tag)
				relay_take_added();
			else if (((struct end *)p)->fd >= 0)
				relay_pump(((struct end *)p)->t);
		}
		relay_run_again();
		relay_free_dead();
		if (atomic_load(&relay_proc.active) == 0 &&
		    relayseg_now_ms() - atomic_load(&relay_proc.last_ms) >=
		            idle_ms)
			return;
	}
}

static int
relay_usage(void)
{
	fprintf(stderr, "usage: proxyshim relay --table NAME [--idle SECONDS] "
	                "[--detach]\n");
	return 2;
}

static int
relay_start(const char *table, int detach, int64_t idle_ms)
{
	struct rlimit rl;
	const void *base;
	const char *why = "";
	uint16_t port = 0;
	size_t len;
	int lfd, r;

	if (detach) {
		pid_t pid = fork();

		if (pid < 0)
			return 1;
		if (pid > 0)
			_exit(0);
		setsid();
	}
	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	r = shm_map(table, &base, &len);
	if (r < 0 || table_view_open(base, len, &relay_proc.v, &why) < 0) {
		log_err("relay: cannot use table %s: %s", table,
		        r < 0 ? strerror(-r) : why);
		return 1;
	}
	r = relayseg_open(relay_proc.v.hdr->source_hash, &relay_proc.seg);
	if (r < 0) {
		log_err("relay: cannot open the relay segment: %s",
		        strerror(-r));
		return 1;
	}
	if (tls_ctx_init(&relay_proc) < 0)
		return 1;
	diag_fd = sockdiag_open();
	if (diag_fd < 0) {
		log_err("relay: cannot ask the kernel who connects "
		        "(NETLINK_SOCK_DIAG): %s",
		        strerror(-diag_fd));
		return 1;
	}
	relay_proc.epfd = epoll_create1(EPOLL_CLOEXEC);
	add_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	lfd = relay_listen(&port);
	if (relay_proc.epfd < 0 || add_efd < 0 || lfd < 0) {
		log_err("relay: cannot listen: %s", strerror(errno));
		return 1;
	}
	if (relay_claim(port) < 0)
		return 0;
	log_info("relay pid %d listening on 127.0.0.1:%u for %s", getpid(),
	         port, table);
	atomic_store(&relay_proc.last_ms, relayseg_now_ms());
	relay_loop(lfd, idle_ms);
	relay_unclaim(port);
	close(lfd);
	log_info("relay pid %d: idle, exiting", getpid());
	return 0;
}

int
relay_main(int argc, char **argv)
{
	const char *table = NULL, *env = env_get(PS_ENV_RELAY_IDLE);
	int64_t idle_ms = 60000;
	int detach = 0, i;

	if (env != NULL && atoi(env) > 0)
		idle_ms = (int64_t)atoi(env) * 1000;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--detach") == 0)
			detach = 1;
		else if (strcmp(argv[i], "--table") == 0 && i + 1 < argc)
			table = argv[++i];
		else if (strcmp(argv[i], "--idle") == 0 && i + 1 < argc &&
		         atoi(argv[i + 1]) > 0)
			idle_ms = (int64_t)atoi(argv[++i]) * 1000;
		else
			return relay_usage();
	}
	if (table == NULL)
		return relay_usage();
	return relay_start(table, detach, idle_ms);
}
