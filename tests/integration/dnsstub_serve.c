/*
 * The DNS stub as the supervisor runs it, for test_dnsstub.sh: the
 * published table TABLE (a shared-memory name, as `proxyshim compile`
 * prints it), the run's shared name map beside it, UDP and TCP on
 * 127.0.0.1 (ephemeral ports, "UDP TCP" written to PORTFILE once both
 * listen), two serving threads, dnsstub_answer_names.
 *
 *   dnsstub_serve TABLE PORTFILE CTL [ADDR]
 *
 * With ADDR (an IPv4 loopback address) the stub listens on ADDR port 53
 * instead, where a resolv.conf can name it (it takes no port).
 * CTL is a FIFO: each line written to it is an address, and the program
 * prints "map ADDR NAME" (the name the map holds for it, fake or
 * recorded) or "map ADDR -".  End of CTL stops the stub; exit 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxyshim/dnsstub.h"
#include "proxyshim/names.h"
#include "proxyshim/shm.h"
#include "proxyshim/table.h"

static struct ps_table_view view;

static const struct ps_table_view *
policy(void *ctx)
{
	(void)ctx;
	return &view;
}

static void *
serve(void *arg)
{
	int r = dnsstub_serve(arg);

	if (r != 0)
		fprintf(stderr, "dnsstub_serve: %s\n", strerror(-r));
	return NULL;
}

/* UDP and TCP on addr:53. */
static int
listen_53(struct dnsstub *s, const char *addr)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(53)};
	int type[2] = {SOCK_DGRAM, SOCK_STREAM}, fd[2], i;

	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1)
		return -EINVAL;
	for (i = 0; i < 2; i++) {
		fd[i] = socket(AF_INET, type[i] | SOCK_CLOEXEC, 0);
		if (fd[i] < 0 ||
		    bind(fd[i], (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
		    (i == 1 && listen(fd[i], 64) < 0))
			return -errno;
	}
	s->udp_fd = fd[0];
	s->tcp_fd = fd[1];
	return 53;
}

/* "map ADDR NAME" for one address line. */
static void
map_line(struct names_map *m, char *line)
{
	char name[PS_MAX_HOST + 1];
	uint8_t addr[16];
	uint32_t slot;
	int fam, n = -1;

	line[strcspn(line, "\r\n")] = '\0';
	fam = strchr(line, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(fam, line, addr) != 1) {
		printf("map %s ?\n", line);
	} else {
		if (names_fake_slot(m, fam, addr, &slot))
			n = names_fake_name(m, slot, name, sizeof(name));
		else
			n = names_real_name(m, fam, addr, name, sizeof(name));
		printf("map %s %s\n", line, n > 0 ? name : "-");
	}
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	char seg[PS_SHM_NAME_MAX + 8], line[256];
	struct names_params p;
	struct names_map m;
	struct dnsstub_names dn = {.map = &m, .policy = policy};
	struct dnsstub s = {.answer = dnsstub_answer_names, .arg = &dn};
	const void *base;
	const char *why = "";
	pthread_t th[2];
	int stop[2], i, port;
	size_t len;
	FILE *f;

	if (argc != 4 && argc != 5) {
		fprintf(stderr,
		        "usage: dnsstub_serve TABLE PORTFILE CTL [ADDR]\n");
		return 2;
	}
	if (shm_map(argv[1], &base, &len) < 0 ||
	    table_view_open(base, len, &view, &why) < 0) {
		fprintf(stderr, "table %s: unusable %s\n", argv[1], why);
		return 1;
	}
	names_params_from_table(&view, &p);
	names_shm_name(view.hdr->source_hash, seg, sizeof(seg));
	if (names_open(&m, seg, &p) < 0) {
		fprintf(stderr, "name map %s: cannot open\n", seg);
		return 1;
	}
	port = argc == 5 ? listen_53(&s, argv[4]) : dnsstub_listen(&s);
	if (port < 0 || pipe(stop) < 0) {
		fprintf(stderr, "listen: %s\n",
		        strerror(port < 0 ? -port : errno));
		return 1;
	}
	s.stop_fd = stop[0];
	for (i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, serve, &s);
	f = fopen(argv[2], "w");
	if (f == NULL)
		return 1;
	fprintf(f, "%d\n", port);
	fclose(f);
	f = fopen(argv[3], "r");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		map_line(&m, line);
	if (write(stop[1], "x", 1) != 1)
		return 1;
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	printf("stopped\n");
	return 0;
}
