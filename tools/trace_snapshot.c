// SPDX-License-Identifier: MIT
/*
 * `activeswap trace`: reading the BPF maps into snapshots. See trace_snapshot.h.
 */
#ifdef AS_HAVE_BPF

#include "trace_snapshot.h"

#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "activeswap.skel.h"

static int cmp_layer(const void *a, const void *b)
{
	const struct layer_row *x = a, *y = b;

	return (x->layer > y->layer) - (x->layer < y->layer);
}

/* The events the kernel did not hand to the programs: it skips a program that is already
 * running on the CPU (an interrupt on top of it, say) and counts the miss in the program's
 * info. */
static __u64 lost_events(struct activeswap_bpf *skel)
{
	struct bpf_program *p;
	__u64 n = 0;

	bpf_object__for_each_program(p, skel->obj) {
		struct bpf_prog_info info;
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(p);

		memset(&info, 0, sizeof(info));
		if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len))
			n += info.recursion_misses;
	}
	return n;
}

void trace_read_snapshot(struct activeswap_bpf *skel, struct snapshot *s)
{
	int fd = bpf_map__fd(skel->maps.layer_stats);
	__s32 key, next;
	__s32 *prev = NULL;
	__u32 zero = 0, dkey, dnext, *dprev = NULL;

	s->nlayers = 0;
	while (s->nlayers < AS_MAX_LAYERS && !bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &s->layers[s->nlayers].s))
			continue;
		s->layers[s->nlayers++].layer = key;
	}
	qsort(s->layers, s->nlayers, sizeof(s->layers[0]), cmp_layer);

	memset(&s->tot, 0, sizeof(s->tot));
	bpf_map_lookup_elem(bpf_map__fd(skel->maps.totals), &zero, &s->tot);
	memset(&s->kmod, 0, sizeof(s->kmod));
	bpf_map_lookup_elem(bpf_map__fd(skel->maps.kmod_stats), &zero, &s->kmod);

	fd = bpf_map__fd(skel->maps.blk_stats);
	s->nblk = 0;
	while (s->nblk < AS_MAX_DEVS && !bpf_map_get_next_key(fd, dprev, &dnext)) {
		dkey = dnext;
		dprev = &dkey;
		if (bpf_map_lookup_elem(fd, &dkey, &s->blk[s->nblk].s))
			continue;
		s->blk[s->nblk++].dev = dkey;
	}
	s->lost = lost_events(skel);
}

static int cmp_token(const void *a, const void *b)
{
	const struct token_row *x = a, *y = b;

	return (x->s.end_ns > y->s.end_ns) - (x->s.end_ns < y->s.end_ns);
}

int trace_read_tokens(struct activeswap_bpf *skel, __u64 since_ns, __u64 until_ns,
		      struct token_row **out)
{
	int fd = bpf_map__fd(skel->maps.token_stats);
	struct token_row *rows;
	__u64 key, next, *prev = NULL;
	int n = 0;

	rows = calloc(AS_MAX_TOKENS, sizeof(*rows));
	if (!rows)
		return -1;
	while (n < AS_MAX_TOKENS && !bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &rows[n].s))
			continue;
		if (!rows[n].s.end_ns || rows[n].s.end_ns <= since_ns ||
		    rows[n].s.end_ns > until_ns)
			continue;
		rows[n++].token = key;
	}
	qsort(rows, n, sizeof(*rows), cmp_token);
	*out = rows;
	return n;
}

void trace_sub_u64s(__u64 *d, const __u64 *cur, const __u64 *prev, size_t n)
{
	for (size_t i = 0; i < n; i++)
		d[i] = cur[i] - (prev ? prev[i] : 0);
}

const struct as_layer_stats *trace_find_layer(const struct snapshot *s, __s32 layer)
{
	for (int i = 0; i < s->nlayers; i++)
		if (s->layers[i].layer == layer)
			return &s->layers[i].s;
	return NULL;
}

void trace_blk_delta(const struct snapshot *s, const struct snapshot *prev, int i,
		     struct as_blk_stats *d)
{
	const struct as_blk_stats *p = NULL;

	for (int j = 0; prev && j < prev->nblk; j++)
		if (prev->blk[j].dev == s->blk[i].dev)
			p = &prev->blk[j].s;
	trace_sub_u64s((__u64 *)d, (const __u64 *)&s->blk[i].s, (const __u64 *)p,
		       sizeof(*d) / sizeof(__u64));
}

#endif /* AS_HAVE_BPF */
