// SPDX-License-Identifier: MIT
/*
 * A generated model written straight to a store (as_mkmodel_store, activeswap/mkmodel.h):
 * the store `convert` makes of the GGUF as_mkmodel writes, without that GGUF on disk.
 *
 * The GGUF is laid out in an anonymous mapping of its size (MAP_NORESERVE: pages cost
 * memory only once written): its header, metadata and directory through the GGUF
 * writer, the resident tensors (embeddings, norms, output head, biases, routers) generated
 * at the start, and each layer's matrices (or experts) generated when convert reaches the
 * layer and dropped (MADV_DONTNEED) when it leaves it. convert reads the mapping as it
 * reads a mapped file (as_convert_model), so the store is byte for byte the two-step one,
 * and memory is bounded by the residents plus about one layer, not the model.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "activeswap/convert.h"
#include "activeswap/gguf.h"
#include "activeswap/mkmodel.h"
#include "errmsg.h"
#include "mkmodel_impl.h"

struct mkstore {
	const struct as_mkmodel_params *o;
	const struct mk_tdesc *t;
	size_t n_t;
	uint8_t *map;
	const struct gguf_file *f;
	int32_t *layer;    /* per tensor: its layer when swapped, else -1 */
	struct mk_job jobs[AS_MKMODEL_MAX_THREADS];
	int nth;
};

/* Tensor i's rows generated into the mapping, cut into nth runs (one per thread). */
static int gen_tensor(struct mkstore *s, size_t i)
{
	const struct mk_tdesc *t = &s->t[i];
	uint8_t *dst = s->map + s->f->tensors[i].offset;
	uint64_t per = (t->rows + (uint64_t)s->nth - 1) / (uint64_t)s->nth, row = 0;
	int used = 0;

	for (; used < s->nth && row < t->rows; used++) {
		struct mk_job *j = &s->jobs[used];

		j->t = t;
		j->tensor_idx = i;
		j->seed = s->o->seed;
		j->draw_blocks = s->o->draw_blocks;
		j->row0 = row;
		j->nrows = t->rows - row < per ? t->rows - row : per;
		j->out = dst + row * t->row_bytes;
		row += j->nrows;
	}
	mk_run_jobs(s->jobs, used);
	for (int k = 0; k < used; k++)
		if (s->jobs[k].rc)
			return s->jobs[k].rc;
	return 0;
}

static int src_layer(void *arg, uint32_t l)
{
	struct mkstore *s = arg;
	int r = 0;

	for (size_t i = 0; i < s->n_t && !r; i++)
		if (s->layer[i] == (int32_t)l)
			r = gen_tensor(s, i);
	return r;
}

/* Give back the pages wholly inside layer l's swapped tensors. */
static void src_done(void *arg, uint32_t l)
{
	struct mkstore *s = arg;
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE), a = UINTPTR_MAX, b = 0;

	for (size_t i = 0; i < s->n_t; i++) {
		uintptr_t p = (uintptr_t)(s->map + s->f->tensors[i].offset);

		if (s->layer[i] != (int32_t)l)
			continue;
		if (p < a)
			a = p;
		if (p + s->f->tensors[i].size > b)
			b = p + s->f->tensors[i].size;
	}
	a = (a + pg - 1) & ~(pg - 1);
	b &= ~(pg - 1);
	if (a < b)
		madvise((void *)a, b - a, MADV_DONTNEED);
}

/* The swapped tensors' layers (blk.N. prefix), then every other tensor generated. */
static int gen_residents(struct mkstore *s)
{
	int r = 0;

	for (size_t i = 0; i < s->n_t && !r; i++) {
		const char *nm = s->t[i].name;
		char *end;
		unsigned long l;

		s->layer[i] = -1;
		if (as_convert_swapped_name(nm) && !strncmp(nm, "blk.", 4)) {
			l = strtoul(nm + 4, &end, 10);
			if (end == nm + 4 || *end != '.' || l >= AS_MKMODEL_MAX_LAYERS)
				return -EINVAL;
			s->layer[i] = (int32_t)l;
			continue;
		}
		r = gen_tensor(s, i);
	}
	return r;
}

