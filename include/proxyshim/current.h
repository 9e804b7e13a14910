/*
 * proxyshim: which table is in force for one config file, for live reload
 * (docs/behaviour.md#live-reload).
 *
 * The "current" segment "/proxyshim-<uid>-v<ver>-<16 hex>-current" (0600,
 * owner-checked like the table) is named after the config file's absolute
 * path, not after its contents, so every process started with that file
 * finds the same one whatever generation of it they were started with.
 * It holds the identity of the table in force (its name is
 * shm_table_name(identity)) and a generation number that every change
 * bumps.  Every field is an atomic word: a writer dying at any point
 * leaves nothing locked or torn.  A writer stores the identity, then
 * bumps the generation; a reader loads the generation, then the identity,
 * so it never sees a new generation with an identity older than it.
 */
#ifndef PROXYSHIM_CURRENT_H
#define PROXYSHIM_CURRENT_H

#include <stdatomic.h>
#include <stdint.h>

#define PS_CURRENT_SUFFIX "-current"
/* Automatic pickup: how often the config file is looked at, at most,
 * across all processes sharing one current segment. */
#define PS_CURRENT_CHECK_MS 1000

struct ps_current_seg {
	_Atomic uint64_t gen;       /* 0 = nothing published yet */
	_Atomic uint64_t table;     /* identity of the table in force */
	_Atomic int64_t checked_ms; /* last automatic look at the file */
	_Atomic uint64_t bad;       /* file identity found invalid */
	_Atomic uint64_t reserved[4];
};

/* The key of a config file: a hash of its absolute path (realpath). */
int current_key_of(const char *path, uint64_t *key);
/* "/proxyshim-<uid>-v<ver>-<16 hex>-current" */
void current_name(uint64_t key, char *buf, size_t size);
/* Map the segment read-write; with create, made (zeroed) when missing.
 * 0 or -errno as shm_map_rw(). */
int current_open(uint64_t key, int create, struct ps_current_seg **out);
void current_close(struct ps_current_seg *s);
/* Put table in force; the new generation number. */
uint64_t current_publish(struct ps_current_seg *s, uint64_t table);
/* Put table in force only when nothing is yet (a first process);
 * returns the generation in force afterwards. */
uint64_t current_init(struct ps_current_seg *s, uint64_t table);
/* The generation in force and its table's identity (0, 0 when none). */
void current_read(const struct ps_current_seg *s, uint64_t *gen,
                  uint64_t *table);
/* 1 when the caller won the right to look at the file now (nobody did
 * during the last PS_CURRENT_CHECK_MS). */
int current_claim_check(struct ps_current_seg *s, int64_t now_ms);

#endif