/* The GGUF's header and residents in the mapping, parsed into *f and its model *m. */
static int lay_out(struct mkstore *s, struct gguf_writer *w, uint64_t size,
		   struct gguf_file **f, struct as_model **m, const char *out, char *err,
		   size_t errlen)
{
	char e[512] = "";
	uint64_t hdr;
	int r = gguf_w_begin_mem(w, s->map, size, &hdr);

	if (!r)
		r = gguf_parse(f, s->map, size, e, sizeof(e));
	if (r) {
		as_seterr(err, errlen, "%s: the generated GGUF's header: %s", out,
			  e[0] ? e : strerror(-r));
		return r;
	}
	s->f = *f;
	for (size_t i = 0; i <= s->n_t; i++) {
		if (i == s->n_t ? (*f)->n_tensors == s->n_t :
		    i < (*f)->n_tensors && gguf_str_eq((*f)->tensors[i].name, s->t[i].name))
			continue;
		as_seterr(err, errlen, "%s: the generated GGUF's directory differs from the "
			  "model's tensors at %zu", out, i);
		return -EINVAL;
	}
	r = gen_residents(s);
	if (r) {
		as_seterr(err, errlen, "%s: generating the resident tensors: %s", out,
			  strerror(-r));
		return r;
	}
	r = as_model_from_gguf(m, *f, e, sizeof(e));
	if (r)
		as_seterr(err, errlen, "%s: the generated model: %s", out, e);
	return r;
}

int as_mkmodel_store(const struct as_mkmodel_params *p, const struct as_convert_params *cp,
		     const char *out, struct as_convert_result *res, char *err,
		     size_t errlen)
{
	struct mkstore s = { .o = p };
	struct as_convert_source src = { src_layer, src_done, &s };
	struct as_convert_params cpt;
	struct gguf_writer *w = NULL;
	struct gguf_file *f = NULL;
	struct as_model *m = NULL;
	struct mk_vocab v;
	struct mk_tdesc *t = NULL;
	uint64_t total = 0, size = 0;
	size_t n_t = 0;
	int r;

	r = as_mkmodel_check(p, out, err, errlen);
	if (r)
		return r;
	s.nth = mk_threads(p);
	if (cp)
		cpt = *cp;
	else
		as_convert_params_init(&cpt);
	if (!cpt.threads)
		cpt.threads = s.nth;
	r = mk_describe(p, &w, &v, &t, &n_t, &total, err, errlen);
	if (!r && (r = gguf_w_size(w, &size)))
		as_seterr(err, errlen, "%s: the model's size: %s", out, strerror(-r));
	if (r)
		goto out;
	s.t = t;
	s.n_t = n_t;
	s.layer = calloc(n_t ? n_t : 1, sizeof(*s.layer));
	r = mk_jobs_alloc(p, s.jobs, s.nth, 0);
	if (r || !s.layer) {
		r = -ENOMEM;
		as_seterr(err, errlen, "out of memory");
		goto out;
	}
	s.map = mmap(NULL, size, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (s.map == MAP_FAILED) {
		s.map = NULL;
		r = -errno;
		as_seterr(err, errlen, "%s: mapping %llu bytes: %s", out,
			  (unsigned long long)size, strerror(errno));
		goto out;
	}
	r = lay_out(&s, w, size, &f, &m, out, err, errlen);
	if (!r)
		r = as_convert_model(f, m, "the generated model", out, &cpt, &src, res, err,
				     errlen);
out:
	as_model_free(m);
	gguf_close(f);
	if (s.map)
		munmap(s.map, size);
	mk_jobs_free(s.jobs, s.nth, false);
	free(s.layer);
	free(t);
	mk_vocab_free(&v);
	gguf_writer_free(w);
	return r;
}
